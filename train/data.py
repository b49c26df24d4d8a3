"""The training data of a run: the configured sources read in their formats, split, tokenized
into examples (train/examples.py: one per assistant turn, the prompt exactly the served prompt,
the completion the only tokens trained), with every dropped record counted by reason."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from common.chat_format import ChatFormat
from common.config import DataSection, DataSource
from common.conversations import REASONS, detect_format, history, resolve_format, sample_fields
from common.data import load_records, source_fingerprint, validation_split
from common.errors import UserError
from train.examples import RECORD, PartExamples, encode_turn, part_examples

HELDOUT_ROWS = 64
REASON_WORDS = {reason: reason.replace("_", " ") for reason in REASONS}


@dataclass
class PreparedData:
    train: object  # datasets.Dataset with input_ids, completion_mask
    validation: object
    counts: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    heldout: list = field(default_factory=list)  # {question, prompt, completion} rows for convert's parity check
    parts: dict = field(default_factory=dict)  # train / validation / replay: PartExamples, for the report
    warnings: list = field(default_factory=list)
    format_detected: bool = False
    unusable: UserError | None = None  # set instead of raised when not strict: no training example is left


def tokenize_row(tokenizer, question: str, reasoning: str, response: str, chat: ChatFormat | None = None) -> dict:
    """A single-turn row's input_ids and completion_mask."""
    encoded = encode_turn(tokenizer, chat or ChatFormat.of_tokenizer(tokenizer),
                          [{"role": "user", "content": question}], reasoning, response)
    return {"input_ids": encoded["input_ids"], "completion_mask": encoded["completion_mask"]}


def drop_summary(counts: dict, prefix: str) -> str:
    """`dropped 2 (empty 1, too long 1)`"""
    parts = [f"{REASON_WORDS[reason]} {counts[f'{prefix}_dropped_{reason}']:,}" for reason in REASONS
             if counts.get(f"{prefix}_dropped_{reason}")]
    total = sum(counts.get(f"{prefix}_dropped_{reason}", 0) for reason in REASONS)
    return f"dropped {total:,}" + (f" ({', '.join(parts)})" if parts else "")


def _nothing_left(source: DataSource, part: PartExamples, fmt: str, fields: set[str]) -> UserError:
    first = next(iter(part.drops.values()), [{}])[0]
    example = f"; e.g. record {first['record']}: {first['detail']}" if first else ""
    named = {name for name in source.columns.model_dump().values() if name}
    looks = detect_format(fields) or ("columns" if named <= fields else None)
    hint = f" (data.format {fmt}, but the records look like {looks})" if looks and looks != fmt else ""
    return UserError(f"{source.source}: no usable training record: {part.counts['train_rows_in']:,} read, "
                     f"{drop_summary(part.counts, 'train')}{hint}{example}")


def _part(table, source: DataSource, fmt: str, tokenizer, chat, max_seq_length: int, prefix: str,
          require_reasoning: bool, keep_conversations: int = 0) -> PartExamples:
    return part_examples(table, tokenizer, chat, fmt, source.columns.model_dump(), max_seq_length,
                         require_reasoning and fmt == "columns" and source.columns.reasoning is not None, prefix,
                         keep_conversations)


def _heldout(chat: ChatFormat, validation: PartExamples) -> list[dict]:
    rows = []
    for example in validation.kept.select(range(min(HELDOUT_ROWS, len(validation.kept)))):
        turns = validation.conversations[example[RECORD]]
        before, turn = history(turns, example["turn"]), turns[example["turn"]]
        prompt, completion = chat.turn_pair(before, turn["reasoning"], turn["content"])
        rows.append({"question": before[-1]["content"], "prompt": prompt, "completion": completion})
    return rows


def _system_warning(chat: ChatFormat, count: int) -> str | None:
    if not count or chat.system_prompts == "framed":
        return None
    if chat.system_prompts == "dropped":
        return f"warning: {count:,} conversations have a system prompt, and this model's chat template drops it"
    return (f"warning: {count:,} conversations have a system prompt; this model's chat template pastes it in before "
            "the first turn without a role marker, and its authors advise against system prompts (R1-Distill): "
            "put instructions in the user turn")


def prepare_sft_data(data: DataSection, tokenizer, max_seq_length: int, strict: bool = True) -> PreparedData:
    """Every part tokenized and counted; a UserError when no training example is left, unless
    `strict` is off (the data report still describes such data)."""
    chat = ChatFormat.of_tokenizer(tokenizer)
    table = load_records(data)
    if len(table) == 0:
        raise UserError(f"{data.source}: the data set has no rows")
    fmt, detected = resolve_format(data.format, table)
    print(f"data format: {fmt} ({'detected' if detected else 'data.format'})")
    sources = {"train": {"source": data.source, "subset": data.subset, "revision": data.revision, "format": fmt,
                         "fingerprint": source_fingerprint(data.source, data.revision)}}
    table = table.add_column(RECORD, list(range(1, len(table) + 1)))
    train_table, validation_table, validation_source, validation_fmt = _split(data, table, fmt, sources)

    parts = {"train": _part(train_table, data, fmt, tokenizer, chat, max_seq_length, "train", True)}
    counts = {"records_read": len(table), **parts["train"].counts}
    unusable = None
    if not len(parts["train"].kept):
        unusable = _nothing_left(data, parts["train"], fmt, sample_fields(table))
        if strict:
            raise unusable
    train, validation, heldout = parts["train"].kept, None, []
    if validation_table is not None:
        parts["validation"] = _part(validation_table, validation_source, validation_fmt, tokenizer, chat,
                                    max_seq_length, "validation", True, HELDOUT_ROWS)
        counts.update(parts["validation"].counts)
        validation = parts["validation"].kept
        if len(validation) == 0:
            # every validation row was dropped: train without evaluation, and say so
            print(f"validation: none of its {len(validation_table)} rows is left after dropping unusable and "
                  "too-long rows; training without a validation loss")
            validation = None
        heldout = _heldout(chat, parts["validation"])

    if data.replay is not None and data.replay.ratio > 0:
        train = _mix_replay(data, train, tokenizer, chat, max_seq_length, parts, counts, sources)

    train = train.select_columns(["input_ids", "completion_mask"]).shuffle(seed=data.seed)
    if validation is not None:
        validation = validation.select_columns(["input_ids", "completion_mask"])
    counts["train_tokens"] = int(sum(len(ids) for ids in train["input_ids"]))
    counts["train_completion_tokens"] = int(sum(sum(mask) for mask in train["completion_mask"]))
    systems = sum(counts.get(f"{prefix}_system_prompts", 0) for prefix in ("train", "validation"))
    warnings = [line for line in [_system_warning(chat, systems)] if line]
    for line in warnings:
        print(line)
    return PreparedData(train=train, validation=validation, counts=counts, sources=sources, heldout=heldout,
                        parts=parts, warnings=warnings, format_detected=detected, unusable=unusable)


def _split(data: DataSection, table, fmt: str, sources: dict):
    """Training and validation records: a separate validation source, or a held-out share."""
    validation_table, validation_source, validation_fmt = None, data, fmt
    if data.validation_source is not None:
        train_table, validation_source = table, data.validation_source
        validation_table = load_records(validation_source)
        validation_table = validation_table.add_column(RECORD, list(range(1, len(validation_table) + 1)))
        validation_fmt = resolve_format(validation_source.format, validation_table)[0]
        sources["validation"] = {"source": validation_source.source, "format": validation_fmt,
                                 "fingerprint": source_fingerprint(validation_source.source, validation_source.revision)}
    elif data.validation_fraction > 0:
        train_table, validation_table = validation_split(table, data.validation_fraction,
                                                         data.validation_max_rows, data.seed)
    else:
        train_table = table
    if validation_table is not None and len(validation_table) == 0:
        print("validation: too few records to hold any out; training without a validation loss")
        validation_table = None
    return train_table, validation_table, validation_source, validation_fmt


def _mix_replay(data: DataSection, train, tokenizer, chat, max_seq_length: int, parts: dict, counts: dict,
                sources: dict):
    """General rows mixed into training at data.replay.ratio of the result, drawn with the data seed."""
    from datasets import concatenate_datasets

    replay = data.replay
    replay_table = load_records(replay)
    replay_table = replay_table.add_column(RECORD, list(range(1, len(replay_table) + 1)))
    replay_fmt, replay_detected = resolve_format(replay.format, replay_table)
    print(f"replay data format: {replay_fmt} ({'detected' if replay_detected else 'data.replay.format'})")
    parts["replay"] = _part(replay_table, replay, replay_fmt, tokenizer, chat, max_seq_length, "replay", False)
    counts.update(parts["replay"].counts)
    replay_rows = parts["replay"].kept
    wanted = round(len(train) * replay.ratio / (1 - replay.ratio))
    if len(replay_rows) == 0 or wanted == 0:
        counts["replay_rows_mixed"] = 0
    else:
        rng = random.Random(data.seed)
        picks = [rng.randrange(len(replay_rows)) for _ in range(wanted)]
        train = concatenate_datasets([train, replay_rows.select(picks)])
        counts["replay_rows_mixed"] = wanted
    sources["replay"] = {"source": replay.source, "ratio": replay.ratio, "format": replay_fmt,
                         "fingerprint": source_fingerprint(replay.source, replay.revision)}
    return train
