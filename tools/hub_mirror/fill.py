"""Fill a mirror folder with the repos the default config names, at the tiny size (a CPU
rehearsal) or the 8B shape with random weights (a GPU host).

    python -m tools.hub_mirror fill --root DIR [--size tiny|8b] [--device cpu|cuda]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from common.errors import UserError
from common.layout import PROJECT_ROOT, exams_dir, tiny_model_dir
from tools.hub_mirror import model_repos

DATA = PROJECT_ROOT / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def dataset_rows() -> dict[str, list[dict]]:
    """The project's own rows under the four configs: English and Chinese medical rows, and the
    mixes with general rows, each in the data set's fields."""
    english, chinese = _rows("medical_o1_offline.jsonl"), _rows("medical_o1_offline_zh.jsonl")
    general = [{"Question": row["instruction"], "Complex_CoT": f"The request is: {row['instruction']} "
                "I will answer it directly and check the result.", "Response": row["output"]}
               for row in _rows("general_replay.jsonl")]
    return {"en": english, "zh": chinese, "en_mix": english + general, "zh_mix": chinese + general}


def source_model(size: str, device: str, work: Path, layers: int | None = None) -> Path:
    """The weights the model repos are made from: the tiny model `make setup` builds, or a model
    of the 8B's width with random weights (built once under `work`; `layers` fewer than its 32
    where the disk cannot hold the full depth's repos, cache and exports)."""
    tiny = tiny_model_dir()
    if size == "tiny":
        if not (tiny / "model.safetensors").is_file():
            raise UserError(f"{tiny} is missing: run `make setup` first")
        return tiny
    source = work / f"random-8b-{layers or 32}-layers"
    if not (source / "config.json").is_file():
        command = [sys.executable, str(PROJECT_ROOT / "tools" / "build_tiny_model.py"), "--shape", "8b",
                   "--device", device, "--text-head", "--out", str(source)]
        if layers:
            command += ["--layers", str(layers)]
        if (tiny / "tokenizer.json").is_file():
            command += ["--tokenizer-from", str(tiny)]
        subprocess.run(command, check=True)
    return source


def fill(root: Path, size: str = "tiny", device: str = "cpu", layers: int | None = None) -> list[str]:
    """Write every repo (skipping those already there) and return their ids."""
    from tools.write_exam_repos import WRITERS, write_exam_repos

    EXAM_REPOS = list(WRITERS)  # noqa: N806 - the exam repo ids, as write_exam_repos names them

    root.mkdir(parents=True, exist_ok=True)
    source = source_model(size, device, root.parent / f".{root.name}-work", layers)
    written = []
    original = model_repos.repo_dir(root, "models", model_repos.R1_REPO)
    if not (original / "model.safetensors.index.json").is_file():
        model_repos.write_original(source, original)
    written.append(model_repos.R1_REPO)
    mirror = model_repos.repo_dir(root, "models", model_repos.UNSLOTH_REPO)
    if not any((mirror / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        model_repos.write_prequantized(original, mirror, device=device)
    written.append(model_repos.UNSLOTH_REPO)
    if size != "tiny":  # the random weights now live in the original repo; their source is a second copy
        shutil.rmtree(source, ignore_errors=True)
    dataset = model_repos.repo_dir(root, "datasets", model_repos.DATASET_REPO)
    if not (dataset / "README.md").is_file():
        model_repos.write_dataset(dataset, dataset_rows())
    written.append(model_repos.DATASET_REPO)
    if not all((root / "datasets" / repo).is_dir() for repo in EXAM_REPOS):
        write_exam_repos(root, exams_dir())
    written += EXAM_REPOS
    return written
