"""What the train stage needs to know under torchrun / accelerate launch: its rank, the world
size, and how to gather per-rank figures for the manifest. PyTorch's own distributed stack does
the rest (the Trainer shards the data per rank and averages gradients with DDP)."""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def gather(value) -> list:
    """Every rank's `value`, in rank order (just [value] when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values
