"""Build llama.cpp's server and shared libraries from the pinned source that
tools/fetch_llama_cpp_source.py unpacks, and install llama-cpp-python over those same libraries
instead of letting it compile a copy of its own: the GGUF converter, the in-process runtime (chat,
parity, benchmarks) and the batching server behind `make serve` are then one llama.cpp.

Everything goes into the virtual environment: <venv>/llama.cpp/bin holds llama-server with its
libraries beside it (found through an $ORIGIN rpath). Idempotent: a build made from the same
source with the same CMake arguments is kept.

    python tools/build_llama_cpp.py [--cmake-args "-DGGML_CUDA=on ..."] [--jobs N] [--server-only | --binding-only]

--server-only builds llama-server and leaves llama-cpp-python alone (an offline GPU host, where
LLAMA_CPP_DIR says where the build goes; docs/gpu-host.md). --binding-only compiles nothing: it
installs llama-cpp-python, and gives it the build's libraries once the build is there, so `make
setup` installs the Python packages while the compile runs and links the two afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.artifacts import staged_dir  # noqa: E402
from common.layout import LLAMA_CPP_PYTHON_VERSION, llama_cpp_build_dir, llama_cpp_source_dir  # noqa: E402

# The server and what it links; no tests, examples, web UI download (there is no network on a
# clinic's box or the GPU host), curl or OpenSSL (the server listens on loopback behind serve/).
FIXED_ARGS = ("-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DLLAMA_BUILD_COMMON=ON",
              "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_UI=OFF",
              "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF",
              "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN")
TARGET = "llama-server"
LIBRARY_PATTERNS = ("lib*.so*", "lib*.dylib")


def run(command: list[str], **kwargs) -> None:
    print("+ " + shlex.join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def tool(name: str) -> str:
    """cmake and ninja from the venv (pip wheels) when there, else from PATH."""
    local = Path(sys.prefix) / "bin" / name
    found = str(local) if local.is_file() else shutil.which(name)
    if not found:
        sys.exit(f"error: {name} not found; `pip install {name}` or install it with the system's package manager")
    return found


def libraries(folder: Path) -> list[Path]:
    return sorted({path for pattern in LIBRARY_PATTERNS for path in folder.glob(pattern)})


def build(source: Path, cmake_args: list[str], jobs: int, out: Path) -> None:
    build_tree = out.with_name(out.name + "-build")
    run([tool("cmake"), "-S", str(source), "-B", str(build_tree), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={tool('ninja')}",
         *FIXED_ARGS, *cmake_args])
    run([tool("cmake"), "--build", str(build_tree), "--target", TARGET, "-j", str(jobs)])
    built = build_tree / "bin"
    with staged_dir(out) as staging:
        (staging / "bin").mkdir()
        for path in [built / TARGET, *libraries(built)]:
            shutil.copy2(path, staging / "bin" / path.name, follow_symlinks=False)
        (staging / "build.json").write_text(json.dumps(stamp(source, cmake_args), indent=1))
    shutil.rmtree(build_tree, ignore_errors=True)


def stamp(source: Path, cmake_args: list[str]) -> dict:
    return {"llama_cpp_python": LLAMA_CPP_PYTHON_VERSION, "source": str(source), "cmake_args": cmake_args}


def install_python_binding(libs: list[Path]) -> None:
    """llama-cpp-python without its own compile (LLAMA_BUILD=OFF), then this build's libraries
    where it loads them from (llama_cpp/lib)."""
    env = {**os.environ, "CMAKE_ARGS": "-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF"}
    run([sys.executable, "-m", "pip", "install", "-q", "--no-cache-dir", f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
        env=env)
    if not libs:
        print(f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} installed; it gets llama.cpp's libraries once the build is done")
        return
    spec = importlib.util.find_spec("llama_cpp")
    package_lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    package_lib.mkdir(exist_ok=True)
    for stale in libraries(package_lib):
        stale.unlink()
    for path in libs:
        shutil.copy2(path, package_lib / path.name, follow_symlinks=False)
    print(f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} uses the libraries of {libs[0].parent}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cmake-args", default=os.environ.get("LLAMA_CMAKE_ARGS", ""))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--server-only", action="store_true", help="do not install llama-cpp-python")
    only.add_argument("--binding-only", action="store_true",
                      help="compile nothing: install llama-cpp-python, with the build's libraries when built")
    args = parser.parse_args()
    source, out = llama_cpp_source_dir(), llama_cpp_build_dir()
    if args.binding_only:
        install_python_binding(libraries(out / "bin") if (out / "build.json").is_file() else [])
        return
    if not (source / "CMakeLists.txt").is_file():
        sys.exit(f"error: no llama.cpp source at {source}; run tools/fetch_llama_cpp_source.py first")
    cmake_args = shlex.split(args.cmake_args)
    done = out / "build.json"
    if done.is_file() and json.loads(done.read_text()) == stamp(source, cmake_args):
        print(f"llama.cpp already built at {out}")
    else:
        build(source, cmake_args, args.jobs, out)
    if not args.server_only:
        install_python_binding(libraries(out / "bin"))


if __name__ == "__main__":
    main()
