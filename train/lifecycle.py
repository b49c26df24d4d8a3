"""The training lifecycle SFT and GRPO share: a fresh start or a resume, precision, the trainer's
console, interrupts and a full disk, and the staged save of the adapter with its manifest."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

from common.artifacts import staged_dir, write_manifest
from common.errors import UserError
from common.layout import HELDOUT_FILE

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: trainer_state.json is written last, so a half-written
    checkpoint (killed or disk full) lacks it and is skipped."""
    if not folder.is_dir():
        return None
    complete = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if (match := CHECKPOINT_NAME.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


def start_or_resume(checkpoints: Path, resume: bool, announce: bool = True) -> Path | None:
    """The checkpoint to resume from, or None after clearing an earlier run's checkpoints."""
    if resume:
        found = latest_checkpoint(checkpoints)
        if found is None:
            raise UserError(f"resume requested but {checkpoints} holds no complete checkpoint")
        return found
    if checkpoints.exists() and announce:
        print(f"starting fresh: removing earlier checkpoints in {checkpoints} (resume=true continues them)")
        shutil.rmtree(checkpoints)
    return None


def resolve_precision(wanted: str, device: str) -> str:
    import torch

    if wanted != "auto":
        return wanted
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # bf16 autocast pays off on CPUs with AMX or AVX512-BF16; elsewhere it is slower.
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return "bf16" if ("amx_bf16" in flags or "avx512_bf16" in flags) else "fp32"


def logging_env(report_to: str, checkpoints: Path, run_root: Path) -> None:
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(checkpoints / "logs"))
    if report_to == "wandb":
        os.environ.setdefault("WANDB_PROJECT", "r1-medical")
        os.environ.setdefault("WANDB_DIR", str(run_root))
        if not os.environ.get("WANDB_API_KEY") or os.environ.get("HF_HUB_OFFLINE") == "1":
            os.environ.setdefault("WANDB_MODE", "offline")


def quiet_console(trainer) -> None:
    """The progress bar is train/callbacks.RichProgress; transformers' own printers go."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)


def run_trainer(trainer, checkpoints: Path, resume_from: Path | None, interrupt):
    """trainer.train, with a full disk ending in one line (earlier checkpoints kept)."""
    try:
        return trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            for partial in checkpoints.glob("checkpoint-*"):
                if not (partial / "trainer_state.json").is_file():
                    shutil.rmtree(partial, ignore_errors=True)
            raise UserError(f"disk full while writing to {checkpoints}; earlier checkpoints are kept") from None
        raise
    finally:
        interrupt.restore()


def stop_if_interrupted(interrupt, checkpoints: Path, resume_command: str) -> None:
    if interrupt.requested:
        raise UserError(f"interrupted: checkpoint saved at {latest_checkpoint(checkpoints)}; "
                        f"`{resume_command}` continues from it")


def peak_gpu_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_reserved() / 2**30, 2)


def write_adapter(folder: Path, model, tokenizer, heldout: list[dict], manifest: dict) -> None:
    """The adapter, its tokenizer, the held-out rows convert's ladder scores, and the train
    manifest, renamed into place together."""
    with staged_dir(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / HELDOUT_FILE).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in heldout),
                                            encoding="utf-8")
        write_manifest(staging, "train", manifest)
