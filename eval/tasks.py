"""Evaluation tasks: each configured task's items, with the per-task limits applied."""

from __future__ import annotations

from common.config import RunConfig
from common.conversations import Refused, first_exchange, read_conversation, resolve_format
from common.data import load_records, load_table, validation_split
from common.errors import UserError
from eval.exams import EXAM_TASKS, hub_items, packaged_items
from eval.items import Item, choice_item


def _offline_mc(config: RunConfig) -> list[Item]:
    path = config.eval.offline_mc_file
    table = load_table(path, {"id": "id", "question": "question", "options": "options", "answer": "answer"})
    items = []
    for row in table:
        options = {letter: text for letter, text in (row["options"] or {}).items() if text is not None}
        if row["answer"] not in options:
            raise UserError(f"{path}: question {row['id']} has answer {row['answer']!r}, "
                            f"not one of its options {sorted(options)}")
        items.append(choice_item("offline_mc", row["id"], row["question"], options, row["answer"], f"file {path}"))
    return items


def _first_exchanges(table, source, limit: int) -> list[tuple[str, str]]:
    """The first question and answer of each readable record, in any of the training formats
    (a multi-turn conversation is asked its first question only)."""
    fmt, _ = resolve_format(source.format, table)
    pairs = []
    for row in table:
        if len(pairs) == limit:
            break
        try:
            pairs.append(first_exchange(read_conversation(row, fmt, source.columns.model_dump())))
        except Refused:
            continue
    return pairs


def _open_ended(config: RunConfig) -> list[Item]:
    """Held-out rows of the run's own data: the same seeded split train/ held out."""
    data = config.data
    if data.validation_source is not None:
        source, where = data.validation_source, data.validation_source.source
        held_out = load_records(source)
    else:
        _, held_out = validation_split(load_records(data), max(data.validation_fraction, 0.01),
                                       data.validation_max_rows, data.seed)
        source, where = data, f"{data.source}, held-out rows"
    pairs = _first_exchanges(held_out, source, config.eval.open_ended_rows)
    return [Item(f"open-{index:04d}", "open_ended", "open", question, None, answer, question, where)
            for index, (question, answer) in enumerate(pairs)]


def task_items(config: RunConfig, task: str) -> list[Item]:
    """All of a task's items, before any limit."""
    if task in EXAM_TASKS:
        return packaged_items(task) if config.eval.exam_source == "packaged" else hub_items(task)
    return _offline_mc(config) if task == "offline_mc" else _open_ended(config)


def task_limit(config: RunConfig, task: str) -> int | None:
    return config.eval.limit_per_task.get(task, config.eval.limit)


def load_items(config: RunConfig) -> list[Item]:
    items = []
    for task in config.eval.tasks:
        items += task_items(config, task)[: task_limit(config, task)]
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise UserError("evaluation items have duplicate ids")
    return items
