#!/usr/bin/env bash
# Offline vLLM for an air-gapped GPU server: resolve nothing there, unpack a ready site folder.
# Run where pip works; copy OUTDIR/vllm-site.tgz.part-* to the server, then there:
#   cat vllm-site.tgz.part-* | tar xz -C /opt/vllm-site
#   export PYTHONPATH=/opt/vllm-site VLLM_USE_FLASHINFER_SAMPLER=0
#   bench/gpu/vllm_bundle.sh OUTDIR [PART_SIZE=50M]
# SKIP_FA2=1 leaves out FlashAttention-2's kernels (123 MB of the wheel's 290 MB): Hopper GPUs use
# FlashAttention-3, and the file is optional in vLLM (vllm_flash_attn checks for it at import).
set -euo pipefail
out=${1:?usage: vllm_bundle.sh OUTDIR [PART_SIZE]}; size=${2:-50M}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"; out=$(cd "$out" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip install -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
  --platform manylinux2010_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
  --target "$tmp/site" -r "$here/vllm-requirements.txt"
if [ -n "${SKIP_FA2:-}" ]; then rm -f "$tmp"/site/vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so; fi
find "$tmp/site" -name __pycache__ -type d -prune -exec rm -rf {} +
rm -rf "$tmp/site/bin"
rm -f "$out"/vllm-site.tgz.part-*
tar cz -C "$tmp/site" . | split -b "$size" - "$out/vllm-site.tgz.part-"
ls -la "$out"/vllm-site.tgz.part-*
