"""Fetch the pinned llama-cpp-python sdist from the package registry and unpack the parts of its
vendor/llama.cpp that the pipeline uses: the HF-to-GGUF converter with its gguf-py, the Llama-3
vocab test files, the chat templates, and the sources that tools/build_llama_cpp.py builds the
server and the runtime's libraries from. Idempotent: a finished unpack is kept.

    python tools/fetch_llama_cpp_source.py [--sdist FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.artifacts import staged_dir  # noqa: E402
from common.layout import LLAMA_CPP_PYTHON_VERSION, assets_dir, llama_cpp_source_dir  # noqa: E402

CONVERTER = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "models/templates/",
             "models/ggml-vocab-llama-bpe.gguf", "LICENSE")
BUILD_SOURCES = ("CMakeLists.txt", "cmake/", "common/", "ggml/", "include/", "licenses/", "scripts/", "src/",
                 "tools/", "vendor/")
WANTED = CONVERTER + BUILD_SOURCES


def is_complete(target: Path) -> bool:
    return (target / "convert_hf_to_gguf.py").is_file() and (target / "tools" / "server").is_dir()


def download_sdist(into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"))
    if found:
        return found[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "--dest", str(into), f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
        check=True,
    )
    return next(into.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sdist", type=Path, default=None)
    args = parser.parse_args()
    target = llama_cpp_source_dir()
    if is_complete(target):
        print(f"llama.cpp source already at {target}")
        return
    sdist = args.sdist or download_sdist(assets_dir() / "dist")
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    with tarfile.open(sdist) as archive, staged_dir(target) as staging:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix):]
            if any(relative == want or relative.startswith(want) for want in WANTED):
                member.name = relative
                members.append(member)
        archive.extractall(staging, members=members, filter="data")
    print(f"unpacked {len(members)} files of llama.cpp to {target}")


if __name__ == "__main__":
    main()
