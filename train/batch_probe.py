"""`batch_size: auto`: the largest packed micro-batch whose forward and backward fit the GPU."""

from __future__ import annotations

HEADROOM = 0.90  # leave a tenth of the card for the optimizer step and fragmentation
CPU_DEFAULT = 4


def largest_micro_batch(model, seq_len: int, device: str, max_tokens: int) -> int:
    """Double the number of max-length packed rows until a training step would not fit, or the
    micro-batch would pass `max_tokens` (train.micro_batch_tokens).

    Packed batches are flattened into one row (padding-free), so memory grows with
    rows × seq_len tokens; probing with that exact shape measures what training will use.
    """
    import torch

    if device != "cuda":
        return CPU_DEFAULT
    # a per-process cap (torch.cuda.set_per_process_memory_fraction) is the card this process has
    fraction = getattr(torch.cuda, "get_per_process_memory_fraction", lambda: 1.0)()
    total = torch.cuda.get_device_properties(0).total_memory * fraction
    limit = max(1, max_tokens // seq_len)
    best, rows = 1, 1
    model.train()
    while rows <= limit:
        tokens = rows * seq_len
        try:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            ids = torch.randint(1000, 100000, (1, tokens), device="cuda")
            positions = torch.arange(seq_len, device="cuda").repeat(rows)[None]
            loss = model(input_ids=ids, position_ids=positions, labels=ids).loss
            loss.backward()
            peak = torch.cuda.max_memory_allocated()
        except torch.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
            loss = None
            torch.cuda.empty_cache()
        if peak > HEADROOM * total:
            break
        best, rows = rows, rows * 2
    torch.cuda.reset_peak_memory_stats()
    return best
