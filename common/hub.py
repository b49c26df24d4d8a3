"""Find a model's files: a local folder as is, a hub id through the hub cache.

A hub id is resolved to the commit it names, the disk is checked against the sizes the hub
reports before anything is downloaded, and the snapshot folder is returned together with the
repo and commit, so that every stage can record exactly which weights it used. `HF_ENDPOINT`
points all of this at a mirror (a hospital's own, or the project's loopback one); with
`HF_HUB_OFFLINE=1` only the local cache is read.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError

MODEL_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer*"]


@dataclass(frozen=True)
class ModelSnapshot:
    """A model's files on disk and, for a hub model, the repo and commit they came from."""

    dir: Path
    repo: str | None = None
    commit: str | None = None

    @property
    def source(self) -> str:
        return self.repo or str(self.dir)

    def as_record(self) -> dict:
        return {"repo": self.repo, "commit": self.commit, "dir": str(self.dir)}


def is_local(model_id: str) -> bool:
    return Path(model_id).expanduser().is_dir() or model_id.startswith((".", "/", "~"))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def fetch_model(model_id: str, revision: str | None = None, patterns: list[str] | None = None) -> ModelSnapshot:
    """The model's files on disk: a local folder as is; a hub repo downloaded into the hub cache
    (only what is missing, after a free-disk check) or read from it when offline."""
    if is_local(model_id):
        local = Path(model_id).expanduser()
        if not local.is_dir():
            raise UserError(f"model folder not found: {model_id}")
        return ModelSnapshot(local.resolve())
    patterns = patterns or MODEL_PATTERNS
    try:
        from huggingface_hub import snapshot_download

        if not hub_offline():
            revision = _check_disk_for(model_id, revision, patterns)
        folder = Path(snapshot_download(model_id, revision=revision, allow_patterns=patterns))
    except UserError:
        raise
    except Exception as exc:  # the hub client raises many types for "not there" and "no network"
        raise UserError(f"model {model_id!r} cannot be loaded: {_why(exc)}") from None
    return ModelSnapshot(folder, model_id, folder.name)


def _check_disk_for(model_id: str, revision: str | None, patterns: list[str]) -> str:
    """Stop before a download the disk cannot hold; returns the commit the revision names, so the
    download fetches exactly what was measured."""
    from huggingface_hub import HfApi, constants

    from common.artifacts import require_free_disk

    info = HfApi().model_info(model_id, revision=revision, files_metadata=True)
    cache = Path(constants.HF_HUB_CACHE)
    snapshot = cache / f"models--{model_id.replace('/', '--')}" / "snapshots" / info.sha
    missing = sum(sibling.size or 0 for sibling in info.siblings or []
                  if any(fnmatch.fnmatch(sibling.rfilename, pattern) for pattern in patterns)
                  and not (snapshot / sibling.rfilename).exists())
    if missing:
        require_free_disk(cache, missing, f"downloading {model_id} ({missing / 1e9:.2f} GB)")
    return info.sha


def _why(exc: Exception) -> str:
    if hub_offline():
        return "not in the local hub cache and HF_HUB_OFFLINE=1"
    endpoint = os.environ.get("HF_ENDPOINT")
    where = f" (HF_ENDPOINT={endpoint})" if endpoint else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}{where}"
