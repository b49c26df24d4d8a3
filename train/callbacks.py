"""Trainer callbacks: a rich progress bar, Ctrl-C that checkpoints, and a free-disk guard."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback

from common.artifacts import require_free_disk


class RichProgress(TrainerCallback):
    """Step, loss, learning rate, real tokens/s and ETA on one line (stderr)."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.progress: Progress | None = None
        self.stats = {"loss": "-", "lr": "-", "tok/s": "-", "val": "-"}

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console,
        )
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, stats="")
        self.progress.start()
        self.started = time.perf_counter()
        self.tokens_at_start = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.started
        if elapsed > 0 and state.num_input_tokens_seen:
            self.stats["tok/s"] = f"{(state.num_input_tokens_seen - self.tokens_at_start) / elapsed:,.0f}"
        self._refresh(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.stats["loss"] = f"{logs['loss']:.4f}"
        if "learning_rate" in logs:
            self.stats["lr"] = f"{logs['learning_rate']:.2e}"
        if "eval_loss" in logs:
            self.stats["val"] = f"{logs['eval_loss']:.4f}"
        if "reward" in logs:  # GRPO
            self.stats["reward"] = f"{logs['reward']:.3f}"
        self._refresh(state)

    def _refresh(self, state) -> None:
        stats = "  ".join(f"{key} {value}" for key, value in self.stats.items())
        self.progress.update(self.task, completed=state.global_step, stats=stats)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class CheckpointOnInterrupt(TrainerCallback):
    """First Ctrl-C: finish the step, save a checkpoint, stop. A second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._previous)


class FreeDiskGuard(TrainerCallback):
    """Refuse to start a checkpoint the disk cannot hold, so earlier checkpoints stay intact."""

    def __init__(self, folder: Path, checkpoint_bytes: int) -> None:
        self.folder = folder
        self.checkpoint_bytes = checkpoint_bytes

    def on_step_end(self, args, state, control, **kwargs):
        saving = control.should_save or (args.save_steps and state.global_step % int(args.save_steps) == 0)
        if saving:
            require_free_disk(self.folder, self.checkpoint_bytes, f"the checkpoint at step {state.global_step}")
        return control


class StepTimer(TrainerCallback):
    """Wall time and real tokens at every step, for steady-state throughput (after warm-up)."""

    def __init__(self, warmup_steps: int = 3) -> None:
        self.warmup_steps = warmup_steps
        self.marks: list[tuple[int, float, int]] = []

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.marks.append((state.global_step, time.perf_counter(), int(state.num_input_tokens_seen)))

    def steady_tokens_per_second(self) -> float | None:
        if len(self.marks) <= self.warmup_steps + 1:
            return None
        (_, start, tokens_start), (_, end, tokens_end) = self.marks[self.warmup_steps], self.marks[-1]
        return round((tokens_end - tokens_start) / (end - start), 1) if end > start else None
