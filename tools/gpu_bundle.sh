#!/usr/bin/env bash
# Bundles for a GPU host without network (docs/gpu-host.md), made here where pip works. The host is
# expected to have CPython 3.12 and torch, transformers, peft, accelerate, numpy; the bundles add the
# rest. Each is one .tgz for tools/gpu_host.sh install; a device runner that carries at most ~64 MiB
# per call takes train-* in one call and the others in another.
#   bash tools/gpu_bundle.sh train       .gpu/train-kernels.tgz (bitsandbytes), .gpu/train-libs.tgz (unsloth, trl, datasets, ...)
#   bash tools/gpu_bundle.sh serve       .gpu/serve-libs.tgz (the serve stage's web framework, the openai client)
#   bash tools/gpu_bundle.sh llama-cpu   .gpu/llama-cpp-python.tgz: the pinned version built here for any x86-64 with
#                                        AVX2; on the host, the CUDA build of llama.cpp replaces its libraries
#   bash tools/gpu_bundle.sh assets      .gpu/llama-cpp-source.tgz (the pinned llama.cpp as make setup unpacks it:
#                                        converter and build sources), .gpu/exams.tgz, .gpu/tiny-tok.tgz
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu; mkdir -p "$out"
version=$(sed -n 's/^LLAMA_CPP_PYTHON_VERSION = "\(.*\)"/\1/p' common/layout.py)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# wheels for the host's interpreter, whatever this machine runs
host_wheels=(--only-binary=:all: --python-version 3.12 --implementation cp
             --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
             --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
pack() {  # pack NAME DIR
  find "$2" -name __pycache__ -type d -prune -exec rm -rf {} +
  tar czf "$out/$1.tgz" -C "$2" . && ls -la "$out/$1.tgz"
}
case "${1:?train|serve|llama-cpu|assets}" in
  train)
    python3 -m pip install -q "${host_wheels[@]}" --no-deps --target "$tmp/kernels" "bitsandbytes==0.50.2"
    # only the CUDA runtimes the host's torch can ask for (default: CUDA 13): a tenth of the size
    keep=${BNB_CUDA:-"130 132"}
    for lib in "$tmp"/kernels/bitsandbytes/libbitsandbytes_{cuda,rocm,xpu}*.so; do
      [[ " $keep " == *" $(basename "$lib" .so | sed 's/.*_cuda//') "* ]] || rm -f "$lib"
    done
    pack train-kernels "$tmp/kernels"
    python3 -m pip install -q "${host_wheels[@]}" --no-deps --target "$tmp/libs" \
      unsloth==2026.10.9 unsloth-zoo==2026.10.9 trl==1.15.0 "datasets<5" dill multiprocess liger-kernel \
      cut-cross-entropy msgspec tyro docstring-parser typeguard shtab torchao structlog json5 nest-asyncio gguf
    rm -rf "$tmp/libs/bin" "$tmp/libs/studio" "$tmp/libs/test"
    pack train-libs "$tmp/libs" ;;
  serve)
    # resolved with their dependencies (the openai client's change from httpx to httpx2 showed
    # that a hand-kept list goes stale); numpy and jinja2 come with the host's torch
    python3 -m pip install -q "${host_wheels[@]}" --target "$tmp/serve" \
      fastapi uvicorn openai httpx diskcache
    rm -rf "$tmp/serve/bin" "$tmp"/serve/numpy* "$tmp"/serve/jinja2* "$tmp"/serve/markupsafe* "$tmp"/serve/MarkupSafe*
    pack serve-libs "$tmp/serve" ;;
  llama-cpu)
    # llama-cpp-python loads llama.cpp through ctypes: its wheel fits any CPython 3
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
      python3 -m pip wheel -q --no-deps --no-cache-dir -w "$tmp/wheel" "llama-cpp-python==$version"
    python3 -m pip install -q --no-deps --target "$tmp/site" "$tmp"/wheel/llama_cpp_python-*.whl
    rm -rf "$tmp/site/bin"
    pack llama-cpp-python "$tmp/site" ;;
  assets)
    for needed in ".assets/llama.cpp-$version" .assets/exams .assets/tiny-r1-llama/tokenizer.json; do
      [ -e "$needed" ] || { echo "missing $needed: run make setup first" >&2; exit 2; }
    done
    tar czf "$out/llama-cpp-source.tgz" -C .assets "llama.cpp-$version"
    tar czf "$out/exams.tgz" -C .assets exams
    tar czf "$out/tiny-tok.tgz" -C .assets tiny-r1-llama/tokenizer.json tiny-r1-llama/tokenizer_config.json \
      tiny-r1-llama/chat_template.jinja
    ls -la "$out"/llama-cpp-source.tgz "$out"/exams.tgz "$out"/tiny-tok.tgz ;;
  *) echo "unknown bundle: $1 (train|serve|llama-cpu|assets)" >&2; exit 2 ;;
esac
