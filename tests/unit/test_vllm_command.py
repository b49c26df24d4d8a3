"""vLLM backend: the exact command lines, and a clear stop where vLLM cannot run."""

from pathlib import Path

import pytest

from common.artifacts import write_manifest
from common.config import load_config
from common.errors import UserError
from serve.vllm_backend import lora_rank_for, vllm_command
from tests.conftest import REAL, TINY, assert_user_error, run_cli

SHA = "0123456789abcdef0123456789abcdef01234567"
SIXTEEN_BIT = {"repo": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "commit": SHA, "dir": "/cache/snapshot", "quantized_in": None}
PREQUANTIZED = {"repo": "unsloth/DeepSeek-R1-Distill-Llama-8B-unsloth-bnb-4bit", "commit": SHA, "dir": "/cache/snapshot", "quantized_in": "repo"}
QUANTIZED_AT_LOAD = {"repo": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "commit": SHA, "dir": "/cache/snapshot", "quantized_in": "load"}


def fake_run(tmp_path, rank=16, trained_against=SIXTEEN_BIT):
    root = tmp_path / "runs" / "r1-distill-llama-8b-medical"
    (root / "merged").mkdir(parents=True)
    write_manifest(root / "merged", "merge", {"base_model": "/cache/base", "adapter": str(root / "adapter")})
    (root / "adapter").mkdir()
    write_manifest(root / "adapter", "train", {
        "base_model": {"id": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "trained_against": trained_against},
        "adapter": {"r": rank}, "data": {}, "results": {}})
    (root / "adapter" / "adapter_config.json").write_text(f'{{"r": {rank}}}')
    return root


def test_merged_model_command(tmp_path):
    root = fake_run(tmp_path)
    config = load_config(REAL, [f"runs_dir={tmp_path / 'runs'}", "serve.backend=vllm", "serve.vllm.max_model_len=4096",
                                "serve.vllm.gpu_memory_utilization=0.85", "serve.vllm.tensor_parallel_size=2"])
    assert vllm_command(config) == [
        "vllm", "serve", str(root / "merged"), "--served-model-name", "r1-distill-llama-8b-medical",
        "--host", "127.0.0.1", "--port", "8000", "--max-model-len", "4096", "--gpu-memory-utilization", "0.85",
        "--tensor-parallel-size", "2", "--reasoning-parser", "deepseek_r1",
    ]


def test_base_plus_adapter_command_fits_the_rank(tmp_path):
    root = fake_run(tmp_path, rank=48)
    config = load_config(REAL, [f"runs_dir={tmp_path / 'runs'}", "serve.backend=vllm", "serve.vllm.source=adapter",
                                "serve.api_key=secret", "serve.model_name=medical"])
    assert vllm_command(config) == [
        "vllm", "serve", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "--served-model-name",
        "DeepSeek-R1-Distill-Llama-8B", "--revision", SHA, "--enable-lora", "--lora-modules",
        f"medical={root / 'adapter'}", "--max-lora-rank", "64", "--host", "127.0.0.1", "--port", "8000", "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.9", "--tensor-parallel-size", "1", "--reasoning-parser", "deepseek_r1",
        "--api-key", "secret",
    ]
    assert [lora_rank_for(r) for r in (8, 16, 17, 128, 300)] == [8, 16, 32, 128, 320]


def test_a_qlora_adapter_is_served_on_the_4bit_weights_it_was_trained_against(tmp_path):
    """On the pre-quantized repo at its commit, loaded 4-bit: the bf16 original is not what the
    adapter saw (the parity ladder scores that merge far from the trained model)."""
    fake_run(tmp_path, trained_against=PREQUANTIZED)
    config = load_config(REAL, [f"runs_dir={tmp_path / 'runs'}", "serve.backend=vllm", "serve.vllm.source=adapter"])
    command = vllm_command(config)
    assert command[2:7] == [PREQUANTIZED["repo"], "--served-model-name", "DeepSeek-R1-Distill-Llama-8B-unsloth-bnb-4bit",
                            "--revision", SHA]
    assert command[7:9] == ["--quantization", "bitsandbytes"]


def test_an_adapter_trained_on_weights_quantized_while_loading_is_refused(tmp_path):
    fake_run(tmp_path, trained_against=QUANTIZED_AT_LOAD)
    config = load_config(REAL, [f"runs_dir={tmp_path / 'runs'}", "serve.backend=vllm", "serve.vllm.source=adapter"])
    with pytest.raises(UserError, match="serve.vllm.source=merged"):
        vllm_command(config)


def test_without_vllm_or_gpu_it_stops_at_once(tmp_path):
    result = run_cli("serve", "--config", str(TINY), "serve.backend=vllm", f"runs_dir={tmp_path}")
    assert_user_error(result, "vLLM" if "not installed" in result.stderr else "CUDA")
    assert not Path(tmp_path / "tiny-cpu").exists()


def test_vllm_backend_needs_no_llama_cpp():
    """A vLLM host has no llama-cpp-python: the backend's code path, the curl hint it prints once
    vLLM is up included, must not import it (it did, and the serve stage died with vLLM running)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['llama_cpp'] = None\n"
            "from serve.vllm_backend import run_vllm\n"
            "from serve.artifacts import curl_example\n"
            "print(curl_example('http://127.0.0.1:8000', 'm', None))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("curl http://127.0.0.1:8000/v1/chat/completions")


def test_vllm_samples_without_flashinfer_when_it_is_missing():
    import importlib.util

    from serve.vllm_backend import vllm_environment

    env = vllm_environment({"PATH": "/bin"})
    if importlib.util.find_spec("flashinfer") is None:
        assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    assert vllm_environment({"VLLM_USE_FLASHINFER_SAMPLER": "1"})["VLLM_USE_FLASHINFER_SAMPLER"] == "1"
