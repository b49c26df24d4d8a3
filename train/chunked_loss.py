"""Cross-entropy through the LM head in row chunks, for the positions that carry a label.

With a 128,256-token vocabulary the full logits of a 2,048-token batch are a gigabyte, and on
a CPU the log-softmax over them costs more than the whole model. TRL and Liger fuse this with
Triton kernels, which need a GPU; this is the same computation in plain PyTorch: logits exist
one chunk at a time, are recomputed in the backward pass, and prompt positions are skipped.
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 1024


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum over rows of -log softmax(hidden @ weight.T)[target]; `weight` may be frozen."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # Under autocast (bf16 on CPUs with AMX) all three products run in the autocast dtype;
        # softmax statistics and the loss stay in float32.
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
        ctx.compute_dtype, ctx.input_dtype = dtype, hidden.dtype
        lse_chunks, total = [], torch.zeros((), dtype=torch.float32, device=hidden.device)
        weight_c = weight.to(dtype)
        for start in range(0, hidden.shape[0], CHUNK_ROWS):
            rows = hidden[start:start + CHUNK_ROWS].to(dtype)
            logits = (rows @ weight_c.T).float()
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, targets[start:start + CHUNK_ROWS, None]).squeeze(1)
            total += (lse - picked).sum()
            lse_chunks.append(lse)
        ctx.save_for_backward(hidden, weight, targets, torch.cat(lse_chunks) if lse_chunks else hidden.new_zeros(0))
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        hidden, weight, targets, lse = ctx.saved_tensors
        dtype = ctx.compute_dtype
        weight_c = weight.to(dtype)
        grad_hidden = torch.empty(hidden.shape, dtype=ctx.input_dtype, device=hidden.device) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        for start in range(0, hidden.shape[0], CHUNK_ROWS):
            rows = hidden[start:start + CHUNK_ROWS].to(dtype)
            stop = start + rows.shape[0]
            # d/dlogits of (lse - logit[target]) is softmax - onehot
            probs = (rows @ weight_c.T).float().sub_(lse[start:stop, None]).exp_()
            probs[torch.arange(rows.shape[0]), targets[start:stop]] -= 1.0
            probs.mul_(grad_total)
            probs = probs.to(dtype)
            if grad_hidden is not None:
                grad_hidden[start:stop] = (probs @ weight_c).to(ctx.input_dtype)
            if grad_weight is not None:
                grad_weight += (probs.T @ rows).float()
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None


def causal_lm_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """The causal-LM loss of `model` (a PEFT-wrapped or plain *ForCausalLM) on `inputs`, with
    the same normalisation as transformers' ForCausalLMLoss: summed over labelled tokens,
    divided by `num_items_in_batch` (the whole accumulated batch) or by the local count."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = inputs["labels"]
    forward_inputs = {key: value for key, value in inputs.items() if key not in ("labels", "use_cache")}
    hidden = base.model(**forward_inputs, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    mask = targets != -100
    picked = hidden[:, :-1][mask]
    lm_head = base.get_output_embeddings()
    total = ChunkedLinearCrossEntropy.apply(picked, lm_head.weight, targets[mask])
    count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count
