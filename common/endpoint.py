"""Start the serve stage as a separate process on a free loopback port, wait until /health
answers, and stop it: how the demo, the eval harness and the tests reach a local model without
importing the serve stage."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.errors import UserError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """`python -m serve --config FILE [overrides]` on 127.0.0.1:<free port>, as a context manager."""

    def __init__(self, config_file: str, overrides: list[str] | None = None, timeout_s: float = 120,
                 log_file: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout_s = timeout_s
        self.log_file = log_file
        self.command = [sys.executable, "-m", "serve", "--config", config_file, *(overrides or []),
                        "serve.host=127.0.0.1", f"serve.port={self.port}", "serve.backend=llama_cpp"]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LocalServer:
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command, stdout=log, stderr=log, start_new_session=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                where = f" (log: {self.log_file})" if self.log_file else ""
                raise UserError(f"the serve stage exited with code {self.process.returncode} before it was ready{where}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise UserError(f"the serve stage did not answer {self.url}/health within {self.timeout_s:.0f} s")

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __exit__(self, *exc) -> None:
        self.stop()
