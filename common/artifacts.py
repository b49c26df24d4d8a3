"""Atomic outputs, hashes, free-disk checks and the manifest every stage writes next to its output."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from common.errors import UserError
from common.layout import manifest_path

TRACKED_PACKAGES = (
    "torch", "transformers", "peft", "trl", "datasets", "accelerate", "unsloth", "bitsandbytes",
    "llama_cpp_python", "gguf", "vllm", "openai",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> str:
    """One hash over a folder's files (names and contents), in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def require_free_disk(folder: Path, needed_bytes: int, what: str) -> None:
    """Stop before writing when the disk cannot hold the output (with a 5% margin)."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed_bytes * 1.05:
        raise UserError(
            f"not enough disk for {what}: need {needed_bytes / 1e9:.1f} GB, "
            f"{free / 1e9:.1f} GB free under {probe}"
        )


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@contextlib.contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; it is renamed to `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.partial-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty folder beside `final`; it replaces `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        previous = final.with_name(f".{final.name}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, previous)
        os.replace(temporary, final)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def write_manifest(folder: Path, stage: str, body: dict[str, Any]) -> dict[str, Any]:
    manifest = {
        "stage": stage,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "versions": library_versions(),
        **body,
    }
    from common.manifests import SCHEMAS

    if stage in SCHEMAS:  # the contract the next stage reads; a writer that breaks it fails here, not there
        SCHEMAS[stage].model_validate(manifest)
    atomic_write_json(manifest_path(folder), manifest)
    return manifest


def read_manifest(folder: Path, stage: str, hint: str) -> dict[str, Any]:
    """The manifest of an earlier stage's output; its absence means that output is not finished."""
    path = manifest_path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} does not exist: {hint}")
    if not path.is_file():
        raise UserError(f"{folder} has no manifest.json, so it is missing or half-written: {hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON: {hint}") from None
    if manifest.get("stage") != stage:
        raise UserError(f"{path} was written by stage {manifest.get('stage')!r}, expected {stage!r}")
    return manifest
