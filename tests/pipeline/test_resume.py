"""Ctrl-C checkpoints and stops; resume continues with the same data order, optimizer and
scheduler state, so the loss at the last step equals an uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, TINY, run_cli

STEPS = 8
COMMON = ["data.max_rows=80", "data.validation_fraction=0", "data.replay=null", f"train.max_steps={STEPS}",
          "train.save_every=2", "train.logging_every=1", "train.report_to=none", "train.micro_batch_size=2"]


def losses(run_root):
    history = json.loads((run_root / "adapter" / "manifest.json").read_text())["results"]["loss_history"]
    return {entry["step"]: entry["loss"] for entry in history}


def test_killed_then_resumed_run_matches_an_uninterrupted_one(tmp_path, tiny_model):
    runs = tmp_path / "runs"
    straight = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", "name=straight", *COMMON)
    assert straight.returncode == 0, straight.stderr[-2000:]

    args = [sys.executable, "-m", "train", "--config", str(TINY), f"runs_dir={runs}", "name=stopped", *COMMON]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    checkpoint = runs / "stopped" / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, err[-2000:]
    assert "interrupted: checkpoint saved" in err and "RESUME=1" in err
    assert not (runs / "stopped" / "adapter").exists()
    saved = sorted(int(p.name.split("-")[1]) for p in (runs / "stopped" / "checkpoints").glob("checkpoint-*"))
    assert saved and max(saved) < STEPS

    resumed = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", "name=stopped", "train.resume=true", *COMMON)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    manifest = json.loads((runs / "stopped" / "adapter" / "manifest.json").read_text())
    assert manifest["results"]["resumed_from"].endswith(f"checkpoint-{max(saved)}")
    expected, got = losses(runs / "straight"), losses(runs / "stopped")
    for step in range(max(saved) + 1, STEPS + 1):
        assert abs(expected[step] - got[step]) < 1e-4, (step, expected[step], got[step])


def test_half_written_checkpoints_are_never_resumed_from(tmp_path):
    from train.lifecycle import latest_checkpoint

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4").mkdir()  # killed while writing: no trainer_state.json yet
    assert latest_checkpoint(tmp_path).name == "checkpoint-2"
