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
#   bash bench/gpu/host.sh speed      (2) and (3) over 15 measured steps each, for the 2.5x target
#   bash bench/gpu/host.sh ceiling2   24 GiB ceilings of (3) and (2) with the model in training mode
# Serving on the GPU (issues 5 and 9), one warm host, calls in this order:
#   bash bench/gpu/host.sh gpu-prep   start the CUDA llama-cpp-python build (background, if its source came), 8B model, serve run folder
#   bash bench/gpu/host.sh gguf       start the 8B q4_k_m GGUF (background, llama-cpp-python of make setup)
#   bash bench/gpu/host.sh part       keep the vLLM bundle parts carried in this call (one call per part)
#   bash bench/gpu/host.sh vllm       install vLLM from the parts; both vLLM forms: checks, eval, load
#   bash bench/gpu/host.sh llama-gpu  the llama.cpp server with all layers on the GPU: checks, speed, load
# H200 run, 2026-12-02 (one warm host, three calls):
#   bash bench/gpu/host.sh h200-train       .gpu/b: (2), (3) with its defaults, (3) at the former micro-batch 8
#   bash bench/gpu/host.sh h200-serve-prep  .gpu/a (+ .gpu/tok on a fresh host): CUDA llama-cpp-python build and
#                                           f16 GGUF in the background, (1)'s 24 GiB ceiling meanwhile where
#                                           .gpu/b came in an earlier call, then q4_k_m
#   bash bench/gpu/host.sh h200-serve       serve speed (library, same loop, server) at 256 and 1024 tokens
set -uo pipefail
phase=${1:?phase}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=/tmp/site:$PWD
REAL=configs/r1-distill-llama-8b-medical.yaml
M=/tmp/m8b
RUNS=/tmp/runs8b
VRUN=(runs_dir=/tmp/runs8b name=serve8b model.id=$M)
log() { echo "== $(date +%T) $*"; }
# every call must end inside the device's 600 s: no step may run past this phase's deadline
DEADLINE=$(( $(date +%s) + ${PHASE_SECONDS:-575} ))
step() {
  local name=$1 limit=$2; shift 2
  local left=$(( DEADLINE - $(date +%s) - 5 )); [ "$left" -lt "$limit" ] && limit=$left
  [ "$limit" -le 10 ] && { log "$name skipped: no time left in this call"; return; }
  log "$name (at most ${limit} s)"; timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; echo "rc=$?" >> "$OUT/$name.log"; tail -n 3 "$OUT/$name.log"
}
install_train() {
  [ -d /tmp/site/unsloth ] || [ ! -d .gpu/b ] && return
  log install; bash .gpu/install.sh .gpu/b /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/b/pydantic.tgz -C /tmp/site
}
build_model() {  # the 8B-shaped random model with the real tokenizer, once per warm host; its head never
  # picks a byte fragment or EOS (tools/build_tiny_model.py --text-head), so greedy output is text
  [ -f $M/config.json ] && return
  mkdir -p /tmp/tok && cp .gpu/tok/*.json .gpu/tok/*.jinja /tmp/tok/ && xz -dc .gpu/tok/tokenizer.json.xz > /tmp/tok/tokenizer.json
  step build-8b 300 python3 tools/build_tiny_model.py --shape 8b --device cuda --out $M --tokenizer-from /tmp/tok --text-head
}

quantize_q4() {  # the 8B f16 GGUF to q4_k_m with the CUDA llama-cpp-python, named only once whole
  step quantize 95 env PYTHONPATH=/tmp/site-gpu:/tmp/serve-libs:$PWD python3 -c "from pathlib import Path; from convert.gguf_export import quantize; quantize(Path('/tmp/m8b-f16.gguf'), Path('/tmp/m8b-q4_k_m.part'), 'q4_k_m', 16, Path('/tmp/quantize.log'))"
  grep -qx "rc=0" "$OUT/quantize.log" && mv /tmp/m8b-q4_k_m.part /tmp/m8b-q4_k_m.gguf
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
ceiling2)
  if [ ! -d /tmp/site/unsloth ]; then
    log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  fi
  build_model
  step ceiling2-stage 270 python3 -m bench.memory_ceiling --recipe stage --config $REAL --start 8192 --resolution 8192 \
       --out "$OUT/ceiling2-stage.json" model.id=$M
  step ceiling2-unsloth 200 python3 -m bench.memory_ceiling --recipe unsloth --config $REAL --start 8192 --resolution 8192 \
       --out "$OUT/ceiling2-unsloth.json" model.id=$M ;;
speed)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  log install; bash .gpu/install.sh .gpu /tmp/site > "$OUT/install.log" 2>&1; tar xzf .gpu/pydantic.tgz -C /tmp/site
  build_model
  step train-unsloth-15 200 python3 -m bench.train_bench --recipe unsloth --config $REAL --rows 400 --steps 15 \
       --warmup 3 --shape 8b --out "$OUT/train-unsloth-15.json" model.id=$M
  step train-stage-15 300 python3 -m bench.train_bench --recipe stage --config $REAL --rows 2400 --steps 15 \
       --warmup 3 --shape 8b --out "$OUT/train-stage-15.json" model.id=$M ;;
gpu-prep)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  { gcc --version | head -1; nvcc --version | tail -2; python3 -VV; ldd --version | head -1
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; ldconfig -p | grep -E "libstdc\+\+|libggml|libllama" ;
    python3 -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)"; } \
    > "$OUT/host-toolchain.txt" 2>&1
  mkdir -p /tmp/site-gpu /tmp/site && tar xzf .gpu/pydantic.tgz -C /tmp/site
  # A host build loaded no GGUF in the last run (segfault in llama.cpp's model summary, a C++
  # stringstream); this one links libstdc++ statically, in case the host's runtime one is older.
  b=/tmp/llama-build; rm -rf $b; mkdir -p $b
  [ -f .gpu/llama-cpp-python-src.tgz ] && tar xzf .gpu/llama-cpp-python-src.tgz -C $b && \
  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=off -DGGML_NATIVE=OFF -DGGML_AVX512=ON -DCMAKE_SHARED_LINKER_FLAGS=-static-libstdc++" \
    setsid nohup python3 -m pip install -v --no-deps --no-build-isolation --no-index --target /tmp/site-gpu $b/llama_cpp_python-*/ \
    > /tmp/llama-build.log 2>&1 < /dev/null &
  build_model
  step serve-run 200 python3 bench/gpu/serve_run.py --config $REAL --model $M "${VRUN[@]}"
  ls -la /tmp/runs8b/serve8b/adapter | tee -a "$OUT/serve-run.log" ;;
gguf)
  ps aux | grep -c "[p]ip install" ; tail -n 3 /tmp/llama-build.log
  mkdir -p /tmp/site-cpu /tmp/serve-libs && tar xzf .gpu/localllama/llama_cpp.tgz -C /tmp/site-cpu && tar xzf .gpu/serve-libs.tgz -C /tmp/serve-libs
  mkdir -p .assets && tar xzf .gpu/localllama/converter.tgz -C .assets && rm -rf /tmp/converter && cp -r .assets /tmp/converter
  cat > /tmp/make-gguf.sh <<EOS
export PYTHONPATH=/tmp/site-cpu:/tmp/site:$PWD
cd $PWD
time python3 /tmp/converter/llama.cpp-0.3.36/convert_hf_to_gguf.py $M --outtype f16 --outfile /tmp/m8b-f16.gguf
python3 -c "from pathlib import Path; from convert.gguf_export import quantize; quantize(Path('/tmp/m8b-f16.gguf'), Path('/tmp/m8b-q4_k_m.part'), 'q4_k_m', 16, Path('/tmp/quantize.log'))" && mv /tmp/m8b-q4_k_m.part /tmp/m8b-q4_k_m.gguf && rm /tmp/m8b-f16.gguf
echo gguf-done
EOS
  setsid nohup bash /tmp/make-gguf.sh > /tmp/gguf.log 2>&1 < /dev/null &
  sleep 5; tail -n 2 /tmp/gguf.log ;;
part)
  mkdir -p /tmp/vparts && cp .gpu/vllm/vllm-site.tgz.part-* /tmp/vparts/ && ls /tmp/vparts | tr '\n' ' '; echo
  tail -n 1 /tmp/llama-build.log 2>/dev/null | cut -c1-100; tail -n 1 /tmp/gguf.log 2>/dev/null | cut -c1-100 ;;
vllm)
  if [ ! -d /tmp/vsite/vllm ]; then
    log install-vllm; mkdir -p /tmp/vsite; cat /tmp/vparts/vllm-site.tgz.part-* | tar xz -C /tmp/vsite || exit 1
  fi
  # llguidance and apache-tvm-ffi came as this extra tarball in the 2026-11-23 run (the parts were
  # made before they were found missing; vllm-requirements.txt now lists them); datasets for the
  # eval harness's question file, from the train bundle
  [ -f .gpu/vllm/llguidance.tgz ] && tar xzf .gpu/vllm/llguidance.tgz -C /tmp/vsite
  [ -f .gpu/train-libs.tgz ] && mkdir -p /tmp/train-libs && tar xzf .gpu/train-libs.tgz -C /tmp/train-libs
  # FlashInfer (a JIT-compiled kernel library) is left out of the bundle; vLLM samples without it
  # (the serve stage sets this itself when flashinfer is missing; here for the bare vllm import too)
  export PYTHONPATH=/tmp/vsite:$PWD:/tmp/train-libs VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 VLLM_USE_FLASHINFER_SAMPLER=0
  python3 -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" 2>&1 | tail -1 | tee "$OUT/vllm-versions.txt"
  for form in merged adapter; do
    port=8100; url=http://127.0.0.1:$port
    extra=(); [ $form = adapter ] && extra=("serve.vllm.extra_args=[--enforce-eager]")
    log "vllm-$form"
    setsid python3 -m serve --config $REAL "${VRUN[@]}" serve.backend=vllm serve.vllm.source=$form serve.port=$port \
      serve.vllm.max_model_len=4096 serve.vllm.gpu_memory_utilization=0.85 "${extra[@]}" > "$OUT/vllm-$form.log" 2>&1 &
    pid=$!
    for i in $(seq 1 150); do curl -sf $url/health > /dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 2; done
    grep -E "vLLM is serving|Error|error" "$OUT/vllm-$form.log" | head -n 5
    model=serve8b  # the merged model's name, and the adapter's name in the LoRA form
    step vllm-$form-check 120 python3 -m bench.endpoint_check --base-url $url --model $model --out "$OUT/vllm-$form-check.json"
    step vllm-$form-eval 240 python3 -m eval run --config $REAL --endpoint $url/v1 --model $model --label vllm-$form \
      "${VRUN[@]}" eval.limit=32 eval.max_tokens=256 eval.concurrency=32
    [ $form = merged ] && step vllm-load 180 python3 -m bench.serve_load --base-url $url/v1 --model $model --label vllm-merged \
      --out "$OUT/load-vllm.json"
    kill -- -$pid 2>/dev/null; sleep 5; kill -9 -- -$pid 2>/dev/null; sleep 2
  done
  cp -r /tmp/runs8b/serve8b/eval "$OUT/eval-vllm" 2>/dev/null ;;
serve-gpu)
  export PYTHONPATH=/tmp/site-gpu:/tmp/serve-libs:/tmp/site:$PWD
  step serve-gpu-eos 200 python3 -m bench.serve_bench --config $REAL --gpu-layers -1 --threads 16 --label 8b-gpu --allow-eos \
       --out "$OUT/serve-gpu-eos.json" "${VRUN[@]}" serve.gguf=/tmp/m8b-q4_k_m.gguf serve.model_name=serve8b ;;
llama-gpu)
  tail -n 3 /tmp/llama-build.log; tail -n 2 /tmp/gguf.log
  export PYTHONPATH=/tmp/site-gpu:/tmp/serve-libs:/tmp/site:$PWD
  python3 -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload())" | tee "$OUT/llama-gpu-versions.txt"
  step llama-load-test 120 python3 -X faulthandler -c "from llama_cpp import Llama; l=Llama('/tmp/m8b-q4_k_m.gguf', n_gpu_layers=-1, n_ctx=512, verbose=False); print('loaded', l.n_vocab())"
  G=(serve.gguf=/tmp/m8b-q4_k_m.gguf serve.model_name=serve8b)
  step serve-gpu 200 python3 -m bench.serve_bench --config $REAL --gpu-layers -1 --threads 16 --label 8b-gpu \
       --out "$OUT/serve-gpu.json" "${VRUN[@]}" "${G[@]}"
  port=8200; url=http://127.0.0.1:$port
  setsid python3 -m serve --config $REAL "${VRUN[@]}" "${G[@]}" serve.port=$port serve.n_ctx=4096 > "$OUT/llama-server.log" 2>&1 &
  pid=$!
  for i in $(seq 1 60); do curl -sf $url/health > /dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 2; done
  step llama-check 120 python3 -m bench.endpoint_check --base-url $url --model serve8b --out "$OUT/llama-gpu-check.json"
  step llama-load 300 python3 -m bench.serve_load --base-url $url/v1 --model serve8b --label llama-cpp-gpu --out "$OUT/load-llama.json"
  kill -- -$pid 2>/dev/null ;;
h200-train)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  { lscpu | grep -E "Model name|^CPU\(s\)"; grep -o -m1 -w avx512f /proc/cpuinfo; } > "$OUT/cpu.txt"
  install_train
  python3 -c "import torch, transformers, trl, unsloth, bitsandbytes; print(torch.__version__, transformers.__version__, trl.__version__, unsloth.__version__, bitsandbytes.__version__)" 2>&1 | tail -1 | tee "$OUT/versions.txt"
  build_model
  step train-unsloth 150 python3 -m bench.train_bench --recipe unsloth --config $REAL --rows 400 --steps 15 \
       --warmup 3 --shape 8b --out "$OUT/train-unsloth.json" model.id=$M
  step train-stage 190 python3 -m bench.train_bench --recipe stage --config $REAL --rows 2400 --steps 15 \
       --warmup 3 --shape 8b --out "$OUT/train-stage.json" model.id=$M
  step train-stage-mb8 260 python3 -m bench.train_bench --recipe stage --config $REAL --rows 2400 --steps 10 \
       --warmup 3 --shape 8b --out "$OUT/train-stage-mb8.json" model.id=$M train.micro_batch_size=8 ;;
h200-serve-prep)
  install_train; build_model
  mkdir -p /tmp/serve-libs /tmp/site-gpu && tar xzf .gpu/a/serve-libs.tgz -C /tmp/serve-libs
  src=/tmp/llama-src; rm -rf $src; mkdir -p $src && tar xzf .gpu/a/llama-cpp-python-src.tgz -C $src
  src=$(ls -d $src/llama_cpp_python-*/)
  # libstdc++ linked statically: the host compiles with /opt/gcc's GCC but loads the system's
  # runtime, and a shared link crashed at model load (BENCHMARKS.md, third H100 run)
  avx512=$(grep -q -m1 -w avx512f /proc/cpuinfo && echo ON || echo OFF)
  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=off -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=$avx512 -DCMAKE_SHARED_LINKER_FLAGS=-static-libstdc++" \
    setsid nohup nice python3 -m pip install -v --no-deps --no-build-isolation --no-index --target /tmp/site-gpu $src \
    > /tmp/llama-build.log 2>&1 < /dev/null &
  build_pid=$!; echo $build_pid > /tmp/llama-build.pid
  ( time PYTHONPATH=$src/vendor/llama.cpp/gguf-py nice python3 $src/vendor/llama.cpp/convert_hf_to_gguf.py $M \
      --outtype f16 --outfile /tmp/m8b-f16.gguf ) > "$OUT/gguf-f16.log" 2>&1 &
  f16_pid=$!
  # a memory figure, not a speed one: the builds running beside it do not change it (only
  # where the train bundles came: the serve calls need none of them)
  [ -d /tmp/site/unsloth ] && step ceiling-trl 200 python3 -m bench.memory_ceiling --recipe trl --config $REAL --start 8192 --resolution 8192 \
       --out "$OUT/ceiling-trl.json" model.id=$M
  log "waiting for the f16 GGUF and the CUDA build"; wait $f16_pid; tail -n 4 "$OUT/gguf-f16.log"
  while kill -0 $build_pid 2>/dev/null && [ $(( DEADLINE - $(date +%s) )) -gt 100 ]; do sleep 5; done
  tail -n 3 /tmp/llama-build.log | cut -c1-200 | tee "$OUT/llama-build-tail.log"
  quantize_q4; ls -la /tmp/*.gguf ;;
h200-serve)
  export PYTHONPATH=/tmp/site-gpu:/tmp/serve-libs:/tmp/site:$PWD
  # the prep call stops waiting for the CUDA build 100 s before its deadline; on a slow host the
  # build and the q4_k_m are finished here (by pid: a pattern would also match this script's own line)
  while [ -f /tmp/llama-build.pid ] && kill -0 "$(cat /tmp/llama-build.pid)" 2>/dev/null; do sleep 2; done
  [ -f /tmp/m8b-q4_k_m.gguf ] || quantize_q4
  G=(serve.gguf=/tmp/m8b-q4_k_m.gguf serve.model_name=serve8b name=serve8b)
  python3 -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload())" | tee "$OUT/llama-gpu-versions.txt"
  # the bare decode loop at three CPU thread counts, all layers on the GPU (what serve.n_threads should be there)
  step threads 60 python3 -c "
import time; from llama_cpp import Llama
for threads in (1, 4, 15):
    l = Llama('/tmp/m8b-q4_k_m.gguf', n_gpu_layers=-1, n_threads=threads, n_ctx=1024, verbose=False)
    ids = l.tokenize(b'A 64-year-old woman with chest pain.', add_bos=True)
    for count, _ in enumerate(l.generate(ids, temp=0.0)):
        if count == 0: start = time.perf_counter()
        if count == 256: break
    print(threads, 'threads', round(256 / (time.perf_counter() - start), 1), 'tokens/s', flush=True); l.close()"
  step serve-gpu 300 python3 -m bench.serve_bench --config $REAL --gpu-layers -1 --threads 15 --allow-eos --tokens 256 \
       --long-tokens 1024 --label 8b-gpu --out "$OUT/serve-gpu.json" "${G[@]}" ;;
esac
log done
