"""An evaluation item: one rendered user turn, its reference answer and where it came from.

Prompts follow DeepSeek's advice for R1: no system prompt, all instructions in the user turn,
the answer-format sentence last.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common.reasoning import format_choice_question

LABEL_INSTRUCTION = "Please reason step by step, and put your final answer (yes, no or maybe) within \\boxed{}."


@dataclass(frozen=True)
class Item:
    id: str
    task: str
    kind: str  # "choice", "label" or "open"
    question: str
    options: dict | None
    reference: str
    prompt: str
    source: str = ""  # the file, or hub id, config and split, the item was read from

    def as_record(self) -> dict:
        return asdict(self)


def choice_item(task: str, item_id: str, stem: str, options: dict, answer: str, source: str = "") -> Item:
    return Item(item_id, task, "choice", stem, options, answer, format_choice_question(stem, options), source)


def label_item(task: str, item_id: str, contexts: list[str], question: str, answer: str, source: str) -> Item:
    """A yes/no/maybe question on an abstract (PubMedQA): the abstract, the question, the format sentence."""
    context = "\n".join(contexts)
    prompt = f"{context}\n\nQuestion: {question}\n\n{LABEL_INSTRUCTION}"
    return Item(item_id, task, "label", question, None, answer, prompt, source)
