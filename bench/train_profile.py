"""Where one packed micro-batch's GPU time goes: the train stage's model as the stage loads it
(train.model.load_with_unsloth: the profile's base, LoRA, 4-bit and checkpointing settings), one forward and backward of
`--tokens` packed tokens in rows shaped like medical-o1, timed, then one under PyTorch's profiler.

    python -m bench.train_profile --config FILE [--tokens 16384] [--out DIR] [key=value ...]

`UNSLOTH_TORCH_VARLEN=0` profiles the per-row attention that torch 2.11 gets without the
train stage's varlen path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.data import lengths as row_lengths
from common.config import load_config


def packed_batch(tokens: int, max_row: int, vocab: int):
    import torch

    drawn, total = [], 0
    for length in row_lengths(4 * tokens // 600 + 8, max_row):
        if total + length > tokens:
            break
        drawn.append(length)
        total += length
    ids = torch.randint(1000, vocab - 1000, (1, total), device="cuda")
    positions = torch.cat([torch.arange(n, device="cuda") for n in drawn])[None]
    labels = ids.clone()
    labels[positions == 0] = -100
    return drawn, dict(input_ids=ids, position_ids=positions, labels=labels,
                       packed_seq_lengths=torch.tensor(drawn, dtype=torch.int32))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--out", type=Path, default=Path("bench/results/local"))
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)

    import torch
    from unsloth.utils import attention_dispatch

    from train.base_model import resolve_training_base
    from train.model import load_with_unsloth

    model, _ = load_with_unsloth(config, resolve_training_base(config, "unsloth"))
    varlen = attention_dispatch._TORCH_VARLEN_ATTN is not None  # what load_with_unsloth's packing setup left
    model.train()
    rows, batch = packed_batch(args.tokens, config.model.max_seq_length, model.config.vocab_size)

    def step() -> None:
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / 3
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profiler:
        step()
        torch.cuda.synchronize()
    table = profiler.key_averages().table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=60)
    tag = "varlen" if varlen else "per-row"
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"attention": "one varlen call per layer" if varlen else "one SDPA call per run of equal-length rows",
               "gradient_checkpointing": config.train.gradient_checkpointing, "rows": len(rows), "tokens": sum(rows), "step_s": round(seconds, 4),
               "tokens_per_s": round(sum(rows) / seconds, 1),
               "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    (args.out / f"profile-{tag}.txt").write_text(json.dumps(summary) + "\n\n" + table + "\n")
    print(json.dumps(summary))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
