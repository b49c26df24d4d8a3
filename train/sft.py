"""Supervised fine-tuning: config in, LoRA adapter with manifest out (runs/<name>/adapter/)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from common.artifacts import require_free_disk
from common.config import RunConfig, config_as_dict
from common.data import require_local_files
from common.errors import UserError
from common.layout import RunLayout
from train import distributed
from train.base_model import TrainingBase, resolve_training_base, trained_against
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
    Placement,
    check_model_source,
    checkpointing_without_probe,
    load_tokenizer,
    load_with_transformers,
    load_with_unsloth,
    resolve_placement,
    use_distinct_pad,
)


def run_sft(config: RunConfig) -> Path:
    """Train and write the adapter; returns its folder. Every check a user can fail runs before
    the run folder is touched."""
    started = time.perf_counter()
    require_local_files(config.data, config.data.replay)
    placement = resolve_placement(config)
    _set_threads(config, placement)
    if placement.backend == "unsloth":
        import unsloth  # noqa: F401  (must be imported before transformers, trl and peft)
    base = resolve_training_base(config, placement.backend)
    model_source = check_model_source(config, base)
    tokenizer = load_tokenizer(base)
    base_tokenizer_pad = tokenizer.pad_token
    data = _prepare_data(config, tokenizer)
    layout = RunLayout.for_run(config.runs_dir, config.name)
    resume_from = start_or_resume(layout.checkpoints, config.train.resume, announce=distributed.is_main())

    model, tokenizer = _load_model(config, base, placement, tokenizer)
    run = _build_trainer(config, layout, placement, model, tokenizer, data)
    first_eval = run.trainer.evaluate()["eval_loss"] if data.validation is not None and resume_from is None else None
    result = run_trainer(run.trainer, layout.checkpoints, resume_from, run.interrupt)
    ranks = distributed.gather({"rank": distributed.rank(), **run.trainer.rank_figures()})
    if run.interrupt.requested and not distributed.is_main():
        return layout.adapter
    stop_if_interrupted(run.interrupt, layout.checkpoints, "make train RESUME=1")
    final_eval = _final_validation_loss(run.trainer) if data.validation is not None else None
    if not distributed.is_main():
        return layout.adapter

    tokenizer.pad_token = base_tokenizer_pad  # ship the base model's tokenizer unchanged
    results = _results(run, result, started, first_eval, final_eval, resume_from)
    write_adapter(layout.adapter, run.trainer.model, tokenizer, data.heldout, {
        "config": config_as_dict(config),
        "config_file": config.source_file,
        "base_model": {"id": config.model.id, "revision": config.model.revision, **model_source,
                       "trained_against": trained_against(base, run.trainer.model)},
        "adapter": {"r": config.lora.r, "alpha": config.lora.alpha, "rslora": config.lora.rslora,
                    "target_modules": list(config.lora.target_modules),
                    "trained_on_4bit_base": config.lora.load_in_4bit, "trainable_parameters": run.trainable},
        "data": {**data.sources, "counts": data.counts},
        "placement": {"device": placement.device, "backend": placement.backend, "micro_batch_size": run.micro_batch,
                      "gradient_checkpointing": run.checkpointing,
                      "gradient_accumulation_steps": config.train.gradient_accumulation_steps,
                      "world_size": distributed.world_size(), "ranks": ranks},
        "results": results,
    })
    _print_summary(layout, results["real_tokens_trained"], results["train_seconds"], first_eval, final_eval,
                   data.counts)
    return layout.adapter


@dataclass
class TrainerRun:
    trainer: object
    interrupt: object
    timer: object
    micro_batch: int
    checkpointing: str
    trainable: int


def _set_threads(config: RunConfig, placement: Placement) -> None:
    if placement.device == "cpu" and config.train.threads:
        import torch

        torch.set_num_threads(config.train.threads)


def _prepare_data(config: RunConfig, tokenizer):
    from train.data import prepare_sft_data

    data = prepare_sft_data(config.data, tokenizer, config.model.max_seq_length)
    if distributed.is_main():
        from train.data_summary import projection, summary_line

        print(summary_line(data, projection(config, data)))
    return data


def _load_model(config: RunConfig, base: TrainingBase, placement: Placement, tokenizer):
    from transformers import set_seed

    set_seed(config.train.seed)  # adapter init draws from the global RNG before the Trainer seeds it
    print(f"training against {base.weights.source}" + (f" at {base.weights.commit[:12]}" if base.weights.commit else "")
          + (" (pre-quantized 4-bit)" if base.prequantized else ""))
    if placement.backend == "unsloth":
        model, tokenizer = load_with_unsloth(config, base)
    else:
        model = load_with_transformers(config, base, placement.device)
    use_distinct_pad(tokenizer)
    return model, tokenizer


def _build_trainer(config: RunConfig, layout: RunLayout, placement: Placement, model, tokenizer, data) -> TrainerRun:
    from transformers import EarlyStoppingCallback

    from train.callbacks import CheckpointOnInterrupt, FreeDiskGuard, RichProgress, StepTimer
    from train.trainer import PortableSFTTrainer

    micro_batch, checkpointing = _fit_memory(config, placement, model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    layout.root.mkdir(parents=True, exist_ok=True)
    logging_env(config.train.report_to, layout.checkpoints, layout.root)
    checkpoint_bytes = int(trainable * 16 * 1.2) + 50_000_000
    require_free_disk(layout.root, checkpoint_bytes * 2, "training checkpoints")

    args = _sft_config(config, layout, placement.device, micro_batch, data.validation is not None)
    world = distributed.world_size()
    if world > 1:
        # the configured accumulation is the global batch: each rank accumulates its share
        if config.train.gradient_accumulation_steps % world:
            raise UserError(f"train.gradient_accumulation_steps ({config.train.gradient_accumulation_steps}) must be "
                            f"a multiple of the number of processes ({world}) to keep the global batch")
        args.gradient_accumulation_steps = config.train.gradient_accumulation_steps // world
    interrupt, timer = CheckpointOnInterrupt(), StepTimer()
    callbacks = [RichProgress(), interrupt, FreeDiskGuard(layout.checkpoints, checkpoint_bytes), timer]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.train.early_stopping_patience))
    trainer = PortableSFTTrainer(model=model, args=args, train_dataset=data.train, eval_dataset=data.validation,
                                 processing_class=tokenizer, callbacks=callbacks)
    quiet_console(trainer)
    return TrainerRun(trainer, interrupt, timer, micro_batch, checkpointing, trainable)


def _fit_memory(config: RunConfig, placement: Placement, model) -> tuple[int, str]:
    """The micro-batch, and the checkpointing the model trains with (as the manifest records it)."""
    train = config.train
    if placement.backend == "unsloth":
        from train.batch_probe import plan_memory
        from train.model import switch_unsloth_checkpointing

        plan = plan_memory(model, config.model.max_seq_length, train.micro_batch_size, train.micro_batch_tokens,
                           train.gradient_checkpointing, lambda setting: switch_unsloth_checkpointing(model, setting))
        print(f"micro-batch {plan.micro_batch}, gradient checkpointing {plan.checkpointing}: {plan.reason}")
        return plan.micro_batch, plan.checkpointing
    micro_batch = train.micro_batch_size
    if micro_batch == "auto":
        from train.batch_probe import largest_micro_batch

        micro_batch = largest_micro_batch(model, config.model.max_seq_length, placement.device,
                                          train.micro_batch_tokens)
        print(f"micro_batch_size auto: {micro_batch}")
    return micro_batch, checkpointing_without_probe(train.gradient_checkpointing, placement.device)


def _results(run: TrainerRun, result, started: float, first_eval, final_eval, resume_from) -> dict:
    state = run.trainer.state
    wall = time.perf_counter() - started
    train_seconds = result.metrics.get("train_runtime") or wall
    tokens = int(state.num_input_tokens_seen)
    history = [entry for entry in state.log_history if "loss" in entry]
    return {
        "steps": state.global_step,
        "real_tokens_trained": tokens,
        "tokens_per_second": round(tokens / train_seconds, 1) if train_seconds else None,
        "steady_tokens_per_second": run.timer.steady_tokens_per_second(),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(wall, 1),
        "peak_gpu_memory_gib": peak_gpu_gib(),
        "first_train_loss": history[0]["loss"] if history else None,
        "final_train_loss": history[-1]["loss"] if history else None,
        "validation_loss_before": first_eval,
        "validation_loss_after": final_eval,
        "resumed_from": str(resume_from) if resume_from else None,
        "loss_history": [{"step": e["step"], "loss": e["loss"]} for e in history],
    }


def _optimizer_name(config: RunConfig, device: str) -> str:
    if config.train.optimizer != "auto":
        return config.train.optimizer
    return "adamw_8bit" if device == "cuda" else "adamw_torch"


def _sft_config(config: RunConfig, layout: RunLayout, device: str, micro_batch: int, has_validation: bool):
    from trl import SFTConfig

    train = config.train
    precision = resolve_precision(train.precision, device)
    if precision == "fp16" and device == "cpu":
        raise UserError("train.precision: fp16 is not supported on CPU; use bf16 or fp32")
    early_stop = train.early_stopping_patience is not None and has_validation
    if early_stop and train.save_every % train.eval_every:
        raise UserError("train.early_stopping_patience needs train.save_every to be a multiple of train.eval_every")
    return SFTConfig(
        output_dir=str(layout.checkpoints),
        per_device_train_batch_size=micro_batch,
        per_device_eval_batch_size=micro_batch,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_ratio,
        num_train_epochs=train.epochs,
        max_steps=train.max_steps or -1,
        weight_decay=train.weight_decay,
        optim=_optimizer_name(config, device),
        max_grad_norm=train.max_grad_norm,
        seed=train.seed,
        data_seed=train.seed,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=train.eval_every,
        save_strategy="steps",
        save_steps=train.save_every,
        save_total_limit=train.save_total_limit,
        logging_steps=train.logging_every,
        report_to=[] if train.report_to == "none" else [train.report_to],
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        max_length=config.model.max_seq_length,
        packing=train.packing,
        packing_strategy="bfd",
        padding_free=train.packing,
        completion_only_loss=True,
        prediction_loss_only=True,
        gradient_checkpointing=False,  # enabled on the model itself (Unsloth's offloaded mode on CUDA)
        ddp_find_unused_parameters=False,  # every LoRA weight gets a gradient; searching costs a graph walk
        disable_tqdm=True,
        load_best_model_at_end=early_stop,
        metric_for_best_model="eval_loss" if early_stop else None,
        greater_is_better=False if early_stop else None,
        dataset_num_proc=None,
    )


def _final_validation_loss(trainer) -> float:
    """The validation loss of the final weights; when the last step was just evaluated (and the
    best checkpoint was not reloaded) that figure is reused instead of a second identical pass.
    The decision reads the shared log history, so under DDP every rank takes part or none."""
    evaluated = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    if evaluated and evaluated[-1].get("step") == trainer.state.global_step and not trainer.args.load_best_model_at_end:
        return evaluated[-1]["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _print_summary(layout, tokens, seconds, first_eval, final_eval, counts) -> None:
    from rich.console import Console

    from train.data import drop_summary

    console = Console()
    console.print(f"[green]adapter written[/] {layout.adapter}")
    console.print(f"  rows kept {counts.get('train_rows_kept')} / {drop_summary(counts, 'train')}", highlight=False)
    console.print(f"  real tokens {tokens:,} in {seconds:.0f} s = {tokens / max(seconds, 1e-9):,.0f} tokens/s")
    if first_eval is not None and final_eval is not None and math.isfinite(first_eval):
        console.print(f"  validation loss {first_eval:.4f} -> {final_eval:.4f}")
