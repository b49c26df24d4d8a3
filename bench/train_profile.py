"""Where one packed micro-batch's GPU time goes: the train stage's model as it loads it (Unsloth,
the profile's LoRA and 4-bit settings, offloaded checkpointing), one forward and backward of
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
    from unsloth import FastLanguageModel

    from train.model import lora_kwargs
    from train.packed_attention import use_varlen_for_packed_rows

    model, _ = FastLanguageModel.from_pretrained(config.model.id, use_exact_model_name=True,
                                                 max_seq_length=config.model.max_seq_length,
                                                 load_in_4bit=config.lora.load_in_4bit, dtype=torch.bfloat16)
    attention = use_varlen_for_packed_rows()
    model = FastLanguageModel.get_peft_model(model, use_gradient_checkpointing="unsloth", random_state=0,
                                             max_seq_length=config.model.max_seq_length, **lora_kwargs(config))
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
    tag = "per-row" if "per run" in attention else "varlen"
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"attention": attention, "rows": len(rows), "tokens": sum(rows), "step_s": round(seconds, 4),
               "tokens_per_s": round(sum(rows) / seconds, 1),
               "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    (args.out / f"profile-{tag}.txt").write_text(json.dumps(summary) + "\n\n" + table + "\n")
    print(json.dumps(summary))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
