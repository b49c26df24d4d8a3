"""What one epoch of the prepared data costs, and the one line that says so: the train stage
prints it before it starts, the data report puts it at the top."""

from __future__ import annotations

import math

from common.config import RunConfig
from train.data import PreparedData, drop_summary


def projection(config: RunConfig, prepared: PreparedData) -> dict:
    """Steps and tokens per epoch as the trainer will count them: rows packed by TRL's own
    best-fit-decreasing packing (as SFTTrainer packs them), micro-batches of those, optimizer steps
    of gradient_accumulation_steps micro-batches (the global batch, whatever the process count)."""
    train, seq = config.train, config.model.max_seq_length
    auto = train.micro_batch_size == "auto"
    micro = max(1, train.micro_batch_tokens // seq) if auto else train.micro_batch_size
    rows = len(prepared.train)
    if train.packing and rows:
        from trl.data_utils import pack_dataset

        rows = len(pack_dataset(prepared.train.select_columns(["input_ids"]), seq, strategy="bfd"))
    batches = math.ceil(rows / micro)
    per_epoch = max(math.ceil(batches / train.gradient_accumulation_steps), 1) if rows else 0
    return {"sequences_per_epoch": rows, "packed": train.packing, "micro_batch_size": micro,
            "micro_batch_auto": auto, "gradient_accumulation_steps": train.gradient_accumulation_steps,
            "steps_per_epoch": per_epoch, "epochs": train.epochs, "max_steps": train.max_steps,
            "total_steps": train.max_steps or math.ceil(train.epochs * per_epoch),
            "tokens_per_epoch": prepared.counts.get("train_tokens", 0),
            "trained_tokens_per_epoch": prepared.counts.get("train_completion_tokens", 0)}


def summary_line(prepared: PreparedData, plan: dict) -> str:
    counts = prepared.counts
    fmt = prepared.sources["train"]["format"]
    line = (f"data: {counts['records_read']:,} records ({fmt}, {'detected' if prepared.format_detected else 'data.format'}); "
            f"train {counts['train_rows_kept']:,} kept, {drop_summary(counts, 'train')}")
    if "validation_rows_kept" in counts:
        line += f"; validation {counts['validation_rows_kept']:,}"
    if counts.get("replay_rows_mixed"):
        line += f"; replay {counts['replay_rows_mixed']:,} mixed in"
    about = "at least " if plan["micro_batch_auto"] else ""
    return (line + f"; {len(prepared.train):,} examples, {plan['tokens_per_epoch']:,} tokens "
            f"({plan['trained_tokens_per_epoch']:,} trained) and {about}{plan['steps_per_epoch']:,} "
            f"step{'' if plan['steps_per_epoch'] == 1 else 's'} per epoch")
