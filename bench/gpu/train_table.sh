#!/usr/bin/env bash
# The rows of BENCHMARKS.md's "Training throughput, 8B" in one session on a GPU host, run from the
# repository root after `bash tools/gpu_host.sh install` (docs/gpu-host.md). Each row runs in its own
# process; a row whose result is already in OUTDIR is skipped, so a session cut short goes on where
# it stopped. The timeline and each row's figures go to OUTDIR/timeline.txt.
#
#   bash bench/gpu/train_table.sh OUTDIR [ROW ...]      (no ROW: every row, in the table's order)
#
# Rows: trl unsloth stage stage-24gib stage-offloaded stage-offloaded-24gib stage-offloaded-24gib-mb2 stage-bf16
#       stage-mb4 profile profile-per-row gpu-tests
# stage-mb4 is QLoRA at the micro-batch the probe gives bf16 LoRA on an 80 GB card, for a like-for-like pair;
# profile-per-row is the profile's "before": the per-row attention torch 2.11 gets without the varlen path.
# MODEL_DIR (default /tmp/m8b) holds the 8B-shaped model; it is built there when missing.
set -u
out=${1:?usage: train_table.sh OUTDIR [ROW ...]}; shift
mkdir -p "$out"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
export PIPELINE_ASSETS=${PIPELINE_ASSETS:-/tmp/assets}
model=${MODEL_DIR:-/tmp/m8b}
common=(--config configs/r1-distill-llama-8b-medical.yaml --rows 1600 --steps 6 --warmup 2 --shape 8b)
offloaded=train.gradient_checkpointing=unsloth
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started ))s] $*" | tee -a "$out/timeline.txt"; }

declare -A row_args=(
  [trl]="--recipe trl"
  [unsloth]="--recipe unsloth"
  [stage]="--recipe stage"
  [stage-24gib]="--recipe stage --limit-gib 24"
  [stage-offloaded]="--recipe stage $offloaded"
  [stage-offloaded-24gib]="--recipe stage --limit-gib 24 $offloaded"
  [stage-offloaded-24gib-mb2]="--recipe stage --limit-gib 24 $offloaded train.micro_batch_size=2"
  [stage-bf16]="--recipe stage-bf16"
  [stage-mb4]="--recipe stage train.micro_batch_size=4"
)
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(trl unsloth stage stage-24gib stage-offloaded stage-offloaded-24gib stage-offloaded-24gib-mb2
                                stage-bf16 stage-mb4 profile profile-per-row gpu-tests)

if [ ! -f "$model/config.json" ]; then
  python3 tools/build_tiny_model.py --shape 8b --device cuda --out "$model" \
    --tokenizer-from "$PIPELINE_ASSETS/tiny-r1-llama" > "$out/model.log" 2>&1
  say "built $model rc=$?"
fi

figures() {  # the result's headline, for the timeline
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%s tokens/s, %s GiB, micro-batch %s, checkpointing %s" % (format(round(r["real_tokens_per_s"]), ","), r["peak_gpu_gib"], r["micro_batch"], r.get("gradient_checkpointing")))' "$1" 2>/dev/null
}

for row in "${rows[@]}"; do
  case "$row" in
    profile|profile-per-row)  # what the defaults run on a card of this size: 8 x 2,048 packed tokens without checkpoints
      varlen=1; [ "$row" = profile-per-row ] && varlen=0
      UNSLOTH_TORCH_VARLEN=$varlen timeout 420 python3 -m bench.train_profile --config configs/r1-distill-llama-8b-medical.yaml \
        --out "$out/profile" model.id="$model" train.gradient_checkpointing=off > "$out/$row.log" 2>&1
      say "$row rc=$? $(grep -m1 'tokens_per_s' "$out/$row.log")" ;;
    gpu-tests)
      timeout 420 python3 -m pytest -q -p no:cacheprovider tests/gpu > "$out/gpu-tests.log" 2>&1
      say "gpu-tests rc=$? $(tail -1 "$out/gpu-tests.log")" ;;
    *)
      [ -n "${row_args[$row]:-}" ] || { say "unknown row $row"; continue; }
      result="$out/train-$row.json"
      [ -f "$result" ] && { say "$row: already measured"; continue; }
      read -r -a flags <<< "${row_args[$row]}"
      overrides=(); recipe=()
      for word in "${flags[@]}"; do [[ "$word" == *=* ]] && overrides+=("$word") || recipe+=("$word"); done
      # a cold torch.compile cache makes the first Unsloth row of a fresh host take minutes longer
      timeout 600 python3 -m bench.train_bench "${recipe[@]}" "${common[@]}" --out "$result" model.id="$model" \
        "${overrides[@]}" > "$out/train-$row.log" 2>&1
      say "$row rc=$? $(figures "$result")" ;;
  esac
done
