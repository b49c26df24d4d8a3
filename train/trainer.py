"""TRL's SFTTrainer, usable where Triton is not (CPU builds of torch)."""

from __future__ import annotations

import importlib.util

from trl import SFTTrainer

from train.chunked_loss import causal_lm_loss

HAS_TRITON = importlib.util.find_spec("triton") is not None


class PortableSFTTrainer(SFTTrainer):
    """TRL 1.15 computes the SFT loss with a Triton kernel (a fused, chunked LM head) and has no
    fallback, so it fails on a CPU-only torch. Without Triton, the same loss is computed by
    `causal_lm_loss`: token-level NLL over the labels TRL built (completion tokens only),
    normalised by the labelled tokens of the whole accumulated batch, with the LM head applied
    in chunks to labelled positions only. Data preparation, packing and the padding-free
    collator stay TRL's."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if HAS_TRITON and self.args.device.type in ("cuda", "xpu"):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = causal_lm_loss(model, inputs, num_items_in_batch)
        return (loss, {"loss": loss}) if return_outputs else loss
