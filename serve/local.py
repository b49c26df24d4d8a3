"""serve.backend: llama_cpp: the OpenAI-compatible server over a GGUF, in this process."""

from __future__ import annotations

import ipaddress
import os
import socket

from rich.console import Console

from common.config import RunConfig
from common.errors import UserError
from serve.artifacts import api_key, curl_example, gguf_to_serve
from serve.openai_server import ServeOptions, create_server_app


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
    """All cores but one: llama.cpp's OpenMP workers spin on every core they are given, and the
    HTTP side then waits for a core at every token (on 2 cores: +73% per request; with one core
    left free, +7%, BENCHMARKS.md)."""
    return max(1, (os.cpu_count() or 2) - 1)


def serve_options(config: RunConfig) -> ServeOptions:
    return ServeOptions(
        gguf=str(gguf_to_serve(config)), model_name=config.served_model_name, n_ctx=config.serve.n_ctx,
        n_gpu_layers=config.serve.n_gpu_layers, n_threads=config.serve.n_threads or server_threads(),
        api_key=api_key(config), temperature=config.sampling.temperature, top_p=config.sampling.top_p,
        max_tokens=config.sampling.max_tokens, logprobs=config.serve.logprobs,
    )


def run_llama_cpp(config: RunConfig) -> int:
    import uvicorn

    options = serve_options(config)
    host, port = config.serve.host, config.serve.port
    _require_free_port(host, port)
    console = Console(stderr=True)
    if not _is_loopback(host) and not options.api_key:
        console.print(f"[bold red]warning[/]: listening on {host} without an API key; anyone who can reach "
                      f"this machine can use the model. Set serve.api_key or SERVE_API_KEY.")
    with console.status(f"loading {options.gguf}"):
        app = create_server_app(options)  # loads the model, so that /health means ready
    url = f"http://{host}:{port}"
    console.print(f"serving [bold]{options.model_name}[/] ({os.path.basename(options.gguf)}) at {url}/v1")
    console.print(f"web chat: {url}/" + ("  (enter the API key in the page, or open it with #key=...)"
                                          if options.api_key else ""))
    console.print(curl_example(url, options.model_name, options.api_key), soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
