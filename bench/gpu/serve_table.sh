#!/usr/bin/env bash
# The rows of BENCHMARKS.md's "Many users at once" in one session on a GPU host, run from the
# repository root after `bash tools/gpu_host.sh install` has built llama.cpp with CUDA
# (docs/gpu-host.md): 64 chat requests at once, 256 tokens each, through the serve stage and through
# bare llama-server with the arguments the stage gives it, alternated, for each setting; then vLLM
# through the serve stage when VLLM_SITE names an unpacked offline install (bench/gpu/vllm_bundle.sh)
# and MODEL_DIR an 8B-shaped model folder (bench/gpu/train_table.sh builds one).
#
#   bash bench/gpu/serve_table.sh OUTDIR VOCAB_GGUF [SETTING ...]
#
# A setting is BACKEND-QUANT-SLOTS-CTX (stage-q4_k_m-64-8192, bare-q8_0-64-1024, ...); without any, the
# table's. ROUNDS (default 2) repeats every setting, alternating. VOCAB_GGUF: a GGUF of the model's
# tokenizer (`python -m bench.gpu.random_gguf --vocab-only`).
set -u
out=${1:?usage: serve_table.sh OUTDIR VOCAB_GGUF [SETTING ...]}; vocab=${2:?usage: serve_table.sh OUTDIR VOCAB_GGUF}
shift 2
mkdir -p "$out"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LLAMA_CPP_DIR=${LLAMA_CPP_DIR:-/tmp/llama.cpp}
config=configs/r1-distill-llama-8b-medical.yaml
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(stage-q4_k_m-64-8192 bare-q4_k_m-64-8192 stage-q4_k_m-64-1024 bare-q4_k_m-64-1024
                                       stage-q8_0-64-8192 stage-q4_k_m-32-1024)
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started ))s] $*" | tee -a "$out/timeline.txt"; }

load() {  # LABEL PORT REQUESTS CONCURRENCY
  timeout 300 python3 -m bench.serve_load --base-url "http://127.0.0.1:$2/v1" --model serve8b --requests "$3" \
    --concurrency "$4" --max-tokens 256 --label "$1" --out "$out/$1.json" > "$out/$1.log" 2>&1
  say "$1 rc=$? $(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%.2f req/s, %d tokens/s, p50 %.2f s, p95 %.2f s, %d answered, %d errors" % (r["requests_per_s"], r["output_tokens_per_s"], r["latency_p50_s"], r["latency_p95_s"], r["answered"], r["error_count"]))' "$out/$1.json" 2>/dev/null)"
}
healthy() {  # PORT SECONDS
  for _ in $(seq "$2"); do curl -sf "http://127.0.0.1:$1/health" > /dev/null && return 0; sleep 1; done
  return 1
}
measure() {  # LABEL PORT PID ONE_STREAM: the load, then the server is stopped
  if healthy "$2" 300; then
    load "$1" "$2" 64 64
    [ "$4" = yes ] && load "$1-one" "$2" 8 1
  else
    say "$1: the server did not come up (see $out/$1-server.log)"
  fi
  kill "$3" 2>/dev/null; wait "$3" 2>/dev/null; sleep 2
}

for quant in $(printf '%s\n' "${settings[@]}" | cut -d- -f2 | sort -u); do
  gguf=/tmp/m8b-$quant.gguf
  [ -f "$gguf" ] || { python3 -m bench.gpu.random_gguf --vocab "$vocab" --type "$quant" --out "$gguf" > "$out/gguf-$quant.log" 2>&1
                      say "built $gguf rc=$?"; }
done

for round in $(seq "${ROUNDS:-2}"); do
  for setting in "${settings[@]}"; do
    IFS=- read -r backend quant slots ctx <<< "$setting"
    label=$setting-r$round; one=no; [ "$round" = 1 ] && one=yes
    overrides=(serve.gguf=/tmp/m8b-$quant.gguf serve.slots="$slots" serve.n_ctx="$ctx" serve.model_name=serve8b name=serve8b)
    if [ "$backend" = stage ]; then
      python3 -m serve --config "$config" "${overrides[@]}" serve.port=8202 > "$out/$label-server.log" 2>&1 &
      measure "$label" 8202 $! $one
    else
      read -r -a bare <<< "$(python3 -c 'import sys
from common.config import load_config
from serve.local import llama_server_options
from serve.llama_server import command
print(" ".join(command(llama_server_options(load_config(sys.argv[1], sys.argv[2:])), 8203)))' "$config" "${overrides[@]}")"
      echo "${bare[*]}" > "$out/$label-command.txt"
      "${bare[@]}" > "$out/$label-server.log" 2>&1 &
      measure "$label" 8203 $! $one
    fi
  done
done

if [ -n "${VLLM_SITE:-}" ] && [ -f "${MODEL_DIR:-/tmp/m8b}/config.json" ]; then
  python3 bench/gpu/serve_run.py --config "$config" --model "${MODEL_DIR:-/tmp/m8b}" runs_dir=/tmp/runs name=serve8b \
    > "$out/serve-run.log" 2>&1 || say "serve_run failed (see $out/serve-run.log)"
  PYTHONPATH=$VLLM_SITE:$PYTHONPATH python3 -m serve --config "$config" serve.backend=vllm runs_dir=/tmp/runs \
    name=serve8b serve.port=8204 serve.model_name=serve8b > "$out/vllm-server.log" 2>&1 &
  pid=$!
  if healthy 8204 600; then
    load vllm-bf16-r1 8204 64 64; load vllm-bf16-r2 8204 64 64; load vllm-bf16-one 8204 8 1
  else
    say "vLLM did not come up (see $out/vllm-server.log)"
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  pkill -f vllm.entrypoints  # a serve stage stopped by a signal leaves vLLM's own process behind
fi
say "done"
