"""The project's own offline data: schema, size, balance, and in sync with its generator."""

import json
import subprocess
import sys
from collections import Counter

from common.reasoning import format_choice_question
from tests.conftest import ROOT

DATA = ROOT / "data"


def rows(name):
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_sft_file_has_the_medical_o1_schema_and_enough_rows():
    sft = rows("medical_o1_offline.jsonl")
    assert len(sft) >= 300
    assert all(list(row) == ["Question", "Complex_CoT", "Response"] and all(row.values()) for row in sft)


def test_eval_file_has_at_least_100_balanced_four_option_questions():
    questions = rows("medical_mc_eval.jsonl")
    assert len(questions) >= 100
    assert all(sorted(q["options"]) == ["A", "B", "C", "D"] and q["answer"] in "ABCD" for q in questions)
    counts = Counter(q["answer"] for q in questions)
    assert min(counts.values()) / len(questions) >= 0.2


def test_held_out_questions_are_not_in_the_training_files():
    held_out = {q["question"] for q in rows("medical_mc_eval.jsonl")}
    train_text = "\n".join(r["Question"] for r in rows("medical_o1_offline.jsonl"))
    assert not any(stem in train_text for stem in held_out)
    assert not held_out & {q["question"] for q in rows("medical_mc_train.jsonl")}


def test_choice_rows_are_rendered_by_the_shared_format():
    question = rows("medical_mc_train.jsonl")[0]
    rendered = format_choice_question(question["question"], question["options"])
    assert rendered.endswith("within \\boxed{}.") and "\nA. " in rendered


def test_committed_files_equal_what_the_generator_writes():
    result = subprocess.run([sys.executable, "-m", "tools.offline_data", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
