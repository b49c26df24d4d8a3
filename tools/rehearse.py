"""Rehearse the real run: the default config's hub ids, unchanged, through a local hub mirror.

    python -m tools.rehearse [--size tiny|8b] [--runs-dir DIR] [--steps N] [key=value ...]

The mirror (tools/hub_mirror) is filled with the repos the default config names, in their real
layouts, served on 127.0.0.1, and every stage runs as a user runs it, with HF_ENDPOINT pointing
at the mirror and an empty hub cache: train -> convert (its parity ladder must pass) -> serve
check -> eval against the untuned base. Only sizes and steps are overridden (and, on a CPU,
the device and the pre-quantized repo, which Unsloth names on a GPU). Each stage's wall time
and peak memory are printed and written to rehearsal.json; exit 0 when every stage passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.endpoint import free_port
from common.errors import UserError, exit_on_user_error
from common.layout import PROJECT_ROOT, assets_dir
from convert.steps import PeakMemory
from tools.hub_mirror import running_mirror
from tools.hub_mirror.fill import fill
from tools.hub_mirror.model_repos import UNSLOTH_REPO

CONFIG = PROJECT_ROOT / "configs" / "r1-distill-llama-8b-medical.yaml"
console = Console()


def overrides(size: str, runs_dir: Path, steps: int) -> list[str]:
    """Sizes and steps only; what a CPU cannot do the GPU way is named and said why."""
    common = [f"runs_dir={runs_dir}", "name=rehearsal", f"train.max_steps={steps}",
              f"train.eval_every={max(steps // 2, 1)}", f"train.save_every={max(steps // 2, 1)}",
              "train.logging_every=2", "data.validation_max_rows=24", "convert.parity.prompts=4",
              f"serve.port={free_port()}", "eval.concurrency=1", "eval.timeout_s=300"]
    if size == "tiny":
        # the mirror's data set holds the project's 344 rows, not the real 19,704
        return [*common, "data.expected_rows=344", "model.max_seq_length=512", "train.device=cpu",
                # no Unsloth on a CPU to name its mirror: named here, loaded through transformers
                f"model.prequantized={UNSLOTH_REPO}", "train.micro_batch_size=4", "train.gradient_accumulation_steps=1",
                # bitsandbytes' 8-bit optimizer state needs CUDA
                "train.optimizer=adamw_torch",
                "convert.parity.max_tokens=96", "serve.n_ctx=2048", "serve.n_gpu_layers=0",
                "sampling.max_tokens=96", "eval.limit=3"]
    return [*common, "data.expected_rows=344", "convert.parity.max_tokens=256", "sampling.max_tokens=256",
            "eval.limit=5"]


class PeakGpuMemory:
    """Largest GPU memory in use on the machine while the block runs (nvidia-smi, once a second);
    None without a GPU."""

    def __init__(self) -> None:
        self.peak_mib: int | None = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            result = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                    capture_output=True, text=True)
            used = [int(line) for line in result.stdout.split() if line.strip().isdigit()]
            if used:
                self.peak_mib = max(self.peak_mib or 0, max(used))
            self._stop.wait(1.0)

    def __enter__(self) -> PeakGpuMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True) if shutil.which("nvidia-smi") else None
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        if self._thread:
            self._thread.join()
        return False


def run_stage(name: str, args: list[str], env: dict, log: Path) -> dict:
    console.print(f"[bold]{name}[/]: python -m {' '.join(args[:2])} ...")
    started = time.perf_counter()
    with PeakMemory() as peak, PeakGpuMemory() as gpu, open(log, "w") as handle:
        result = subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT)
    record = {"stage": name, "exit_code": result.returncode, "wall_s": round(time.perf_counter() - started, 1),
              "peak_rss_gib": round(peak.peak / 2**30, 2),
              "peak_gpu_gib": round(gpu.peak_mib / 1024, 2) if gpu.peak_mib is not None else None, "log": str(log)}
    tail = log.read_text(errors="replace").splitlines()[-12:]
    console.print("\n".join(tail), markup=False, highlight=False)
    return record


def rehearse(size: str, runs_dir: Path, steps: int, mirror_root: Path, layers: int | None,
             resume: bool = False, until: str | None = None, extra: list[str] | None = None) -> int:
    with console.status(f"filling the hub mirror in {mirror_root}"):
        fill(mirror_root, size, "cuda" if size == "8b" else "cpu", layers)
    work = runs_dir / "rehearsal"
    earlier = json.loads((work / "rehearsal.json").read_text()) if resume and (work / "rehearsal.json").is_file() else {}
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    records = []
    with running_mirror(mirror_root) as url:
        env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
        env.update(HF_ENDPOINT=url, HF_HOME=str(work / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
                   PYTHONUNBUFFERED="1")
        console.print(f"hub mirror at {url}, empty hub cache at {work / 'hf-home'}")
        settings = ["--config", str(CONFIG), *overrides(size, runs_dir, steps), *(extra or [])]
        for name, command in (("train", ["train", *settings]), ("convert", ["convert", *settings]),
                              ("serve check", ["serve", "check", *settings]), ("eval", ["eval", "run", *settings])):
            kept = next((r for r in earlier.get("stages", []) if r["stage"] == name and r["exit_code"] == 0), None)
            if kept and name == "train":  # --resume: a finished training is kept (convert keeps its own steps)
                console.print(f"[dim]{name}: kept from the earlier rehearsal[/]")
                records.append(kept)
                continue
            record = run_stage(name, command, env, work / "logs" / f"{name.replace(' ', '-')}.log")
            records.append(record)
            if record["exit_code"] != 0 or name == until:
                break
    summary = _summary(work, records)
    (work / "rehearsal.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print(summary)
    return 0 if summary["passed"] else 1


def _summary(work: Path, records: list[dict]) -> dict:
    summary = {"stages": records, "passed": len(records) == 4 and all(r["exit_code"] == 0 for r in records)}
    adapter = work / "adapter" / "manifest.json"
    if adapter.is_file():
        manifest = json.loads(adapter.read_text())
        summary["trained_against"] = {k: manifest["base_model"]["trained_against"].get(k)
                                      for k in ("repo", "commit", "quantized_in")}
        summary["train"] = {k: manifest["results"].get(k) for k in
                            ("steps", "validation_loss_before", "validation_loss_after", "peak_gpu_memory_gib")}
    parity = work / "gguf" / "parity.json"
    if parity.is_file():
        report = json.loads(parity.read_text())
        summary["parity"] = {"passed": report["passed"], "merge_bases": report.get("merge_bases", {}).get("vs_a")}
    return summary


def _print(summary: dict) -> None:
    table = Table(title="rehearsal of the default config through the hub mirror")
    for column in ("stage", "exit", "wall s", "peak RSS GiB", "peak GPU GiB"):
        table.add_column(column)
    for record in summary["stages"]:
        gpu = record.get("peak_gpu_gib")
        table.add_row(record["stage"], str(record["exit_code"]), f"{record['wall_s']:.1f}", f"{record['peak_rss_gib']:.2f}",
                      "-" if gpu is None else f"{gpu:.2f}")
    console.print(table)
    if "trained_against" in summary:
        console.print(f"trained against {summary['trained_against']}")
    console.print("[green]rehearsal passed[/]" if summary["passed"] else "[red]rehearsal failed[/]")


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rehearse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "8b"), default="tiny")
    parser.add_argument("--runs-dir", type=Path, default=PROJECT_ROOT / "runs")
    parser.add_argument("--steps", type=int, default=None, help="training steps (tiny: 8, 8b: 30)")
    parser.add_argument("--mirror-root", type=Path, default=None, help="default: .assets/hub-mirror-<size>")
    parser.add_argument("--layers", type=int, default=None, help="8b: fewer decoder layers than 32, same width")
    parser.add_argument("--resume", action="store_true", help="keep an earlier rehearsal's finished training")
    parser.add_argument("--until", choices=("train", "convert", "serve check"), default=None,
                        help="stop after this stage (then --resume continues)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="more config overrides, after the rehearsal's own (e.g. eval.limit=2)")
    args = parser.parse_args(argv)
    if bad := [item for item in args.overrides if "=" not in item]:
        raise UserError(f"not a key=value override: {bad[0]}")
    if args.size == "8b":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--size 8b rehearses on a CUDA GPU; use --size tiny here")
    mirror_root = args.mirror_root or assets_dir() / f"hub-mirror-{args.size}"
    return rehearse(args.size, args.runs_dir.resolve(), args.steps or (8 if args.size == "tiny" else 30),
                    mirror_root.resolve(), args.layers, args.resume, args.until, args.overrides)


if __name__ == "__main__":
    sys.exit(main())
