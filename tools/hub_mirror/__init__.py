"""A loopback Hugging Face hub mirror over plain folders, for offline rehearsals and air-gapped sites:
huggingface_hub, transformers and datasets run their own download code against it (HF_ENDPOINT).

    python -m tools.hub_mirror serve --root DIR      # prints the HF_ENDPOINT to export
    with running_mirror(DIR) as url: ...             # the same, in a background thread
"""

from __future__ import annotations

from tools.hub_mirror.repos import build_root_index
from tools.hub_mirror.running import running_mirror

__all__ = ["build_root_index", "running_mirror"]
