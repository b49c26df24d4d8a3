"""Training records in the formats users bring, read into one shape: a conversation.

- columns: one single-turn record per row, from the question / reasoning / response columns that
  data.columns names;
- messages: OpenAI-style `messages`, a list of {role, content} with role system, user or
  assistant; an assistant's reasoning is a `<think>...</think>` block at the start of its content
  (or before a lone `</think>`, as R1 writes it after a prefilled `<think>`), or its separate
  `reasoning_content` or `reasoning` field;
- sharegpt: `conversations`, a list of {from, value} with from human/user, gpt/assistant or system.

A conversation is a list of turns {role, content, reasoning}: content is the text without any
think block, reasoning is "" for all but assistant turns. A record that cannot be read as one is
refused with a reason from REASONS and a short detail naming the field, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from common.reasoning import split_reasoning

FORMATS = ("columns", "messages", "sharegpt")
LIST_FIELD = {"messages": "messages", "sharegpt": "conversations"}
ROLE_KEY = {"messages": ("role", "content"), "sharegpt": ("from", "value")}
ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}
REASONING_FIELDS = ("reasoning_content", "reasoning")
# Why a record or turn is not trained on, in the order reports list them.
REASONS = ("missing_field", "bad_type", "empty", "no_assistant_turn", "duplicate", "too_long")
# The column of a table read line by line because some lines are not JSON: one record's text each.
RAW_JSON = "_json"


class Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def detect_format(fields: Iterable[str]) -> str | None:
    """The format a table's fields say it is in: a `messages` or `conversations` list, else None
    (the caller then tries the configured columns)."""
    fields = set(fields)
    for name, field in LIST_FIELD.items():
        if field in fields:
            return name
    return None


def sample_fields(table, rows: int = 100) -> set[str]:
    """The fields of a table's records: its columns, or for a table read line by line the keys of
    its first records."""
    if RAW_JSON not in table.column_names:
        return set(table.column_names)
    fields: set[str] = set()
    for text in table.select(range(min(rows, len(table))))[RAW_JSON]:
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict):
            fields.update(record)
    return fields


def resolve_format(configured: str, table) -> tuple[str, bool]:
    """(format, detected): data.format, or for `auto` the one the table's fields show, `columns`
    when they hold neither list."""
    if configured != "auto":
        return configured, False
    return detect_format(sample_fields(table)) or "columns", True


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _text(value: Any, where: str) -> str:
    """A text field: a string, or OpenAI's list of text parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, Mapping) and part.get("type") == "text"
                                       and isinstance(part.get("text"), str) for part in value):
        return "".join(part["text"] for part in value)
    if value is None:
        raise Refused("missing_field", f"{where} is missing")
    raise Refused("bad_type", f"{where} is {_type_name(value)}, not text")


def _record(row: Mapping[str, Any]) -> Mapping[str, Any]:
    if RAW_JSON not in row:
        return row
    try:
        record = json.loads(row[RAW_JSON])
    except ValueError:
        raise Refused("bad_type", "the line is not JSON") from None
    if not isinstance(record, dict):
        raise Refused("bad_type", f"the record is {_type_name(record)}, not an object")
    return record


def _from_columns(record: Mapping[str, Any], columns: Mapping[str, str | None], require_reasoning: bool) -> list[dict]:
    def field(ours: str, required: bool = True) -> str:
        theirs = columns.get(ours)
        if theirs is None:
            return ""
        if theirs not in record or record[theirs] is None:
            present = ", ".join(sorted(k for k, v in record.items() if v is not None)) or "none"
            raise Refused("missing_field", f"no {theirs!r} (data.columns.{ours}); the record has: {present}")
        text = _text(record[theirs], repr(theirs)).strip()
        if required and not text:
            raise Refused("empty", f"{theirs!r} is empty")
        return text

    question, reasoning, response = field("question"), field("reasoning", require_reasoning), field("response")
    return [{"role": "user", "content": question, "reasoning": ""},
            {"role": "assistant", "content": response, "reasoning": reasoning}]


def _turn(item: Any, index: int, fmt: str) -> dict:
    field = LIST_FIELD[fmt]
    role_key, content_key = ROLE_KEY[fmt]
    where = f"{field}[{index}]"
    if not isinstance(item, Mapping):
        raise Refused("bad_type", f"{where} is {_type_name(item)}, not an object")
    raw_role = item.get(role_key)
    if raw_role is None:
        raise Refused("missing_field", f"{where} has no {role_key!r}")
    role = ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise Refused("bad_type", f"{where}.{role_key} is {raw_role!r}, not system, user or assistant"
                      + (" (human/gpt)" if fmt == "sharegpt" else ""))
    content = _text(item.get(content_key), f"{where}.{content_key}")
    reasoning = ""
    if role == "assistant":
        separate = next((item[key] for key in REASONING_FIELDS if item.get(key) is not None), None)
        # a message's content is a whole answer: no tag at all means no thinking (prefilled=False)
        split = split_reasoning(content, prefilled=False)
        reasoning = _text(separate, f"{where}.reasoning").strip() if separate is not None else split.reasoning
        content = split.answer
    return {"role": role, "content": content.strip(), "reasoning": reasoning}


def _from_list(record: Mapping[str, Any], fmt: str) -> list[dict]:
    field = LIST_FIELD[fmt]
    turns = record.get(field)
    if turns is None:
        present = ", ".join(sorted(k for k, v in record.items() if v is not None)) or "none"
        raise Refused("missing_field", f"no {field!r} (data.format {fmt}); the record has: {present}")
    if isinstance(turns, str):  # a CSV or Parquet column holding the list as JSON text
        try:
            turns = json.loads(turns)
        except ValueError:
            raise Refused("bad_type", f"{field!r} is text, not a list") from None
    if not isinstance(turns, list):
        raise Refused("bad_type", f"{field!r} is {_type_name(turns)}, not a list")
    return [_turn(item, index, fmt) for index, item in enumerate(turns)]


def _check(turns: list[dict], require_reasoning: bool) -> None:
    roles = [turn["role"] for turn in turns]
    if "assistant" not in roles:
        raise Refused("no_assistant_turn", "no assistant turn" if turns else "no turns")
    start = 0
    while start < len(roles) and roles[start] == "system":
        start += 1
    body = roles[start:]
    if "system" in body:
        raise Refused("bad_type", "a system message after the first turn")
    expected = ["user", "assistant"] * (len(body) // 2 + 1)
    if body != expected[:len(body)]:
        raise Refused("bad_type", "turns do not alternate user, assistant, ... from a user turn")
    for index, turn in enumerate(turns):
        if turn["role"] != "system" and not turn["content"]:
            what = "answer" if turn["role"] == "assistant" else "message"
            raise Refused("empty", f"turn {index} ({turn['role']}) has an empty {what}")
        if require_reasoning and turn["role"] == "assistant" and not turn["reasoning"]:
            raise Refused("empty", f"turn {index} (assistant) has no reasoning")


def read_conversation(row: Mapping[str, Any], fmt: str, columns: Mapping[str, str | None],
                      require_reasoning: bool = False) -> list[dict]:
    """One record as a conversation; raises Refused. `require_reasoning` refuses assistant turns
    without reasoning (the columns format's named reasoning column must be filled)."""
    record = _record(row)
    turns = _from_columns(record, columns, require_reasoning) if fmt == "columns" else _from_list(record, fmt)
    _check(turns, require_reasoning)
    return turns


def history(turns: list[dict], upto: int) -> list[dict[str, str]]:
    """The messages a client sends before turn `upto`: earlier answers without their thinking,
    as the server returned them in `content` (and as R1's template keeps them anyway)."""
    return [{"role": turn["role"], "content": turn["content"]} for turn in turns[:upto]]


def first_exchange(turns: list[dict]) -> tuple[str, str]:
    """(question, answer) of a conversation's first user turn and the answer to it."""
    for index, turn in enumerate(turns[:-1]):
        if turn["role"] == "user" and turns[index + 1]["role"] == "assistant":
            return turn["content"], turns[index + 1]["content"]
    return "", ""
