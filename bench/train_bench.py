"""Training throughput of one recipe on medical-o1-shaped rows; one recipe per process.

  trl       transformers + PEFT + TRL SFTTrainer, padding to the longest row, batch 2, accumulation 4
            (QLoRA with bitsandbytes NF4 on CUDA, fp32/bf16 LoRA on CPU)
  unsloth   the Unsloth notebook recipe: QLoRA r=16, batch 2, accumulation 4, no packing (CUDA only)
  stage     this project's train stage with its defaults (packing, auto micro-batch, Unsloth on CUDA)
  stage-bf16  the same, bf16 LoRA instead of QLoRA

Real tokens are the non-padding tokens; throughput is measured after `--warmup` steps.
`--limit-gib G` lets the recipe's process use at most G GiB of the GPU (a consumer card on a big one).

    python -m bench.train_bench --recipe trl --config FILE --rows N --steps N [--limit-gib G] --out result.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.config import load_config
from common.layout import PROJECT_ROOT

# Llama-3.1-8B under LoRA at the ~790 TFLOP/s a dense bf16 matmul reaches on an H100/H200: about
# 6 x 7.5e9 FLOPs per token (forward, input gradients, and the forward again that checkpointing
# recomputes) bound it near 16,000 tokens/s; without recomputation 4 x 7.5e9, near 24,000.
BOUND_TOKENS_PER_S = {"8b": 16_000}
BOUND_WITHOUT_RECOMPUTATION = 6 / 4
EPOCH_ROWS = 19704  # medical-o1 `en`
MEAN_ROW_TOKENS = 737
GPU_ONLY = {"unsloth": "Unsloth needs a CUDA GPU",
            "stage-bf16": "the bf16 LoRA variant of the QLoRA default needs a CUDA GPU"}


def cap_gpu_memory(limit_gib: float, with_unsloth: bool) -> None:
    """At most `limit_gib` of the GPU for this process, set before the model loads: the caching
    allocator raises out-of-memory past it, as a card of that size would. A recipe that runs on
    Unsloth imports it first: Unsloth turns on the allocator's expandable segments, which the
    first use of CUDA (the cap is one) fixes for the process, and a capped run should keep the
    allocator an uncapped one has."""
    if with_unsloth:
        import unsloth  # noqa: F401
    import torch

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, limit_gib * 2**30 / total))


# the train stage in its own process, capped first (the cap is per process): argv carries the cap
# and the backend the stage resolves to
CAPPED_TRAIN = ("import runpy, sys; from bench.train_bench import cap_gpu_memory; "
                "cap_gpu_memory(float(sys.argv.pop(1)), sys.argv.pop(1) == 'unsloth'); "
                "runpy.run_module('train', run_name='__main__')")


def _common_lora(config):
    return dict(r=16, lora_alpha=16, lora_dropout=0.0, bias="none", target_modules=list(config.lora.target_modules))


def _text_rows(path: Path, tokenizer) -> list[dict]:
    """Full-sequence text rows as the notebooks build them (chat-rendered question and answer)."""
    from common.chat_format import ChatFormat

    chat = ChatFormat.of_tokenizer(tokenizer)
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        prompt, completion = chat.training_pair(row["Question"], row["Complex_CoT"], row["Response"])
        out.append({"prompt": prompt, "completion": completion})
    return out


def load_baseline_model(recipe: str, config, max_seq_length: int, cuda: bool):
    """The model of a baseline recipe as its users build it: Unsloth's notebook (QLoRA, offloaded
    checkpointing), or transformers + PEFT (bitsandbytes NF4 QLoRA on CUDA, LoRA on CPU)."""
    import torch

    if recipe == "unsloth":
        import unsloth  # noqa: F401
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(config.model.id, max_seq_length=max_seq_length,
                                                             load_in_4bit=True, dtype=None)
        return FastLanguageModel.get_peft_model(model, use_gradient_checkpointing="unsloth", random_state=3407,
                                                **_common_lora(config)), tokenizer
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"dtype": torch.bfloat16 if cuda else torch.float32, "attn_implementation": "sdpa"}
    if cuda:
        from transformers import BitsAndBytesConfig

        kwargs.update(device_map={"": 0}, quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16))
    model = AutoModelForCausalLM.from_pretrained(config.model.id, **kwargs)
    if cuda:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **_common_lora(config)))
    return model, AutoTokenizer.from_pretrained(config.model.id)


def run_hf_recipe(recipe: str, config, rows_path: Path, steps: int, warmup: int, limit_gib: float | None) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    if recipe == "unsloth" and not cuda:
        return {"skipped": GPU_ONLY[recipe]}
    if limit_gib and cuda:
        cap_gpu_memory(limit_gib, with_unsloth=recipe == "unsloth")
    model, tokenizer = load_baseline_model(recipe, config, config.model.max_seq_length, cuda)
    from datasets import Dataset
    from trl import SFTConfig

    from common.reasoning import PAD
    from train.callbacks import StepTimer
    from train.trainer import PortableSFTTrainer

    tokenizer.pad_token = PAD  # so that "non-padding tokens" are exactly the real ones
    timer = StepTimer(warmup_steps=warmup - 1)  # measured from the end of the last warm-up step

    args = SFTConfig(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=2, gradient_accumulation_steps=4,
        max_steps=warmup + steps, learning_rate=2e-4, logging_steps=1, packing=False, padding_free=False,
        max_length=config.model.max_seq_length, bf16=cuda, use_cpu=not cuda, report_to=[], save_strategy="no",
        include_num_input_tokens_seen="non_padding", optim="adamw_8bit" if cuda else "adamw_torch",
        disable_tqdm=True, dataloader_num_workers=0, gradient_checkpointing=False, seed=3407,
    )
    trainer = PortableSFTTrainer(model=model, args=args, processing_class=tokenizer, callbacks=[timer],
                                 train_dataset=Dataset.from_list(_text_rows(rows_path, tokenizer)))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    return {"real_tokens_per_s": timer.steady_tokens_per_second(),
            "peak_gpu_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None,
            "measured_steps": steps, "micro_batch": 2, "gradient_accumulation": 4, "packing": False}


def run_stage_recipe(recipe: str, config_file: str, rows_path: Path, steps: int, warmup: int, extra: list[str],
                     runs: Path | None = None, limit_gib: float | None = None) -> dict:
    import torch

    if recipe == "stage-bf16" and not torch.cuda.is_available():
        return {"skipped": GPU_ONLY[recipe]}
    runs = runs or Path(tempfile.mkdtemp())
    overrides = [f"runs_dir={runs}", "name=bench", f"data.source={rows_path}", "data.expected_rows=null",
                 "data.replay=null", "data.validation_fraction=0.01", f"train.max_steps={warmup + steps}",
                 "train.save_every=100000", "train.logging_every=1", "train.report_to=none", *extra]
    if recipe == "stage-bf16":
        overrides.append("lora.load_in_4bit=false")
    started = time.perf_counter()
    # the stage's own output goes to this process's (the benchmark log)
    entry = ["-m", "train"]
    if limit_gib and torch.cuda.is_available():
        from train.model import resolve_placement

        backend = resolve_placement(load_config(config_file, overrides)).backend
        entry = ["-c", CAPPED_TRAIN, str(limit_gib), backend]
    result = subprocess.run([sys.executable, *entry, "--config", config_file, *overrides], cwd=PROJECT_ROOT)
    if result.returncode != 0:
        return {"error": f"the train stage exited with code {result.returncode}"}
    manifest = json.loads((runs / "bench" / "adapter" / "manifest.json").read_text())
    figures = manifest["results"]
    return {"real_tokens_per_s": figures["steady_tokens_per_second"] or figures["tokens_per_second"],
            "peak_gpu_gib": figures["peak_gpu_memory_gib"], "measured_steps": steps,
            "micro_batch": manifest["placement"]["micro_batch_size"],
            "gradient_accumulation": manifest["placement"]["gradient_accumulation_steps"], "packing": True,
            "backend": manifest["placement"]["backend"],
            "gradient_checkpointing": manifest["placement"]["gradient_checkpointing"],
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["trl", "unsloth", "stage", "stage-bf16"], required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=None, help="keep the stage's run here (for convert)")
    parser.add_argument("--limit-gib", type=float, default=None, help="GPU memory cap of the recipe's process")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    from transformers import AutoTokenizer

    from bench.data import write_rows

    tokenizer = AutoTokenizer.from_pretrained(config.model.id)
    rows_path = Path(tempfile.mkdtemp()) / "rows.jsonl"
    shape = write_rows(rows_path, args.rows, config.model.max_seq_length, tokenizer)
    if args.recipe in ("trl", "unsloth"):
        result = run_hf_recipe(args.recipe, config, rows_path, args.steps, args.warmup, args.limit_gib)
    else:
        result = run_stage_recipe(args.recipe, args.config, rows_path, args.steps, args.warmup, args.overrides,
                                  args.runs, args.limit_gib)
    rate = result.get("real_tokens_per_s")
    if rate:
        result["epoch_hours"] = EPOCH_ROWS * MEAN_ROW_TOKENS / rate / 3600
        bound = BOUND_TOKENS_PER_S.get(args.shape)
        if bound and result.get("gradient_checkpointing") == "off":  # the baselines all recompute
            bound *= BOUND_WITHOUT_RECOMPUTATION
        result["bound_tokens_per_s"] = bound
        result["fraction_of_bound"] = rate / bound if bound else None
    result.update({"recipe": args.recipe, "data": shape, "shape": args.shape, "limit_gib": args.limit_gib,
                   "overrides": args.overrides})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
