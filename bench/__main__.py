"""python -m bench --config FILE [--only train,convert,serve] [--shape tiny|8b] [key=value ...]

Runs each benchmark in its own process and prints its table. On a machine without a GPU this is
the tiny-model version (a few minutes). On a GPU host the same entry measures the 8B: build an
8B-shaped model first (`python3 tools/build_tiny_model.py --shape 8b --device cuda --text-head
--out /tmp/m8b`), then `--shape 8b --rows 2400 --steps 15 --warmup 3 model.id=/tmp/m8b`;
`--gpu-layers -1` serves with every layer on the GPU. BENCHMARKS.md holds each topic's current
run and its command; docs/gpu-host.md how to get the code onto an offline GPU host.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.train_bench import GPU_ONLY
from common.layout import PROJECT_ROOT


def run(*args: str, show: bool = False) -> None:
    """One benchmark in its own process; `show` lets it print its own table."""
    result = subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, text=True, stderr=subprocess.PIPE,
                            stdout=None if show else subprocess.PIPE)
    if result.returncode != 0:
        print(f"failed: {' '.join(args)}\n{result.stderr[-1500:]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "local")
    parser.add_argument("--only", default="train,convert,serve")
    parser.add_argument("--steps", type=int, default=2, help="measured training steps per recipe")
    parser.add_argument("--warmup", type=int, default=1, help="training steps before the measured ones")
    parser.add_argument("--rows", type=int, default=120, help="rows of the synthetic training data")
    parser.add_argument("--shape", choices=("tiny", "8b"), default="tiny", help="for the FLOP bound of the table")
    parser.add_argument("--gpu-layers", type=int, default=0, help="llama.cpp layers on the GPU when serving")
    parser.add_argument("overrides", nargs="*", help="key=value for every stage, e.g. model.id=/tmp/m8b")
    args = parser.parse_args(argv)
    out = args.out / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    runs = Path(tempfile.mkdtemp())
    common = [f"runs_dir={runs}", "name=bench", "convert.quant_types=[q4_k_m]", "convert.base_quant=null",
              "convert.parity.prompts=4", "convert.parity.max_tokens=64", "data.validation_fraction=0.05",
              *args.overrides]
    if "train" in only:
        import torch

        cuda = torch.cuda.is_available()
        # on a CPU, shorter rows keep the tiny version within minutes; the GPU host uses the real length
        shorter = [] if cuda else ["model.max_seq_length=256"]
        for recipe in ("trl", "unsloth", "stage", "stage-bf16"):
            if recipe in GPU_ONLY and not cuda:
                (out / f"train-{recipe}.json").write_text(json.dumps({"recipe": recipe, "skipped": GPU_ONLY[recipe]}))
                continue
            # the stage's adapter is kept for the convert and serve benchmarks
            keep = ["--runs", str(runs), "data.validation_fraction=0.05"] if recipe == "stage" else []
            run("bench.train_bench", "--recipe", recipe, "--config", args.config, "--rows", str(args.rows),
                "--steps", str(args.steps), "--warmup", str(args.warmup), "--shape", args.shape,
                "--out", str(out / f"train-{recipe}.json"), *keep, *shorter, *args.overrides)
        results = [json.loads((out / f"train-{r}.json").read_text()) for r in report.RECIPES
                   if (out / f"train-{r}.json").is_file()]
        print("\nTraining (rows shaped like medical-o1)\n" + report.train_table(results))
    if "convert" in only or "serve" in only:
        if not (runs / "bench" / "adapter" / "manifest.json").is_file():
            run("train", "--config", args.config, *common, "train.max_steps=2", "train.report_to=none")
        run("convert", "--config", args.config, *common)
        steps = runs / "bench" / "gguf" / "steps.json"
        if steps.is_file():
            (out / "convert.json").write_text(steps.read_text())
            print("\nConvert\n" + report.convert_table(json.loads(steps.read_text())))
    if "serve" in only:
        from serve.local import server_threads

        threads = str(server_threads())
        run("bench.serve_bench", "--config", args.config, "--threads", threads, "--long-tokens", "1024",
            "--gpu-layers", str(args.gpu_layers), "--out", str(out / "serve-cpu.json"), *common)
        if (out / "serve-cpu.json").is_file():
            print("\nServe\n" + report.serve_table([json.loads((out / "serve-cpu.json").read_text())]))
        print("\nSeveral clients at once (the serve stage's llama.cpp backend)")
        sys.stdout.flush()
        run("bench.serve_concurrency", "--config", args.config, "--out", str(out / "serve-concurrency.json"),
            *common, show=True)
        print("\nStreaming while the output does not decode as UTF-8")
        sys.stdout.flush()
        run("bench.detokenize_bench", "--out", str(out / "detokenize.json"), show=True)
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
