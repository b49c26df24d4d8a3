"""One data source's records as training examples: token ids, a completion mask, and why any
record was left out.

Each assistant turn k of a conversation is one example. Its prompt is the chat template's
rendering of the turns before k with the generation prompt, earlier answers given as a client
sends them back (answer text only; R1's template would drop their thinking anyway), so it is
exactly what a server renders at that point. Its completion is turn k's think block, answer and
turn end: the only tokens trained. Prompt and completion are tokenized separately and
concatenated, so the prompt tokens are the served prompt's tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from common.chat_format import ChatFormat
from common.conversations import REASONS, Refused, history, read_conversation
from common.reasoning import THINK_CLOSE

RECORD = "_record"  # the record's 1-based position in its source, added before the validation split
DROP_EXAMPLES = 3  # records shown per drop reason
PART_LENGTHS = ("prompt_tokens", "reasoning_tokens", "answer_tokens")


def encode_turn(tokenizer, chat: ChatFormat, before: list[dict], reasoning: str, answer: str) -> dict:
    """input_ids and completion_mask of the assistant turn after `before`, with the lengths of
    its parts (the think block up to `</think>`, and the rest)."""
    prompt, completion = chat.turn_pair(before, reasoning, answer)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    encoded = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=tokenizer.is_fast)
    completion_ids, cut = encoded["input_ids"], completion.index(THINK_CLOSE)
    if "offset_mapping" in encoded:
        think = sum(1 for start, _ in encoded["offset_mapping"] if start < cut)
    else:
        think = len(tokenizer(completion[:cut], add_special_tokens=False)["input_ids"])
    return {"input_ids": prompt_ids + completion_ids,
            "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
            "prompt_tokens": len(prompt_ids), "reasoning_tokens": think,
            "answer_tokens": len(completion_ids) - think}


@dataclass
class PartExamples:
    """What one part (train, validation, replay) gave: every example, including those over
    max_seq_length (for the report), the kept ones, counts and a few records per drop reason."""

    examples: object  # datasets.Dataset, one row per assistant turn
    kept: object  # the examples trained on
    conversations: dict[int, list[dict]]  # kept records' conversations, for the first rows only
    counts: dict = field(default_factory=dict)
    drops: dict = field(default_factory=dict)


def _read(table, fmt: str, columns: dict, require_reasoning: bool, prefix: str):
    def read(row):
        record = {key: value for key, value in row.items() if key != RECORD}
        try:
            turns = read_conversation(record, fmt, columns, require_reasoning)
        except Refused as refused:
            return {"conversation": "", "drop": refused.reason, "detail": refused.detail, "key": "", "system": False}
        text = json.dumps(turns, ensure_ascii=False)
        return {"conversation": text, "drop": "", "detail": "", "key": hashlib.sha1(text.encode()).hexdigest(),
                "system": turns[0]["role"] == "system"}

    parsed = table.map(read, remove_columns=[name for name in table.column_names if name != RECORD],
                       desc=f"reading {prefix} records")
    seen: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    for index, (key, record) in enumerate(zip(parsed["key"], parsed[RECORD], strict=True)):
        if key and key in seen:
            duplicates[index] = seen[key]
        elif key:
            seen[key] = record
    if duplicates:
        parsed = parsed.map(lambda row, index: {"drop": "duplicate", "detail": f"same as record {duplicates[index]}"}
                            if index in duplicates else {}, with_indices=True, desc=f"marking {prefix} duplicates")
    return parsed


def _example_features():
    from datasets import Features, Sequence, Value

    ids = Sequence(Value("int64"))
    counts = {name: Value("int64") for name in ("prompt_tokens", "reasoning_tokens", "answer_tokens", RECORD, "turn")}
    return Features({"input_ids": ids, "completion_mask": ids, **counts, "question": Value("string"),
                     "too_long": Value("bool"), "has_reasoning": Value("bool")})


def _encoder(tokenizer, chat: ChatFormat, max_seq_length: int):
    def encode(batch):
        out: dict[str, list] = {name: [] for name in _example_features()}
        for record, text in zip(batch[RECORD], batch["conversation"], strict=True):
            turns = json.loads(text)
            for index, turn in enumerate(turns):
                if turn["role"] != "assistant":
                    continue
                encoded = encode_turn(tokenizer, chat, history(turns, index), turn["reasoning"], turn["content"])
                for name, value in encoded.items():
                    out[name].append(value)
                out[RECORD].append(record)
                out["turn"].append(index)
                out["question"].append(turns[index - 1]["content"][:200])
                out["too_long"].append(len(encoded["input_ids"]) > max_seq_length)
                out["has_reasoning"].append(bool(turn["reasoning"]))
        return out

    return encode


def part_examples(table, tokenizer, chat: ChatFormat, fmt: str, columns: dict, max_seq_length: int,
                  require_reasoning: bool, prefix: str, keep_conversations: int = 0) -> PartExamples:
    parsed = _read(table, fmt, columns, require_reasoning, prefix)
    drops: dict[str, list] = {reason: [] for reason in REASONS}
    reasons = Counter()
    for record, reason, detail in zip(parsed[RECORD], parsed["drop"], parsed["detail"], strict=True):
        if reason:
            reasons[reason] += 1
            if len(drops[reason]) < DROP_EXAMPLES:
                drops[reason].append({"record": record, "detail": detail})
    readable = parsed.filter(lambda row: row["drop"] == "", desc=f"keeping readable {prefix} records")
    if len(readable):
        examples = readable.map(_encoder(tokenizer, chat, max_seq_length), batched=True, batch_size=64,
                                remove_columns=readable.column_names, features=_example_features(),
                                desc=f"tokenizing {prefix}")
    else:
        from datasets import Dataset

        examples = Dataset.from_dict({name: [] for name in _example_features()}, features=_example_features())
    records_kept, longest, turns_too_long = set(), {}, 0
    lengths = zip(examples[RECORD], examples["too_long"], *(examples[name] for name in PART_LENGTHS), strict=True)
    for record, too_long, *parts in lengths:
        if too_long:
            longest[record] = max(longest.get(record, 0), sum(parts))
            turns_too_long += 1
        else:
            records_kept.add(record)
    too_long_records = sorted(set(longest) - records_kept)
    reasons["too_long"] = len(too_long_records)
    drops["too_long"] = [{"record": record, "detail": f"{longest[record]:,} tokens > model.max_seq_length "
                          f"{max_seq_length:,}"} for record in too_long_records[:DROP_EXAMPLES]]
    kept = examples.filter(lambda row: not row["too_long"], desc=f"dropping long {prefix} turns")
    system = sum(readable["system"])
    counts = {f"{prefix}_rows_in": len(table), **{f"{prefix}_dropped_{reason}": reasons[reason] for reason in REASONS},
              f"{prefix}_rows_kept": len(records_kept), f"{prefix}_examples": len(kept),
              f"{prefix}_turns_too_long": turns_too_long,
              f"{prefix}_turns_without_reasoning": len(kept) - sum(kept["has_reasoning"]),
              f"{prefix}_system_prompts": system}
    conversations = {}
    if keep_conversations:
        wanted = set(kept.select(range(min(keep_conversations, len(kept))))[RECORD])
        conversations = {record: json.loads(text) for record, text in zip(readable[RECORD], readable["conversation"],
                                                                          strict=True) if record in wanted}
    return PartExamples(examples=examples, kept=kept, conversations=conversations, counts=counts,
                        drops={reason: rows for reason, rows in drops.items() if rows})
