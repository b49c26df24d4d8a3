"""`python -m serve check`: start the server, ask one question with the openai client (plain and
streamed), show reasoning and answer apart, stop the server. Part of `make demo`."""

from __future__ import annotations

from openai import OpenAI
from rich.console import Console

from common.config import RunConfig
from common.endpoint import LocalServer
from common.errors import UserError
from common.layout import RunLayout
from serve.artifacts import api_key, gguf_to_serve

QUESTION = ("A 58-year-old man has crushing chest pain and ST elevation in leads II, III and aVF. "
            "What is the most likely diagnosis?")


def run_check(config: RunConfig, config_file: str, overrides: list[str]) -> int:
    console = Console()
    gguf = gguf_to_serve(config)
    layout = RunLayout.for_run(config.runs_dir, config.name)
    layout.root.mkdir(parents=True, exist_ok=True)
    with LocalServer(config_file, overrides, timeout_s=config.serve.startup_timeout_s,
                     log_file=layout.root / "serve-check.log") as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key=api_key(config) or "none", timeout=120)
        reply = client.chat.completions.create(model=config.served_model_name, max_tokens=160,
                                               messages=[{"role": "user", "content": QUESTION}])
        message = reply.choices[0].message
        reasoning = getattr(message, "reasoning_content", None)
        if reasoning is None:
            raise UserError("the server's reply has no reasoning_content field")
        pieces = {"reasoning": 0, "content": 0}
        stream = client.chat.completions.create(model=config.served_model_name, max_tokens=64, stream=True,
                                                messages=[{"role": "user", "content": QUESTION}])
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                pieces["reasoning"] += bool(getattr(delta, "reasoning_content", None))
                pieces["content"] += bool(delta.content)
        code = server.stop()
    console.print(f"[bold]served[/] {gguf.name} at {server.url}/v1 (stopped, exit code {code})")
    console.print(f"[bold]question[/] {QUESTION}")
    console.print(f"[dim italic]reasoning ({len(reasoning)} chars): {reasoning[:300]}[/]")
    console.print(f"[bold]answer[/] ({reply.choices[0].finish_reason}): {message.content!r}")
    console.print(f"streamed deltas: {pieces['reasoning']} reasoning, {pieces['content']} content")
    return 0
