"""llama.cpp's own server (`llama-server`, built by `make setup` from the pinned source) as a child
process on a private loopback port: parallel slots with continuous batching, the model's chat
template, prompt caching. serve/openai_proxy.py is the only client it has."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from common.endpoint import free_port
from common.errors import UserError
from common.layout import llama_cpp_build_dir

ALL_LAYERS = 999  # llama-server's "every layer"; the config says -1


@dataclass(frozen=True)
class LlamaServerOptions:
    gguf: str
    model_name: str
    n_ctx: int  # per slot: the longest prompt + completion one request may have
    slots: int
    slots_reason: str  # what set the slot count: the config, or serve.slots: auto's rule (serve/slots.py)
    n_gpu_layers: int
    n_threads: int  # one token at a time
    n_threads_batch: int  # several clients' tokens in one step, and prompts
    binary: Path
    log_file: Path


def default_binary() -> Path:
    return llama_cpp_build_dir() / "bin" / "llama-server"


def command(options: LlamaServerOptions, port: int) -> list[str]:
    return [
        str(options.binary), "--model", options.gguf, "--alias", options.model_name,
        "--host", "127.0.0.1", "--port", str(port),
        # one KV region per slot, so every request has the context the config promises
        "--parallel", str(options.slots), "--ctx-size", str(options.n_ctx * options.slots), "--no-kv-unified",
        "--n-gpu-layers", str(ALL_LAYERS if options.n_gpu_layers < 0 else options.n_gpu_layers),
        "--threads", str(options.n_threads), "--threads-batch", str(options.n_threads_batch),
        # the thinking is split from the answer in one place for every backend (common/reasoning.py)
        "--reasoning-format", "none", "--jinja",
        "--no-webui", "--metrics",
    ]


def _die_with_parent() -> None:
    """A serve stage killed outright must not leave its model server holding the port and memory."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class LlamaServer:
    """Start, wait until it answers /health, stop; `key` is a fresh secret only the proxy knows."""

    def __init__(self, options: LlamaServerOptions) -> None:
        if not options.binary.is_file():
            raise UserError(f"llama-server not found at {options.binary}; `make setup` builds it from the pinned "
                            f"llama.cpp source, or set serve.llama_server to one of your own")
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float) -> LlamaServer:
        self.options.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.options.log_file, "ab")
        # the key travels in the environment, not on the command line other users can read
        env = {**os.environ, "LLAMA_API_KEY": self.key}
        self.process = subprocess.Popen(command(self.options, self.port), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(f"llama-server exited with code {self.process.returncode} while loading "
                                f"{self.options.gguf}; its log ({self.options.log_file}) ends:\n"
                                f"{log_tail(self.options.log_file)}")
            if self.healthy(timeout_s=1):
                return self
            time.sleep(0.2)
        self.stop()
        raise UserError(f"llama-server did not load {self.options.gguf} within {timeout_s:.0f} s "
                        f"(serve.startup_timeout_s); log: {self.options.log_file}")

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def healthy(self, timeout_s: float = 2) -> bool:
        if self.exit_code is not None:
            return False
        try:
            return httpx.get(f"{self.url}/health", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
