"""serve.backend: vllm: `vllm serve` on the merged folder, or the base with the LoRA adapter."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.config import RunConfig
from common.errors import UserError
from common.layout import RunLayout
from common.manifests import AdapterManifest, read_adapter_manifest, read_merge_manifest
from serve.artifacts import adapter_rank, api_key, curl_example

# Ranks vLLM accepts for --max-lora-rank; its default (16) refuses larger adapters.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank_for(rank: int) -> int:
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise UserError(f"adapter rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_LORA_RANKS[-1]})")


def vllm_command(config: RunConfig, executable: str = "vllm") -> list[str]:
    """The exact `vllm serve` command line for this run (no side effects beyond reading manifests)."""
    layout = RunLayout.for_run(config.runs_dir, config.name)
    settings = config.serve.vllm
    name = config.served_model_name
    if settings.source == "merged":
        read_merge_manifest(layout.merged, "run `make convert` first (it writes the merged model)")
        command = [executable, "serve", str(layout.merged), "--served-model-name", name]
    else:
        command = [executable, "serve", *_adapter_base_args(read_adapter_manifest(layout.adapter, "run `make train` first")),
                   "--enable-lora", "--lora-modules", f"{name}={layout.adapter}", "--max-lora-rank",
                   str(settings.max_lora_rank or lora_rank_for(adapter_rank(layout.adapter)))]
    command += [
        "--host", config.serve.host, "--port", str(config.serve.port),
        "--max-model-len", str(settings.max_model_len),
        "--gpu-memory-utilization", str(settings.gpu_memory_utilization),
        "--tensor-parallel-size", str(settings.tensor_parallel_size),
        "--reasoning-parser", "deepseek_r1",
    ]
    key = api_key(config)
    if key:
        command += ["--api-key", key]
    return command + list(settings.extra_args)


def _adapter_base_args(manifest: AdapterManifest) -> list[str]:
    """The base vLLM loads under the adapter: exactly the weights it was trained against. A QLoRA
    adapter trained on a pre-quantized repo gets that repo, loaded 4-bit by bitsandbytes as in
    training; one trained on weights quantized while loading cannot be served that way (vLLM's
    own quantization of the original is not the one it was trained against)."""
    record = manifest.base_model.require_trained_against("serve the merged model (serve.vllm.source=merged) "
                                                         "or train it again")
    if record.quantized_in == "load":
        raise UserError("this QLoRA adapter was trained on weights quantized while loading, which vLLM cannot "
                        "reproduce; serve the merged model (serve.vllm.source=merged)")
    base = record.source
    args = [base, "--served-model-name", Path(base).name]
    if record.repo and record.commit:
        args += ["--revision", record.commit]
    if record.quantized_in == "repo":
        args += ["--quantization", "bitsandbytes"]
    return args


def require_vllm() -> list[str]:
    """How to start vLLM's CLI here: its `vllm` script, or the module when only the package is on
    the path (an offline install unpacked into a folder on PYTHONPATH has no script)."""
    if importlib.util.find_spec("vllm") is None:
        raise UserError("serve.backend: vllm, but vLLM is not installed (pip install -e '.[vllm]' on a CUDA machine)")
    import torch

    if not torch.cuda.is_available():
        raise UserError("serve.backend: vllm needs a CUDA GPU and this machine has none; use serve.backend=llama_cpp")
    script = shutil.which("vllm")
    return [script] if script else [sys.executable, "-m", "vllm.entrypoints.cli.main"]


def vllm_environment(environ) -> dict[str, str]:
    """vLLM's sampler imports FlashInfer unless told not to, and FlashInfer is the one CUDA
    dependency an offline install most often lacks (BENCHMARKS.md, vLLM offline install)."""
    env = dict(environ)
    if importlib.util.find_spec("flashinfer") is None and "VLLM_USE_FLASHINFER_SAMPLER" not in env:
        env["VLLM_USE_FLASHINFER_SAMPLER"] = "0"
    return env


def run_vllm(config: RunConfig) -> int:
    command = require_vllm() + vllm_command(config)[1:]
    url = f"http://{config.serve.host}:{config.serve.port}"
    print("starting:", " ".join(command), flush=True)
    process = subprocess.Popen(command, env=vllm_environment(os.environ))
    try:
        _wait_until_healthy(process, url, config.serve.startup_timeout_s)
        print(f"\nvLLM is serving {config.served_model_name} at {url}/v1\n{curl_example(url, config.served_model_name, api_key(config))}\n",
              flush=True)
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
    finally:
        # whatever ends this process (an error included) ends vLLM too, rather than orphaning a server
        if process.poll() is None:
            process.terminate()
            process.wait()


def _wait_until_healthy(process: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"vllm serve exited with code {process.returncode} before it was ready (see its log above)")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise UserError(f"vllm serve did not answer {url}/health within {timeout_s:.0f} s")
