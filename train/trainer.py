"""TRL's SFTTrainer, usable where Triton is not (CPU builds of torch)."""

from __future__ import annotations

import hashlib
import importlib.util
import time

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        keep_trainable_weights_in_run_dtype(self.model, self.args)
        self.rank_tokens = 0
        self.rank_digest = hashlib.sha256()
        self.rank_started: float | None = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        # per-rank figures for the manifest: this rank's real tokens and a fingerprint of its data
        labels = inputs.get("labels")
        self.rank_tokens += int((labels != -100).sum()) if labels is not None else int(inputs["input_ids"].numel())
        self.rank_digest.update(inputs["input_ids"].cpu().numpy().tobytes())
        self.rank_started = self.rank_started or time.perf_counter()
        return super().training_step(model, inputs, num_items_in_batch)

    def rank_figures(self) -> dict:
        seconds = time.perf_counter() - self.rank_started if self.rank_started else 0.0
        return {"trained_tokens": self.rank_tokens, "tokens_per_second": round(self.rank_tokens / seconds, 1)
                if seconds else None, "data_sha256": self.rank_digest.hexdigest()}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if HAS_TRITON and self.args.device.type in ("cuda", "xpu"):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = causal_lm_loss(model, inputs, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch counts every rank's tokens and DDP averages gradients over ranks:
            # scaling by the world size (as Trainer.compute_loss does) keeps the global-batch loss
            loss = loss * self.accelerator.num_processes
        return (loss, {"loss": loss}) if return_outputs else loss


def keep_trainable_weights_in_run_dtype(model, args) -> None:
    """TRL casts every trainable weight of a 4-bit model to bf16, as QLoRA trains under bf16
    autocast. A run without mixed precision (a CPU without bf16 support) computes in float32,
    and a trainable copy of a whole module (lora.modules_to_save: lm_head) would then meet
    float32 activations with bf16 weights; those runs keep their trainable weights in float32."""
    import torch

    if args.bf16 or args.fp16:
        return
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
