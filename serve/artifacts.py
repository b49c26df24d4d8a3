"""Which files the serve stage serves, found through the run layout and the convert manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

from common.config import RunConfig
from common.errors import UserError
from common.layout import RunLayout
from common.manifests import read_convert_manifest


def api_key(config: RunConfig) -> str | None:
    return config.serve.api_key or os.environ.get("SERVE_API_KEY") or None


def gguf_to_serve(config: RunConfig) -> Path:
    """serve.gguf when set; otherwise the run's GGUF of serve.quant, which convert/ must have
    finished with its parity check passed."""
    if config.serve.gguf:
        path = Path(config.serve.gguf).expanduser()
        if not path.is_file():
            raise UserError(f"serve.gguf: no such file {path}")
        return path
    layout = RunLayout.for_run(config.runs_dir, config.name)
    if (layout.gguf_dir / "failed-manifest.json").is_file() and not (layout.gguf_dir / "manifest.json").is_file():
        raise UserError(f"{layout.gguf_dir}: convert's parity check failed, so its GGUFs are not served "
                        f"(see {layout.parity}); set serve.gguf to serve a file anyway")
    manifest = read_convert_manifest(layout.gguf_dir, "run `make convert` first")
    entry = manifest.artifacts.get(config.serve.quant)
    if entry is None:
        made = ", ".join(manifest.artifacts) or "none"
        raise UserError(f"serve.quant {config.serve.quant} was not produced by convert (made: {made}); "
                        f"add it to convert.quant_types or pick one of those")
    path = layout.gguf_dir / entry.file
    if not path.is_file():
        raise UserError(f"{path} is listed in the convert manifest but missing")
    return path


def adapter_rank(adapter_dir: Path) -> int:
    return int(json.loads((adapter_dir / "adapter_config.json").read_text())["r"])


def curl_example(url: str, model: str, api_key: str | None) -> str:
    """The request to paste once a server is up; kept here, free of any backend's imports, because
    both backends print it (vLLM's environment has no llama_cpp)."""
    auth = f" -H 'Authorization: Bearer {api_key}'" if api_key else ""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "A 30-year-old has fever and neck stiffness. Next step?"}]})
    return f"curl {url}/v1/chat/completions -H 'Content-Type: application/json'{auth} -d '{body}'"
