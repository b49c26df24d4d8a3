"""The eval harness: strict scoring from files, a real run against the server, reports."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import TINY, assert_user_error, run_cli

OPTIONS = {"A": "Aspirin", "B": "Metformin", "C": "Insulin", "D": "Lisinopril"}
GENERATIONS = [
    {"id": "q1", "question": "A 50-year-old man...", "options": OPTIONS, "reference": "B",
     "output": "thinking</think>\n\nThe answer is \\boxed{B}.", "finish_reason": "stop"},
    {"id": "q2", "question": "A 30-year-old woman...", "options": OPTIONS, "reference": "A",
     "output": "I think it is A but let me", "finish_reason": "length"},
    {"id": "q3", "question": "A child...", "options": OPTIONS, "reference": "C",
     "output": "\\boxed{D}", "reasoning": "C is tempting, yet...", "finish_reason": "stop"},
    {"id": "q4", "question": "A patient...", "options": OPTIONS, "reference": "D",
     "output": "</think>Lisinopril.", "finish_reason": "stop"},
]


def write_generations(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_score_cli_rescores_saved_generations_strictly(tmp_path):
    source = tmp_path / "generations.jsonl"
    write_generations(source, GENERATIONS)
    result = run_cli("eval", "score", "--generations", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    scores = {row["id"]: row for row in map(json.loads, (tmp_path / "out" / "scores.jsonl").read_text().splitlines())}
    assert (scores["q1"]["prediction"], scores["q1"]["correct"], scores["q1"]["think_closed"]) == ("B", True, True)
    assert (scores["q2"]["prediction"], scores["q2"]["truncated"], scores["q2"]["think_closed"]) == (None, True, False)
    assert (scores["q3"]["prediction"], scores["q3"]["correct"]) == ("D", False)
    assert scores["q4"]["empty_think"] and scores["q4"]["correct"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["accuracy"] == 0.5 and report["no_answer_rate"] == 0.25
    assert report["truncation_rate"] == 0.25 and report["format_compliance"] == 0.75
    assert report["counts"]["items"] == 4


def test_malformed_generations_name_the_line(tmp_path):
    source = tmp_path / "generations.jsonl"
    source.write_text(json.dumps(GENERATIONS[0]) + "\n{not json\n")
    assert_user_error(run_cli("eval", "score", "--generations", str(source), "--out", str(tmp_path / "o")), "line 2")


def test_unknown_task_and_unreachable_endpoint_are_clear(tmp_path):
    assert_user_error(run_cli("eval", "run", "--config", str(TINY), "eval.tasks=[usmle_step9]"), "eval.tasks")
    result = run_cli("eval", "run", "--config", str(TINY), f"runs_dir={tmp_path}", "--endpoint",
                     "http://127.0.0.1:9/v1", "--model", "x")
    assert_user_error(result, "unreachable")


def test_run_against_the_server_then_resume_without_new_requests(server, trained_run, tmp_path):
    # six of the project's questions and one real 5-option MedQA question from the packaged copy
    overrides = [*trained_run["overrides"], "eval.tasks=[offline_mc, medqa]", "eval.limit=6",
                 "eval.limit_per_task={medqa: 1}", "eval.max_tokens=48", "eval.concurrency=2",
                 f"eval.api_key={server.api_key}"]
    args = ["eval", "run", "--config", str(TINY), "--endpoint", f"{server.url}/v1", "--model", server.model,
            "--label", "endpoint-test", *overrides]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    folder = trained_run["root"] / "eval" / "endpoint-test"
    generations = (folder / "generations.jsonl").read_text().splitlines()
    assert len(generations) == 7
    record = json.loads(generations[0])
    assert {"id", "question", "options", "reference", "output", "reasoning", "finish_reason", "source"} <= set(record)
    medqa = [json.loads(line) for line in generations if json.loads(line)["task"] == "medqa"]
    assert [(r["id"], sorted(r["options"])) for r in medqa] == [("medqa-pkg-0001", list("ABCDE"))]
    report = json.loads((folder / "report.json").read_text())
    assert report["overall"]["n"] == 7 and 0 <= report["overall"]["format_compliance"] <= 1
    assert "MedQA/test.jsonl" in report["sources"]["medqa"][0]
    assert {"task", "sex", "age", "question length"} == set(report["slices"])
    again = run_cli(*args)
    assert again.returncode == 0
    assert (folder / "generations.jsonl").read_text().splitlines() == generations


def make_run_folder(folder, label, correct_ids):
    from eval.report import write_run_report
    from eval.run import build_report, score_generations, write_scores

    records = [{**g, "output": "x</think>\\boxed{" + (g["reference"] if g["id"] in correct_ids else "A") + "}"}
               for g in GENERATIONS]
    rows = score_generations(records, lambda text: len(text.split()))
    folder.mkdir(parents=True)
    write_scores(folder, rows)
    write_run_report(folder, label, build_report(label, "file", "-", rows, {}))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium missing: `make test` installs it")
def test_html_report_renders_in_headless_chromium_with_its_plots(tmp_path):
    from PIL import Image

    make_run_folder(tmp_path / "base", "base", {"q1"})
    make_run_folder(tmp_path / "tuned", "tuned", {"q1", "q3", "q4"})
    result = run_cli("eval", "compare", str(tmp_path / "base"), str(tmp_path / "tuned"), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "McNemar" in html
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1400", "--hide-scrollbars"]
    render = subprocess.run(["chromium", *flags, f"--screenshot={shot}", (tmp_path / "cmp" / "report.html").as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert render.returncode == 0 and shot.is_file(), render.stderr[-2000:]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", (tmp_path / "cmp" / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'id="plot-accuracy"' in dom and 'id="plot-reasoning_length"' in dom
    image = Image.open(shot).convert("RGB")
    bar_blue = sum(1 for pixel in image.getdata() if abs(pixel[0] - 0x4a) < 12 and abs(pixel[1] - 0x7a) < 12
                   and abs(pixel[2] - 0xb5) < 12)
    assert bar_blue > 2000, "the accuracy bars are not in the screenshot"


def test_saved_generations_of_another_model_are_set_aside_not_resumed(tmp_path):
    from eval.run import keep_only_matching_generations

    generations = tmp_path / "generations.jsonl"
    first = {"gguf": "/runs/a.gguf", "bytes": 10, "modified_ns": 1, "sampling": {"seed": 0}}
    keep_only_matching_generations(tmp_path, first)
    generations.write_text('{"id": "q1", "sample": 0}\n')
    keep_only_matching_generations(tmp_path, first)  # same model: an interrupted run resumes
    assert generations.read_text() == '{"id": "q1", "sample": 0}\n'
    keep_only_matching_generations(tmp_path, {**first, "modified_ns": 2})  # reconverted GGUF
    assert not generations.exists()
    assert (tmp_path / "generations.stale.jsonl").read_text() == '{"id": "q1", "sample": 0}\n'
