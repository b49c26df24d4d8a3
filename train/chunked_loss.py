"""Per-token log-probabilities through the LM head in row chunks, for labelled positions only.

With a 128,256-token vocabulary the full logits of a 2,048-token batch are a gigabyte, and on a
CPU the log-softmax over them costs more than the whole model. TRL and Liger fuse this with
Triton kernels, which need a GPU; this is the same computation in plain PyTorch: logits exist
one chunk at a time and are recomputed in the backward pass. Under autocast (bf16 on CPUs with
AMX) the three products run in the autocast dtype; softmax statistics stay in float32.
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 1024


class ChunkedTokenLogProb(torch.autograd.Function):
    """log softmax(hidden @ weight.T / temperature)[target] per row; `weight` may be frozen.

    Also returns, without gradient, each row's entropy and whether the target is the argmax
    (empty unless `statistics`: on a CPU the entropy costs as much as the chunk's logsumexp and
    product together, and the SFT loss does not use it)."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                statistics: bool = True):
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
        ctx.compute_dtype, ctx.input_dtype, ctx.temperature = dtype, hidden.dtype, temperature
        weight_c = weight.to(dtype)
        logp, lse, entropy, top1 = [], [], [], []
        for start in range(0, hidden.shape[0], CHUNK_ROWS):
            rows = hidden[start:start + CHUNK_ROWS].to(dtype)
            logits = (rows @ weight_c.T).float()
            if temperature != 1.0:
                logits.div_(temperature)
            chunk_lse = torch.logsumexp(logits, dim=-1)
            chunk_targets = targets[start:start + CHUNK_ROWS, None]
            logp.append(logits.gather(1, chunk_targets).squeeze(1) - chunk_lse)
            lse.append(chunk_lse)
            if statistics:
                top1.append(logits.argmax(-1) == chunk_targets.squeeze(1))
                logits.sub_(chunk_lse[:, None])  # now log-probabilities
                entropy.append(-(logits.exp() * logits).sum(-1))
        empty = hidden.new_zeros(0, dtype=torch.float32)
        lse_all = torch.cat(lse) if lse else empty
        ctx.save_for_backward(hidden, weight, targets, lse_all)
        entropy_all = torch.cat(entropy) if entropy else empty
        top1_all = torch.cat(top1) if top1 else hidden.new_zeros(0, dtype=torch.bool)
        ctx.mark_non_differentiable(entropy_all, top1_all)
        return (torch.cat(logp) if logp else empty), entropy_all, top1_all

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy=None, grad_top1=None):
        hidden, weight, targets, lse = ctx.saved_tensors
        dtype, temperature = ctx.compute_dtype, ctx.temperature
        weight_c = weight.to(dtype)
        grad_hidden = (torch.empty(hidden.shape, dtype=ctx.input_dtype, device=hidden.device)
                       if ctx.needs_input_grad[0] else None)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        for start in range(0, hidden.shape[0], CHUNK_ROWS):
            rows = hidden[start:start + CHUNK_ROWS].to(dtype)
            stop = start + rows.shape[0]
            logits = (rows @ weight_c.T).float()
            if temperature != 1.0:
                logits.div_(temperature)
            # d log p[target] / d logits = onehot - softmax
            grad = logits.sub_(lse[start:stop, None]).exp_().neg_()
            grad[torch.arange(rows.shape[0]), targets[start:stop]] += 1.0
            grad.mul_(grad_logp[start:stop, None].float())
            if temperature != 1.0:
                grad.div_(temperature)
            grad = grad.to(dtype)
            if grad_hidden is not None:
                grad_hidden[start:stop] = (grad @ weight_c).to(ctx.input_dtype)
            if grad_weight is not None:
                grad_weight += (grad.T @ rows).float()
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None, None, None


def causal_lm_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """The causal-LM loss of `model` (a PEFT-wrapped or plain *ForCausalLM) on `inputs`, with
    the same normalisation as transformers' ForCausalLMLoss: summed over labelled tokens,
    divided by `num_items_in_batch` (the whole accumulated batch) or by the local count."""
    inner = model.module if hasattr(model, "module") else model  # under DDP
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    labels = inputs["labels"]
    forward_inputs = {key: value for key, value in inputs.items() if key not in ("labels", "use_cache")}
    # The forward goes through the outer model so that DDP prepares its gradient all-reduce; the
    # decoder's output is taken by a hook and the LM head runs on one position only.
    captured = {}
    handle = base.model.register_forward_hook(lambda _m, _a, out: captured.update(hidden=out.last_hidden_state))
    try:
        model(**forward_inputs, use_cache=False, logits_to_keep=1)
    finally:
        handle.remove()
    hidden = captured["hidden"]
    targets = labels[:, 1:]
    mask = targets != -100
    logp, _, _ = ChunkedTokenLogProb.apply(hidden[:, :-1][mask], base.get_output_embeddings().weight, targets[mask],
                                           1.0, False)
    total = -logp.sum()
    count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count


class TrlChunkedLogProb:
    """Stand-in for TRL's Triton `ChunkedLogProbFunction` (same call) where Triton is missing, so
    TRL's GRPO trainer runs on a CPU torch. Entropy is returned without gradient (TRL uses it for
    logging and token masking; an entropy bonus is not supported here)."""

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, final_logit_softcapping=None,
              logit_scale=1.0, outputs=("entropy",)):
        if bias is not None or final_logit_softcapping or logit_scale != 1.0:
            raise ValueError("the CPU log-prob path supports LM heads without bias, softcapping or logit scale")
        logp, entropy, top1 = ChunkedTokenLogProb.apply(hidden, weight, targets, float(temperature),
                                                        "entropy" in outputs or "is_top1" in outputs)
        return (logp, entropy if "entropy" in outputs else None, None, None,
                top1 if "is_top1" in outputs else None)


def install_cpu_logprob_for_trl() -> bool:
    """Use TrlChunkedLogProb inside TRL when its Triton kernel could not be imported."""
    from trl.trainer import utils as trl_utils

    if getattr(trl_utils, "_ChunkedLogProbFunction", None) is None:
        trl_utils._ChunkedLogProbFunction = TrlChunkedLogProb
        return True
    return False
