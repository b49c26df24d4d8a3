"""Data-parallel training through torchrun: two processes (gloo, CPU) on the tiny model, against
one process with the same global batch."""

import json
from pathlib import Path

import pytest

from common.endpoint import free_port
from tests.conftest import TINY, run_cli

STEPS = 2
SETTINGS = ["data.max_rows=40", "data.validation_fraction=0", "data.replay=null", f"train.max_steps={STEPS}",
            "train.micro_batch_size=1", "train.gradient_accumulation_steps=2", "train.report_to=none",
            "train.save_every=100", "train.logging_every=1"]


def _train(runs: Path, name: str, processes: int) -> dict:
    launcher = []
    if processes > 1:  # torchrun, as `make train GPUS=N` runs it
        launcher = ["torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr", "127.0.0.1",
                    "--master_port", str(free_port()), "-m"]
    result = run_cli(*launcher, "train", "--config", str(TINY), f"runs_dir={runs}", f"name={name}", *SETTINGS,
                     env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((runs / name / "adapter" / "manifest.json").read_text())


def test_two_processes_write_one_adapter_see_different_data_and_match_one_process(tmp_path, tiny_model):
    runs = tmp_path / "runs"
    manifest = _train(runs, "ddp", processes=2)

    # one final adapter and one checkpoint per save step, written by rank 0 alone
    adapters = sorted(runs.rglob("adapter_model.safetensors"))
    assert [p.parent.relative_to(runs / "ddp") for p in adapters] == [Path("adapter"), Path(f"checkpoints/checkpoint-{STEPS}")]
    assert len(list(runs.iterdir())) == 1

    placement = manifest["placement"]
    assert placement["world_size"] == 2 and placement["gradient_accumulation_steps"] == 2
    ranks = placement["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["trained_tokens"] > 0 for r in ranks)
    assert ranks[0]["data_sha256"] != ranks[1]["data_sha256"]
    assert manifest["results"]["steps"] == STEPS

    # the global batch is kept: same rows per step, so the same loss as accumulating in one process
    single = _train(runs.with_name("single"), "one", processes=1)
    assert single["results"]["real_tokens_trained"] == manifest["results"]["real_tokens_trained"]
    losses = [entry["loss"] for entry in manifest["results"]["loss_history"]]
    expected = [entry["loss"] for entry in single["results"]["loss_history"]]
    assert len(losses) == STEPS and losses == pytest.approx(expected, rel=2e-3)
