"""Evaluation tasks: each configured task's items, with the per-task limits applied."""

from __future__ import annotations

from common.config import RunConfig
from common.data import load_source, load_table, validation_split
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


def _open_ended(config: RunConfig) -> list[Item]:
    """Held-out rows of the run's own data: the same seeded split train/ held out."""
    data = config.data
    if data.validation_source is not None:
        held_out, where = load_source(data.validation_source), data.validation_source.source
    else:
        _, held_out = validation_split(load_source(data), max(data.validation_fraction, 0.01),
                                       data.validation_max_rows, data.seed)
        where = f"{data.source}, held-out rows"
    rows = held_out.select(range(min(config.eval.open_ended_rows, len(held_out))))
    return [Item(f"open-{index:04d}", "open_ended", "open", row["question"], None, row["response"], row["question"],
                 where) for index, row in enumerate(rows)]


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
