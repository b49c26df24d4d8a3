#!/usr/bin/env bash
# The GPU-host runs behind BENCHMARKS.md, one phase per device call (the host keeps /tmp while
# it stays warm between calls). Results and logs go to $OUT.
#   bash bench/gpu/host.sh train      install the train bundles, build the 8B-shaped model, (3) (2) (1)
#   bash bench/gpu/host.sh train2     (4) bf16 LoRA, 24 GB memory ceilings of (3) and (1)
#   bash bench/gpu/host.sh llama      build llama-cpp-python with CUDA, merge + f16 GGUF of the stage's adapter
#   bash bench/gpu/host.sh convert2   q4_k_m, parity ladder, serve speed on GPU and on 16 CPU threads
#   bash bench/gpu/host.sh prep       train bundles, 8B model, a 3-step adapter of (3)
#   bash bench/gpu/host.sh parity     merge + f16 + q4_k_m, parity ladder (both merge bases), on the CPU llama-cpp-python of make setup
#   bash bench/gpu/host.sh serve-cpu  serve speed of the q4_k_m on 16 CPU threads
#   bash bench/gpu/host.sh ceiling    24 GiB ceiling of (3) with the stage's chunked loss
set -uo pipefail
phase=${1:?phase}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=/tmp/site:$PWD
REAL=configs/r1-distill-llama-8b-medical.yaml
M=/tmp/m8b
RUNS=/tmp/runs8b
log() { echo "== $(date +%T) $*"; }
step() { local name=$1 limit=$2; shift 2; log "$name"; timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; echo "rc=$?" >> "$OUT/$name.log"; tail -n 3 "$OUT/$name.log"; }
build_model() {  # the 8B-shaped random model with the real tokenizer, once per warm host
  [ -f $M/config.json ] && return
  mkdir -p /tmp/tok && cp .gpu/tok/*.json .gpu/tok/*.jinja /tmp/tok/ && xz -dc .gpu/tok/tokenizer.json.xz > /tmp/tok/tokenizer.json
  step build-8b 300 python3 tools/build_tiny_model.py --shape 8b --device cuda --out $M --tokenizer-from /tmp/tok
}

case "$phase" in
train)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  python3 -c "import torch, transformers, trl, unsloth, bitsandbytes, pydantic; print(torch.__version__, transformers.__version__, trl.__version__, unsloth.__version__, bitsandbytes.__version__)" 2>&1 | tail -1 | tee "$OUT/versions.txt"
  build_model
  step train-stage 270 python3 -m bench.train_bench --recipe stage --config $REAL --rows 1200 --steps 4 --warmup 2 \
       --shape 8b --runs $RUNS --out "$OUT/train-stage.json" model.id=$M
  cp $RUNS/bench/adapter/manifest.json "$OUT/adapter-manifest.json" 2>/dev/null
  if [ -n "${WITH_BASELINES:-}" ]; then
    step train-unsloth 150 python3 -m bench.train_bench --recipe unsloth --config $REAL --rows 400 --steps 6 \
         --warmup 2 --shape 8b --out "$OUT/train-unsloth.json" model.id=$M
    step train-trl 150 python3 -m bench.train_bench --recipe trl --config $REAL --rows 400 --steps 4 --warmup 2 \
         --shape 8b --out "$OUT/train-trl.json" model.id=$M
  fi
  step grpo 230 python3 -m train grpo --config $REAL model.id=$M runs_dir=$RUNS name=grpo8b grpo.start_from=base \
       grpo.max_steps=2 grpo.num_generations=6 grpo.max_completion_length=1024 grpo.save_every=1000 train.report_to=none
  cp $RUNS/grpo8b-grpo/adapter/manifest.json "$OUT/grpo-manifest.json" 2>/dev/null ;;
train2)
  if [ ! -d /tmp/site/unsloth ]; then
    log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  fi
  build_model
  step train-stage-bf16 240 python3 -m bench.train_bench --recipe stage-bf16 --config $REAL --rows 800 --steps 3 \
       --warmup 1 --shape 8b --out "$OUT/train-stage-bf16.json" model.id=$M
  for r in stage trl; do
    step ceiling-$r 150 python3 -m bench.memory_ceiling --recipe $r --config $REAL --resolution 8192 \
         --out "$OUT/ceiling-$r.json" model.id=$M
  done ;;
llama)
  log install-llama; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install-llama.log" 2>&1; tail -n 2 "$OUT/install-llama.log"
  python3 -c "import llama_cpp; print(llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload())" | tee -a "$OUT/versions.txt"
  step convert-merge-f16 420 python3 -m convert --config $REAL model.id=$M runs_dir=$RUNS name=bench \
       "convert.quant_types=[f16]" convert.parity.prompts=4 convert.parity.max_tokens=128
  cp $RUNS/bench/gguf/steps.json "$OUT/convert-steps-1.json" 2>/dev/null; cp $RUNS/bench/gguf/parity.json "$OUT/parity-f16.json" 2>/dev/null ;;
convert2)
  step convert-q4 420 python3 -m convert --config $REAL model.id=$M runs_dir=$RUNS name=bench \
       "convert.quant_types=[f16,q4_k_m]" convert.parity.prompts=4 convert.parity.max_tokens=128
  cp $RUNS/bench/gguf/steps.json "$OUT/convert-steps.json" 2>/dev/null; cp $RUNS/bench/gguf/parity.json "$OUT/parity.json" 2>/dev/null
  step serve-gpu 120 python3 -m bench.serve_bench --config $REAL --gpu-layers -1 --threads 16 --label 8b-gpu \
       --out "$OUT/serve-gpu.json" model.id=$M runs_dir=$RUNS name=bench serve.quant=q4_k_m
  step serve-cpu 150 python3 -m bench.serve_bench --config $REAL --gpu-layers 0 --threads 16 --tokens 64 --label 8b-cpu \
       --out "$OUT/serve-cpu.json" model.id=$M runs_dir=$RUNS name=bench serve.quant=q4_k_m ;;
prep)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  { lscpu | grep -E "Model name|^CPU\(s\)"; echo "AMX: $(grep -o 'amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"; } > "$OUT/cpu.txt"
  log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  build_model
  step train-stage 300 python3 -m bench.train_bench --recipe stage --config $REAL --rows 500 --steps 2 --warmup 1 \
       --shape 8b --runs $RUNS --out "$OUT/train-stage.json" model.id=$M
  cp $RUNS/bench/adapter/manifest.json "$OUT/adapter-manifest.json" 2>/dev/null ;;
parity)
  # llama-cpp-python as built by `make setup` on a 2-core Debian 12 machine (glibc 2.36, GCC 12,
  # AVX-512 without AMX); a build on this host crashed at model load (BENCHMARKS.md)
  log install-llama; tar xzf .gpu/serve-libs.tgz -C /tmp/site; tar xzf .gpu/localllama/llama_cpp.tgz -C /tmp/site
  mkdir -p .assets && tar xzf .gpu/localllama/converter.tgz -C .assets
  python3 -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload())" | tee -a "$OUT/versions.txt"
  step convert 560 python3 -m convert --config $REAL model.id=$M runs_dir=$RUNS name=bench \
       "convert.quant_types=[f16,q4_k_m]" convert.parity.prompts=4 convert.parity.max_tokens=128 convert.threads=16
  cp $RUNS/bench/gguf/steps.json "$OUT/convert-steps.json" 2>/dev/null; cp $RUNS/bench/gguf/parity.json "$OUT/parity.json" 2>/dev/null ;;
serve-cpu)
  step serve-cpu 200 python3 -m bench.serve_bench --config $REAL --gpu-layers 0 --threads 16 --tokens 64 --label 8b-cpu \
       --out "$OUT/serve-cpu.json" model.id=$M runs_dir=$RUNS name=bench serve.quant=q4_k_m ;;
ceiling)
  if [ ! -d /tmp/site/unsloth ]; then
    log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  fi
  build_model
  step ceiling-stage 300 python3 -m bench.memory_ceiling --recipe stage --config $REAL --start 16384 --resolution 4096 \
       --out "$OUT/ceiling-stage.json" model.id=$M ;;
esac
log done
