"""Turn rows of (question, reasoning, response) into token ids with a completion mask.

Prompt and completion are tokenized separately and concatenated, so the prompt tokens are
exactly the tokens of the served prompt; the mask marks the completion (think block, answer,
EOS) as the only part trained on. Rows that are empty or longer than max_seq_length are dropped
and counted, never truncated silently.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from common.chat_format import ChatFormat
from common.config import DataSection
from common.data import load_source, source_fingerprint, validation_split
from common.errors import UserError

COLUMNS = ("question", "reasoning", "response")
HELDOUT_ROWS = 64


@dataclass
class PreparedData:
    train: object  # datasets.Dataset with input_ids, completion_mask
    validation: object
    counts: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    heldout: list = field(default_factory=list)  # {question, prompt, completion} rows for convert's parity check


def tokenize_row(tokenizer, question: str, reasoning: str, response: str, chat: ChatFormat | None = None) -> dict:
    prompt, completion = (chat or ChatFormat.of_tokenizer(tokenizer)).training_pair(question, reasoning, response)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + completion_ids,
        "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
    }


def _tokenize(table, tokenizer, max_seq_length: int, require_reasoning: bool, counts: Counter, prefix: str):
    chat = ChatFormat.of_tokenizer(tokenizer)

    def encode(row):
        question, reasoning, response = (str(row[name] or "").strip() for name in COLUMNS)
        if not question or not response or (require_reasoning and not reasoning):
            return {"input_ids": [], "completion_mask": [], "drop": "empty"}
        encoded = tokenize_row(tokenizer, question, reasoning, response, chat)
        drop = "too_long" if len(encoded["input_ids"]) > max_seq_length else ""
        return {**encoded, "drop": drop}

    encoded = table.map(encode, remove_columns=table.column_names, desc=f"tokenizing {prefix}")
    reasons = Counter(encoded["drop"])
    counts[f"{prefix}_rows_in"] = len(table)
    counts[f"{prefix}_dropped_empty"] = reasons.get("empty", 0)
    counts[f"{prefix}_dropped_too_long"] = reasons.get("too_long", 0)
    kept = encoded.filter(lambda row: row["drop"] == "", desc=f"dropping {prefix} rows").remove_columns("drop")
    counts[f"{prefix}_rows_kept"] = len(kept)
    return kept


def prepare_sft_data(data: DataSection, tokenizer, max_seq_length: int) -> PreparedData:
    from datasets import concatenate_datasets

    counts: Counter = Counter()
    sources = {"train": {"source": data.source, "subset": data.subset, "revision": data.revision,
                         "fingerprint": source_fingerprint(data.source, data.revision)}}
    table = load_source(data)
    if len(table) == 0:
        raise UserError(f"{data.source}: the data set has no rows")
    if data.validation_source is not None:
        train_table, validation_table = table, load_source(data.validation_source)
        sources["validation"] = {"source": data.validation_source.source,
                                 "fingerprint": source_fingerprint(data.validation_source.source,
                                                                   data.validation_source.revision)}
    elif data.validation_fraction > 0:
        train_table, validation_table = validation_split(table, data.validation_fraction,
                                                         data.validation_max_rows, data.seed)
    else:
        train_table, validation_table = table, None

    train = _tokenize(train_table, tokenizer, max_seq_length, True, counts, "train")
    if len(train) == 0:
        raise UserError(f"{data.source}: no training row is left after dropping empty and too-long rows")
    validation, heldout = None, []
    if validation_table is not None:
        validation = _tokenize(validation_table, tokenizer, max_seq_length, True, counts, "validation")
        if len(validation) == 0:
            # every validation row was empty or too long: train without evaluation, and say so
            print(f"validation: none of its {len(validation_table)} rows is left after dropping empty and "
                  "too-long rows; training without a validation loss")
            validation = None
        chat = ChatFormat.of_tokenizer(tokenizer)
        for row in validation_table.select(range(min(HELDOUT_ROWS, len(validation_table)))):
            question, reasoning, response = (str(row[name] or "").strip() for name in COLUMNS)
            if question and reasoning and response:
                prompt, completion = chat.training_pair(question, reasoning, response)
                heldout.append({"question": question, "prompt": prompt, "completion": completion})

    replay = data.replay
    if replay is not None and replay.ratio > 0:
        replay_rows = _tokenize(load_source(replay), tokenizer, max_seq_length, False, counts, "replay")
        wanted = round(len(train) * replay.ratio / (1 - replay.ratio))
        if len(replay_rows) == 0 or wanted == 0:
            counts["replay_rows_mixed"] = 0
        else:
            rng = random.Random(data.seed)
            picks = [rng.randrange(len(replay_rows)) for _ in range(wanted)]
            train = concatenate_datasets([train, replay_rows.select(picks)])
            counts["replay_rows_mixed"] = wanted
        sources["replay"] = {"source": replay.source, "ratio": replay.ratio,
                             "fingerprint": source_fingerprint(replay.source, replay.revision)}

    train = train.shuffle(seed=data.seed)
    counts["train_tokens"] = int(sum(len(ids) for ids in train["input_ids"]))
    counts["train_completion_tokens"] = int(sum(sum(mask) for mask in train["completion_mask"]))
    return PreparedData(train=train, validation=validation, counts=dict(counts), sources=sources, heldout=heldout)
