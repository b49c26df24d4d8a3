"""What the GPU fits: `micro_batch_size: auto` (the largest packed micro-batch whose forward and
backward fit) and `gradient_checkpointing: auto` (recompute activations only when they must be)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HEADROOM = 0.90  # a tenth of the usable memory stays for the optimizer step and fragmentation
CPU_DEFAULT = 4
# Without checkpoints the backward skips a second forward; a micro-batch this large trains faster
# without them than the largest one with them (BENCHMARKS.md, "Training throughput, 8B").
MIN_TOKENS_WITHOUT_CHECKPOINTS = 4096


@dataclass(frozen=True)
class MemoryPlan:
    micro_batch: int
    checkpointing: str  # as train.gradient_checkpointing names it: "unsloth" (offloaded), "on" or "off"
    reason: str


def plan_memory(model, seq_len: int, micro_batch: int | str, max_tokens: int, checkpointing: str,
                use_checkpointing: Callable[[str], None]) -> MemoryPlan:
    """Micro-batch and checkpointing for an Unsloth model on CUDA, loaded in the configured mode
    (offloaded for `auto`); `use_checkpointing` switches the model's mode. `auto` checkpointing first
    tries without: kept off when at least MIN_TOKENS_WITHOUT_CHECKPOINTS packed tokens fit that way."""

    def micro_batch_as_configured() -> int:
        return micro_batch if micro_batch != "auto" else largest_micro_batch(model, seq_len, "cuda", max_tokens)

    if checkpointing != "auto":  # loaded in this mode
        return MemoryPlan(micro_batch_as_configured(), checkpointing, f"gradient_checkpointing: {checkpointing}")
    use_checkpointing("off")
    least = -(-MIN_TOKENS_WITHOUT_CHECKPOINTS // seq_len)
    if micro_batch == "auto":
        rows = largest_fitting(model, seq_len, max_tokens)
        if rows >= least:
            return MemoryPlan(rows, "off", f"{rows} × {seq_len:,} tokens fit without checkpoints")
    elif micro_batch * seq_len >= MIN_TOKENS_WITHOUT_CHECKPOINTS and step_fits(model, micro_batch, seq_len):
        return MemoryPlan(micro_batch, "off", f"{micro_batch} × {seq_len:,} tokens fit without checkpoints")
    use_checkpointing("unsloth")
    return MemoryPlan(micro_batch_as_configured(), "unsloth",
                      f"under {MIN_TOKENS_WITHOUT_CHECKPOINTS:,} tokens fit without checkpoints: offloaded to CPU memory")


def largest_micro_batch(model, seq_len: int, device: str, max_tokens: int) -> int:
    """`micro_batch_size: auto` with the model's checkpointing as it is (the transformers backend)."""
    return max(1, largest_fitting(model, seq_len, max_tokens)) if device == "cuda" else CPU_DEFAULT


def largest_fitting(model, seq_len: int, max_tokens: int) -> int:
    """Double the number of max-length packed rows until a training step would not fit, or the
    micro-batch would pass `max_tokens` (train.micro_batch_tokens); 0 when not even one row fits.

    Packed batches are flattened into one row (padding-free), so memory grows with
    rows × seq_len tokens; probing with that exact shape measures what training will use.
    """
    limit = max(1, max_tokens // seq_len)
    best, rows = 0, 1
    while rows <= limit and step_fits(model, rows, seq_len):
        best, rows = rows, rows * 2
    return best


def step_fits(model, rows: int, seq_len: int) -> bool:
    """One forward and backward of `rows` packed max-length rows stays under HEADROOM of the GPU
    memory this process can have."""
    import torch

    tokens = rows * seq_len
    model.train()
    loss = None
    try:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        ids = torch.randint(1000, 100000, (1, tokens), device="cuda")
        positions = torch.arange(seq_len, device="cuda").repeat(rows)[None]
        loss = model(input_ids=ids, position_ids=positions, labels=ids).loss
        loss.backward()
        peak = torch.cuda.max_memory_allocated()
    except torch.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        loss = None
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return peak <= HEADROOM * usable_gpu_memory()


def usable_gpu_memory() -> int:
    """What this process may fill: the memory it holds plus what the card has free (another process
    or a display may hold the rest), within a per-process cap
    (torch.cuda.set_per_process_memory_fraction) when one is set."""
    import torch

    free, total = torch.cuda.mem_get_info()
    fraction = getattr(torch.cuda, "get_per_process_memory_fraction", lambda: 1.0)()
    return min(int(total * fraction), torch.cuda.memory_reserved() + free)
