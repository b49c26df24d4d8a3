"""serve.backend: llama_cpp: llama.cpp's batching server over the run's GGUF, behind the project's
OpenAI-compatible layer (serve/openai_proxy.py)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import httpx
from rich.console import Console

from common.chat_format import PROBE_QUESTION, opens_think_block
from common.config import RunConfig
from common.errors import UserError
from common.layout import RunLayout
from serve.artifacts import api_key, curl_example, gguf_to_serve
from serve.llama_server import LlamaServer, LlamaServerOptions, default_binary
from serve.openai_proxy import ProxyOptions, create_proxy_app
from serve.slots import SlotChoice, auto_slots


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: a port whose last connections are still in TIME_WAIT is free to listen on
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); set serve.port or serve.host") from None


def server_threads() -> int:
    """All cores but one for one token at a time: llama.cpp's workers spin on every core they are
    given, and the HTTP side then waits for a core at every token (BENCHMARKS.md). Steps that
    decode several clients' tokens at once, and prompts, get every core: there the work is
    large enough to pay for it."""
    return max(1, (os.cpu_count() or 2) - 1)


def serving_slots(config: RunConfig, gguf: Path, binary: Path) -> SlotChoice:
    if config.serve.slots == "auto":
        choice = auto_slots(gguf, config.serve.n_ctx, config.serve.n_gpu_layers, binary)
        return SlotChoice(choice.slots, f"serve.slots auto: {choice.reason}")
    return SlotChoice(config.serve.slots, "serve.slots")


def llama_server_options(config: RunConfig) -> LlamaServerOptions:
    layout = RunLayout.for_run(config.runs_dir, config.name)
    binary = Path(config.serve.llama_server).expanduser() if config.serve.llama_server else default_binary()
    gguf = gguf_to_serve(config)
    slots = serving_slots(config, gguf, binary)
    return LlamaServerOptions(
        gguf=str(gguf), model_name=config.served_model_name, n_ctx=config.serve.n_ctx,
        slots=slots.slots, slots_reason=slots.reason, n_gpu_layers=config.serve.n_gpu_layers,
        n_threads=config.serve.n_threads or server_threads(),
        n_threads_batch=config.serve.n_threads or os.cpu_count() or 1, binary=binary, log_file=layout.root / "llama-server.log",
    )


def llama_server_prefills_thinking(server: LlamaServer) -> bool:
    """Whether the GGUF's chat template, as llama-server renders it, opens the think block itself."""
    rendered = httpx.post(f"{server.url}/apply-template", headers={"Authorization": f"Bearer {server.key}"},
                          json={"messages": [{"role": "user", "content": PROBE_QUESTION}]}, timeout=30)
    rendered.raise_for_status()
    return opens_think_block(rendered.json()["prompt"])


def run_llama_cpp(config: RunConfig) -> int:
    import uvicorn

    options = llama_server_options(config)
    host, port, key = config.serve.host, config.serve.port, api_key(config)
    _require_free_port(host, port)
    console = Console(stderr=True)
    if not _is_loopback(host) and not key:
        console.print(f"[bold red]warning[/]: listening on {host} without an API key; anyone who can reach "
                      f"this machine can use the model. Set serve.api_key or SERVE_API_KEY.")
    with LlamaServer(options) as server:
        with console.status(f"loading {options.gguf} into llama-server ({options.slots} slots of "
                            f"{options.n_ctx} tokens)"):
            server.start(config.serve.startup_timeout_s)
        app = create_proxy_app(
            ProxyOptions(model_name=options.model_name, n_ctx=options.n_ctx, api_key=key,
                         temperature=config.sampling.temperature, top_p=config.sampling.top_p,
                         max_tokens=config.sampling.max_tokens, prefilled=llama_server_prefills_thinking(server)),
            server.url, server.key, lambda: server.exit_code)
        url = f"http://{host}:{port}"
        console.print(f"serving [bold]{options.model_name}[/] ({os.path.basename(options.gguf)}) at {url}/v1 "
                      f"with {options.slots} parallel slots ({options.slots_reason}); llama-server log: {options.log_file}")
        console.print(f"web chat: {url}/" + ("  (enter the API key in the page, or open it with #key=...)"
                                              if key else ""))
        console.print(curl_example(url, options.model_name, key), soft_wrap=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
