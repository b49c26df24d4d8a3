"""Find a model's files: a local folder as is, a hub id through the local cache (downloading
only when the hub is reachable and HF_HUB_OFFLINE is not set)."""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import UserError

MODEL_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer*"]


def resolve_model_dir(model_id: str, revision: str | None = None) -> Path:
    local = Path(model_id).expanduser()
    if local.is_dir():
        return local.resolve()
    if model_id.startswith((".", "/", "~")):
        raise UserError(f"model folder not found: {model_id}")
    try:
        from huggingface_hub import snapshot_download

        if os.environ.get("HF_HUB_ENABLE_HF_TRANSFER") is None:
            try:
                import hf_transfer  # noqa: F401

                os.environ["HF_HUB_ENABLE_HF_TRANSFER"] = "1"
            except ImportError:
                pass
        return Path(snapshot_download(model_id, revision=revision, allow_patterns=MODEL_PATTERNS))
    except Exception as exc:  # the hub client raises many types for "not there" and "no network"
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "not in the local hub cache and HF_HUB_OFFLINE=1" if offline else f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        raise UserError(f"model {model_id!r} cannot be found: {why}") from None
