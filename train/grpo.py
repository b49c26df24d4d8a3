"""GRPO on verifiable multiple-choice questions: `make grpo`.

Starts from the run's SFT adapter (or a fresh LoRA on the base), samples `num_generations`
completions per question, rewards them with train/rewards.py (the eval harness's parsing), and
writes an adapter with a train-stage manifest under runs/<name>-grpo/, so convert/ and serve/
take it unchanged: `make convert ARGS="name=<name>-grpo"`.
On CUDA, Unsloth patches TRL's GRPOTrainer (vLLM generation when vLLM is installed); on CPU it is
TRL's GRPOTrainer on the tiny model.
"""

from __future__ import annotations

import importlib.util
import json
import time

from common.chat_format import ChatFormat
from common.config import RunConfig, config_as_dict
from common.data import load_table, source_fingerprint
from common.errors import UserError
from common.layout import HELDOUT_FILE, RunLayout
from common.manifests import read_adapter_manifest
from common.reasoning import format_choice_question
from train.base_model import TrainingBase, resolve_training_base, trained_against, training_base_of
from train.lifecycle import (
    logging_env,
    peak_gpu_gib,
    quiet_console,
    resolve_precision,
    run_trainer,
    start_or_resume,
    stop_if_interrupted,
    write_adapter,
)
from train.model import (
    check_model_source,
    keep_4bit_layers_differentiable,
    load_tokenizer,
    lora_kwargs,
    resolve_placement,
)

COLUMNS = {"question": "question", "options": "options", "answer": "answer"}


def grpo_prompt(tokenizer, question: str) -> str:
    """The served prompt as TRL must be given it: TRL tokenizes text prompts with the tokenizer's
    special tokens on, so a BOS the tokenizer adds itself is left out of the text (kept, it would
    be doubled)."""
    rendered = ChatFormat.of_tokenizer(tokenizer).prompt(question)
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    return rendered[len(bos):] if adds_bos and rendered.startswith(bos) else rendered


def load_questions(config: RunConfig, tokenizer) -> tuple[object, dict]:
    table = load_table(config.grpo.source, COLUMNS, max_rows=config.grpo.max_rows)
    rows, dropped = [], 0
    for row in table:
        options = {k: v for k, v in (row["options"] or {}).items() if v}
        if row["answer"] not in options:
            raise UserError(f"{config.grpo.source}: answer {row['answer']!r} is not one of the options {sorted(options)}")
        question = format_choice_question(row["question"], options)
        prompt = grpo_prompt(tokenizer, question)
        if len(tokenizer(prompt)["input_ids"]) > config.grpo.max_prompt_length:
            dropped += 1
            continue
        rows.append({"prompt": prompt, "question": question, "answer": row["answer"], "options": options})
    if not rows:
        raise UserError(f"{config.grpo.source}: no question fits grpo.max_prompt_length")
    from datasets import Dataset

    return Dataset.from_list(rows), {"rows_in": len(table), "dropped_too_long": dropped, "rows_kept": len(rows)}


def check_prompt_tokens(tokenizer, sample_prompt: str, question_text: str) -> None:
    """Refuse to train if TRL would see other tokens than the served prompt (double BOS and the like)."""
    trl_ids = tokenizer(sample_prompt)["input_ids"]
    served = tokenizer.apply_chat_template([{"role": "user", "content": question_text}], add_generation_prompt=True)
    if trl_ids != list(served["input_ids"]):
        raise UserError("GRPO prompt tokens differ from the served prompt's; the tokenizer's BOS handling is not "
                        "its chat template's")


def _load_policy(config: RunConfig, base: TrainingBase, start_adapter, device: str, backend: str):
    """The policy on the weights the SFT adapter was trained against (or, from the base, on the
    weights train/base_model.py resolves), so the GRPO adapter merges onto a known base too."""
    import torch

    if backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(base.weights.dir), use_exact_model_name=True,
            max_seq_length=config.grpo.max_prompt_length + config.grpo.max_completion_length,
            load_in_4bit=config.lora.load_in_4bit, fast_inference=_use_vllm(config, device),
            max_lora_rank=config.lora.r,
        )
        if start_adapter is None:
            model = FastLanguageModel.get_peft_model(model, use_gradient_checkpointing="unsloth",
                                                     random_state=config.train.seed, **lora_kwargs(config))
        else:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, start_adapter, is_trainable=True)
        return model, tokenizer
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    kwargs = {}
    if config.lora.load_in_4bit and not base.prequantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    policy_base = AutoModelForCausalLM.from_pretrained(base.weights.dir, dtype=dtype,
                                                       device_map={"": 0 if device == "cuda" else "cpu"}, **kwargs)
    if device == "cpu":
        keep_4bit_layers_differentiable(policy_base)
    if start_adapter is not None:
        model = PeftModel.from_pretrained(policy_base, start_adapter, is_trainable=True)
    else:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(policy_base, LoraConfig(task_type="CAUSAL_LM", **lora_kwargs(config)))
    return model, load_tokenizer(base)


def _use_vllm(config: RunConfig, device: str) -> bool:
    available = device == "cuda" and importlib.util.find_spec("vllm") is not None
    if config.grpo.use_vllm == "on" and not available:
        raise UserError("grpo.use_vllm: on, but vLLM is not installed or there is no CUDA GPU")
    return available if config.grpo.use_vllm == "auto" else config.grpo.use_vllm == "on"


def run_grpo(config: RunConfig) -> None:
    started = time.perf_counter()
    placement = resolve_placement(config)
    if placement.backend == "unsloth":
        import unsloth  # noqa: F401  (patches TRL's GRPOTrainer; must come before trl)
    layout = RunLayout.for_run(config.runs_dir, config.name)
    start_adapter = layout.adapter if config.grpo.start_from == "sft_adapter" else None
    if start_adapter is not None:
        sft = read_adapter_manifest(start_adapter, "run `make train` first, or set grpo.start_from=base")
        base = training_base_of(sft, config)
    else:
        base = resolve_training_base(config, placement.backend)
    check_model_source(config, base)
    tokenizer = load_tokenizer(base)
    dataset, counts = load_questions(config, tokenizer)
    check_prompt_tokens(tokenizer, dataset[0]["prompt"], dataset[0]["question"])
    out = RunLayout.for_run(config.runs_dir, config.grpo.output_name or f"{config.name}-grpo")
    resume_from = start_or_resume(out.checkpoints, config.train.resume)

    from transformers import set_seed

    set_seed(config.train.seed)
    model, tokenizer = _load_policy(config, base, start_adapter, placement.device, placement.backend)
    if placement.device == "cpu":
        from train.chunked_loss import install_cpu_logprob_for_trl

        install_cpu_logprob_for_trl()
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        from train.model import use_distinct_pad

        use_distinct_pad(tokenizer)
    out.root.mkdir(parents=True, exist_ok=True)
    logging_env(config.train.report_to, out.checkpoints, out.root)
    trainer, interrupt = _build_trainer(config, out, placement.device, model, tokenizer, dataset)
    run_trainer(trainer, out.checkpoints, resume_from, interrupt)
    stop_if_interrupted(interrupt, out.checkpoints, "make grpo RESUME=1")
    seconds = time.perf_counter() - started

    write_adapter(out.adapter, trainer.model, load_tokenizer(base), _heldout(layout, tokenizer, dataset), {
        "method": "grpo", "config": config_as_dict(config), "config_file": config.source_file,
        "base_model": {"id": config.model.id, "revision": config.model.revision, "commit": base.original.commit,
                       "trained_against": trained_against(base, trainer.model)},
        "started_from": config.grpo.start_from,
        "adapter": {"r": config.lora.r, "alpha": config.lora.alpha},
        "data": {"source": config.grpo.source, "fingerprint": source_fingerprint(config.grpo.source, None),
                 "counts": counts},
        "placement": {"device": placement.device, "backend": placement.backend, "vllm": trainer.args.use_vllm},
        "results": _results(trainer, seconds),
    })
    print(f"GRPO adapter written: {out.adapter} ({trainer.state.global_step} steps, {seconds:.0f} s); "
          f"convert it with: make convert ARGS=\"name={out.root.name}\"")


def _build_trainer(config: RunConfig, out: RunLayout, device: str, model, tokenizer, dataset):
    from trl import GRPOConfig, GRPOTrainer

    from train.callbacks import CheckpointOnInterrupt, RichProgress
    from train.rewards import trl_reward_functions
    from train.trainer import keep_trainable_weights_in_run_dtype

    grpo = config.grpo
    precision = resolve_precision(config.train.precision, device)
    optimizer = grpo.optimizer if grpo.optimizer != "auto" else ("adamw_8bit" if device == "cuda" else "adamw_torch")
    args = GRPOConfig(
        output_dir=str(out.checkpoints), learning_rate=grpo.learning_rate, max_steps=grpo.max_steps,
        per_device_train_batch_size=grpo.num_generations * grpo.prompts_per_step,
        num_generations=grpo.num_generations, max_completion_length=grpo.max_completion_length,
        temperature=grpo.temperature, beta=grpo.beta, use_vllm=_use_vllm(config, device),
        reward_weights=[grpo.reward_weights.format, grpo.reward_weights.correctness, grpo.reward_weights.length],
        logging_steps=grpo.logging_every, save_steps=grpo.save_every, save_strategy="steps",
        save_total_limit=config.train.save_total_limit, seed=config.train.seed, data_seed=config.train.seed,
        report_to=[] if config.train.report_to == "none" else [config.train.report_to],
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=device == "cpu",
        disable_tqdm=True, lr_scheduler_type="constant_with_warmup", warmup_steps=grpo.warmup_ratio,
        optim=optimizer, max_grad_norm=grpo.max_grad_norm, gradient_checkpointing=False, dataloader_num_workers=0,
    )
    interrupt = CheckpointOnInterrupt()
    trainer = GRPOTrainer(model=model, reward_funcs=trl_reward_functions(grpo.max_completion_length,
                                                                         tokenizer.eos_token_id),
                          args=args, train_dataset=dataset, processing_class=tokenizer,
                          callbacks=[RichProgress(), interrupt])
    # GRPOTrainer casts a 4-bit model's trainable weights to bf16, as SFTTrainer does
    keep_trainable_weights_in_run_dtype(trainer.model, args)
    quiet_console(trainer)
    return trainer, interrupt


def _heldout(layout: RunLayout, tokenizer, dataset) -> list[dict]:
    """The SFT adapter's held-out rows when GRPO continued it (the same texts for convert's ladder),
    else rows made from the first questions."""
    heldout = layout.adapter / HELDOUT_FILE
    if heldout.is_file():
        return [json.loads(line) for line in heldout.read_text(encoding="utf-8").splitlines() if line.strip()]
    chat = ChatFormat.of_tokenizer(tokenizer)
    rows = []
    for row in dataset.select(range(min(16, len(dataset)))):
        prompt, completion = chat.training_pair(row["question"], "", f"\\boxed{{{row['answer']}}}")
        rows.append({"question": row["question"], "prompt": prompt, "completion": completion})
    return rows


def _results(trainer, seconds: float) -> dict:
    history = [entry for entry in trainer.state.log_history if "reward" in entry]
    return {
        "steps": trainer.state.global_step,
        "wall_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / max(trainer.state.global_step, 1), 2),
        "peak_gpu_memory_gib": peak_gpu_gib(),
        "reward_history": [{"step": e["step"], "reward": e["reward"], "format": e.get("rewards/format/mean"),
                            "correctness": e.get("rewards/correctness/mean"), "length": e.get("rewards/length/mean"),
                            "completion_length": e.get("completions/mean_length"), "kl": e.get("kl")}
                           for e in history],
        "format_reward": [entry.get("rewards/format/mean") for entry in history],
    }
