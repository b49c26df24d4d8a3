"""The longest sequence one QLoRA training step fits in when the process may use at most
`--limit-gib` of GPU memory (a consumer card): doubling, then bisection to `--resolution`.

    python -m bench.memory_ceiling --recipe trl|unsloth|stage --config FILE --out result.json
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from bench.train_bench import cap_gpu_memory, load_baseline_model
from common.config import load_config


def fits(model, length: int, chunked_loss: bool) -> bool:
    import torch

    ids = torch.randint(1000, 100000, (1, length), device="cuda")
    try:
        if chunked_loss:
            # the train stage's loss: the LM head runs in row chunks, so the full
            # length x 128,256 logits never exist (model(labels=...) would build them)
            from train.chunked_loss import causal_lm_loss

            loss = causal_lm_loss(model, {"input_ids": ids, "labels": ids})
        else:
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        ids = loss = None
        gc.collect()
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipe", choices=["trl", "unsloth", "stage"], required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--limit-gib", type=float, default=24.0)
    parser.add_argument("--start", type=int, default=4096)
    parser.add_argument("--resolution", type=int, default=4096)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="config key=value overrides, e.g. model.id=PATH")
    args = parser.parse_args()
    # the stage's model is Unsloth's QLoRA model; its loss is the stage's own (see fits)
    recipe = "unsloth" if args.recipe in ("unsloth", "stage") else "trl"
    cap_gpu_memory(args.limit_gib, with_unsloth=recipe == "unsloth")
    model, _ = load_baseline_model(recipe, load_config(args.config, args.overrides), 262144, cuda=True)
    # Training mode, as the trainer sets it: transformers checkpoints layers only when
    # model.training is true, and a model fresh from from_pretrained is in eval mode, which kept
    # every layer's activations and capped the first measurements at 4,096 tokens.
    if recipe == "unsloth":
        from unsloth import FastLanguageModel

        FastLanguageModel.for_training(model)
    model.train()
    started = time.perf_counter()
    probes = []

    def probe(length: int) -> bool:
        ok = fits(model, length, args.recipe == "stage")
        probes.append((length, ok))
        print(f"{length} tokens: {'fits' if ok else 'out of memory'} ({time.perf_counter() - started:.0f} s)", flush=True)
        return ok

    good, bad, length = 0, None, args.start
    while bad is None and length <= 262144:
        good, bad, length = (length, None, length * 2) if probe(length) else (good, length, length)
    while bad is not None and bad - good > args.resolution:
        middle = (good + bad) // 2 // 256 * 256
        good, bad = (middle, bad) if probe(middle) else (good, middle)
    result = {"recipe": args.recipe, "limit_gib": args.limit_gib, "longest_fitting_tokens": good,
              "first_failing_tokens": bad, "probes": probes, "seconds": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
