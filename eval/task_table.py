"""`python -m eval tasks`: what each configured task would evaluate and where its questions come from."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from common.config import RunConfig
from eval.items import Item
from eval.tasks import task_items, task_limit

LETTERS = "ABCDEFGHIJ"


def answer_choices(items: list[Item]) -> str:
    """"A-E" for options A to E, "yes / no / maybe" for label questions; several kinds joined."""
    shown = set()
    for item in items:
        if item.kind == "choice":
            letters = "".join(sorted(item.options))
            shown.add(f"{letters[0]}-{letters[-1]}" if letters == LETTERS[: len(letters)] else letters)
        else:
            shown.add("yes / no / maybe" if item.kind == "label" else "open answer")
    return ", ".join(sorted(shown))


def task_rows(config: RunConfig) -> list[dict]:
    rows = []
    for task in config.eval.tasks:
        items = task_items(config, task)
        chosen = items[: task_limit(config, task)]
        rows.append({"task": task, "source": "; ".join(sorted({item.source for item in items})),
                     "items": len(chosen), "available": len(items), "answers": answer_choices(chosen)})
    return rows


def print_task_table(config: RunConfig) -> None:
    rows = task_rows(config)
    table = Table(title=f"eval tasks of {config.name} (eval.exam_source: {config.eval.exam_source})")
    table.add_column("task")
    table.add_column("source", overflow="fold")
    table.add_column("items", justify="right")
    table.add_column("of", justify="right")
    table.add_column("answers")
    for row in rows:
        table.add_row(row["task"], row["source"], f"{row['items']:,}", f"{row['available']:,}", row["answers"])
    table.add_section()
    table.add_row("total", "", f"{sum(r['items'] for r in rows):,}", f"{sum(r['available'] for r in rows):,}", "")
    Console().print(table)
