"""The tiny SFT run: it learns, and its manifest says what happened."""

import json

from tests.conftest import TINY, assert_user_error, run_cli

# Stated in docs/stages.md: 30 steps of the demo recipe lower the validation loss by at least 4 nats
# (from about 14.5 for the untrained stand-in).
MIN_VALIDATION_DROP = 4.0


def test_validation_loss_falls_by_the_stated_amount(trained_run):
    results = trained_run["adapter_manifest"]["results"]
    drop = results["validation_loss_before"] - results["validation_loss_after"]
    assert drop >= MIN_VALIDATION_DROP, results


def test_manifest_records_data_versions_and_figures(trained_run):
    manifest = trained_run["adapter_manifest"]
    assert manifest["stage"] == "train"
    assert manifest["base_model"]["id"] == ".assets/tiny-r1-llama"
    counts = manifest["data"]["counts"]
    assert counts["train_rows_kept"] > 250 and counts["train_dropped_too_long"] == 0
    assert manifest["data"]["train"]["fingerprint"].startswith("sha256:")
    results = manifest["results"]
    assert results["steps"] == 30 and results["real_tokens_trained"] > 10_000 and results["tokens_per_second"] > 0
    assert {"torch", "transformers", "peft", "trl"} <= set(manifest["versions"])
    assert manifest["placement"] == {"device": "cpu", "backend": "transformers", "micro_batch_size": 4,
                                     "gradient_checkpointing": "off", "gradient_accumulation_steps": 1,
                                     "world_size": 1, "ranks": manifest["placement"]["ranks"]}
    adapter = trained_run["root"] / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "chat_template.jinja").is_file()
    assert (adapter / "heldout.jsonl").read_text().count("\n") >= 8


def test_empty_and_too_long_rows_are_dropped_and_counted(tmp_path, tiny_model):
    data = tmp_path / "rows.jsonl"
    good = {"Question": "A 30-year-old woman has a fever. Next step?", "Complex_CoT": "Okay, fever... cultures.",
            "Response": "Blood cultures."}
    lines = [{**good, "Question": f"{good['Question']} ({i})"} for i in range(20)]  # distinct: repeats are dropped
    lines += [{**good, "Response": ""}, {**good, "Question": "long " * 700}]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_cli("train", "--config", str(TINY), f"runs_dir={tmp_path / 'runs'}", "name=drops",
                     f"data.source={data}", "data.replay=null", "data.validation_fraction=0", "train.max_steps=1",
                     "train.report_to=none")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = json.loads((tmp_path / "runs" / "drops" / "adapter" / "manifest.json").read_text())["data"]["counts"]
    assert (counts["train_dropped_empty"], counts["train_dropped_too_long"], counts["train_rows_kept"]) == (1, 1, 20)
    assert "dropped 2 (empty 1, too long 1)" in result.stdout


def test_bad_training_inputs_stop_with_one_line(tmp_path):
    runs = tmp_path / "runs"
    cases = [
        (["model.max_seq_length=200000"], "above"),
        (["model.id=no-such-org/no-such-model"], "cannot be loaded"),
        (["train.backend=unsloth"], "needs a CUDA GPU"),
        (["train.device=cuda"], "has none"),
        (["train.resume=true", "name=never-trained"], "no complete checkpoint"),
    ]
    for overrides, needle in cases:
        result = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", *overrides)
        assert_user_error(result, needle)
    assert not runs.exists()


def test_data_file_missing_or_without_a_column_stops_before_any_output(tmp_path):
    runs = tmp_path / "runs"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"Question": "q", "Response": "r"}\n')
    result = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", f"data.source={bad}")
    assert_user_error(result, "Complex_CoT")
    result = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", f"data.source={tmp_path / 'absent.jsonl'}")
    assert_user_error(result, "not found")
    assert not runs.exists()
