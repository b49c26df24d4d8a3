"""Bookkeeping for convert's steps: per-step wall time and peak RAM, and skipping a step whose
inputs (by hash) and output are unchanged since the last run."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import psutil

from common.artifacts import atomic_write_json


def digest(*parts: object) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(json.dumps(part, sort_keys=True, default=str).encode())
    return hasher.hexdigest()


class PeakMemory:
    """Largest resident memory of this process plus its children while the block runs."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self.started
        return False

    def figures(self) -> dict:
        return {"seconds": round(self.seconds, 2), "peak_rss_gib": round(self.peak / 2**30, 2)}


class StepLog:
    """steps.json beside the outputs: for each step its input hash, output size and figures."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = json.loads(path.read_text()) if path.is_file() else {}

    @staticmethod
    def _size(output: Path) -> int:
        if output.is_dir():
            return sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
        return output.stat().st_size

    def is_current(self, step: str, inputs: str, output: Path) -> bool:
        record = self.records.get(step)
        if not record or record.get("inputs") != inputs or not output.exists():
            return False
        return self._size(output) == record.get("bytes")

    def record(self, step: str, inputs: str, output: Path, **figures) -> dict:
        self.records[step] = {"inputs": inputs, "bytes": self._size(output), **figures}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, self.records)
        return self.records[step]


class CachedSteps:
    """Run each export step unless its inputs (by hash) and its output are unchanged since the
    last run; either way return its record (time, peak memory, figures, sha256 of a file)."""

    def __init__(self, log: StepLog, console) -> None:
        self.log = log
        self.console = console

    def run(self, name: str, inputs: str, output: Path, make, summary, folder: bool = False) -> dict:
        """`make(staging)` writes the output (a file, or a folder) at a temporary path and returns
        extra figures; `summary(record)` is the line printed when the step ran."""
        from common.artifacts import sha256_file, staged_dir, staged_file

        if self.log.is_current(name, inputs, output):
            self.console.print(f"[dim]{name}: unchanged, kept {output.name}[/]")
            return {**self.log.records[name], "skipped": True}
        staged = staged_dir if folder else staged_file
        with PeakMemory() as peak, staged(output) as staging:
            figures = make(staging) or {}
        if output.is_file():
            figures["sha256"] = sha256_file(output)
        record = self.log.record(name, inputs, output, **peak.figures(), **figures)
        self.console.print(summary(record))
        return record
