"""Evaluation tasks as items with one rendered user turn each.

Prompts follow DeepSeek's advice for R1: no system prompt, all instructions in the user turn,
the answer-format sentence last.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common.config import RunConfig
from common.data import load_source, load_table, validation_split
from common.errors import UserError
from common.reasoning import format_choice_question

LABEL_INSTRUCTION = "Please reason step by step, and put your final answer (yes, no or maybe) within \\boxed{}."
LETTERS = "ABCD"

# Public sets, loaded when the hub is reachable (ids, configs and splits as published).
MEDQA = ("GBaker/MedQA-USMLE-4-options", None, "test")          # 1,273 questions
MEDMCQA = ("openlifescienceai/medmcqa", None, "validation")      # 4,183 questions
PUBMEDQA = ("qiaojin/PubMedQA", "pqa_labeled", "train")          # 1,000 expert-labelled


@dataclass(frozen=True)
class Item:
    id: str
    task: str
    kind: str  # "choice", "label" or "open"
    question: str
    options: dict | None
    reference: str
    prompt: str

    def as_record(self) -> dict:
        return asdict(self)


def choice_item(task: str, item_id: str, stem: str, options: dict, answer: str) -> Item:
    return Item(item_id, task, "choice", stem, options, answer, format_choice_question(stem, options))


def _offline_mc(config: RunConfig) -> list[Item]:
    table = load_table(config.eval.offline_mc_file,
                       {"id": "id", "question": "question", "options": "options", "answer": "answer"})
    items = []
    for row in table:
        options = {letter: text for letter, text in (row["options"] or {}).items() if text is not None}
        if row["answer"] not in options:
            raise UserError(f"{config.eval.offline_mc_file}: question {row['id']} has answer {row['answer']!r}, "
                            f"not one of its options {sorted(options)}")
        items.append(choice_item("offline_mc", row["id"], row["question"], options, row["answer"]))
    return items


def _hub(task: str, spec: tuple, columns: dict):
    source, subset, split = spec
    try:
        return load_table(source, columns, subset=subset, split=split)
    except UserError as exc:
        raise UserError(f"task {task} needs {source} from the hub: {exc}") from None


def _medqa(config: RunConfig) -> list[Item]:
    table = _hub("medqa", MEDQA, {"question": "question", "options": "options", "answer": "answer_idx"})
    return [choice_item("medqa", f"medqa-{index:04d}", row["question"], dict(row["options"]), row["answer"])
            for index, row in enumerate(table)]


def _medmcqa(config: RunConfig) -> list[Item]:
    table = _hub("medmcqa", MEDMCQA, {"id": "id", "question": "question", "opa": "opa", "opb": "opb",
                                      "opc": "opc", "opd": "opd", "cop": "cop"})
    return [choice_item("medmcqa", f"medmcqa-{row['id']}", row["question"],
                        dict(zip(LETTERS, (row["opa"], row["opb"], row["opc"], row["opd"]), strict=True)),
                        LETTERS[int(row["cop"])])
            for row in table]


def _pubmedqa(config: RunConfig) -> list[Item]:
    table = _hub("pubmedqa", PUBMEDQA, {"id": "pubid", "question": "question", "context": "context",
                                        "answer": "final_decision"})
    items = []
    for row in table:
        context = "\n".join(row["context"]["contexts"]) if isinstance(row["context"], dict) else str(row["context"])
        prompt = f"{context}\n\nQuestion: {row['question']}\n\n{LABEL_INSTRUCTION}"
        items.append(Item(f"pubmedqa-{row['id']}", "pubmedqa", "label", row["question"], None, row["answer"], prompt))
    return items


def _open_ended(config: RunConfig) -> list[Item]:
    """Held-out rows of the run's own data: the same seeded split train/ held out."""
    data = config.data
    if data.validation_source is not None:
        held_out = load_source(data.validation_source)
    else:
        _, held_out = validation_split(load_source(data), max(data.validation_fraction, 0.01),
                                       data.validation_max_rows, data.seed)
    rows = held_out.select(range(min(config.eval.open_ended_rows, len(held_out))))
    return [Item(f"open-{index:04d}", "open_ended", "open", row["question"], None, row["response"], row["question"])
            for index, row in enumerate(rows)]


LOADERS = {"offline_mc": _offline_mc, "medqa": _medqa, "medmcqa": _medmcqa, "pubmedqa": _pubmedqa,
           "open_ended": _open_ended}


def load_items(config: RunConfig) -> list[Item]:
    items = []
    for task in config.eval.tasks:
        loaded = LOADERS[task](config)
        if config.eval.limit:
            loaded = loaded[: config.eval.limit]
        items += loaded
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise UserError("evaluation items have duplicate ids")
    return items
