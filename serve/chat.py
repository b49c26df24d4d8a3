"""`make chat`: a terminal chat on the run's GGUF through llama-cpp-python, in this process.

The reasoning streams dimmed above the answer (or folds into one line with --hide-reasoning).
History holds earlier answers without their think block (R1's template drops it anyway).
Commands: /reset, /save [file], /temp <value>, /help, /quit (Ctrl-D also quits).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console

from common.config import RunConfig
from common.reasoning import ThinkStreamSplitter
from serve.artifacts import gguf_to_serve
from serve.detokenizer import install as install_detokenizer
from serve.gguf_template import template_prefills_thinking

HELP = "commands: /reset  /save [file]  /temp <0-2>  /help  /quit"


class ChatSession:
    def __init__(self, llama, temperature: float, top_p: float, max_tokens: int, console: Console,
                 hide_reasoning: bool) -> None:
        self.llama = llama
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.console = console
        self.hide_reasoning = hide_reasoning
        self.history: list[dict] = []  # what the template sees: answers only
        self.transcript: list[dict] = []  # everything, reasoning included
        self.prefilled = template_prefills_thinking(llama)

    def command(self, line: str) -> bool:
        """Handle a /command; returns False when the chat should end."""
        name, _, argument = line[1:].partition(" ")
        if name in ("quit", "exit", "q"):
            return False
        if name == "reset":
            self.history.clear()
            self.console.print("[dim]history cleared[/]")
        elif name == "save":
            path = Path(argument.strip() or f"chat-{time.strftime('%Y%m%d-%H%M%S')}.json")
            path.write_text(json.dumps(self.transcript, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            self.console.print(f"[dim]saved {len(self.transcript)} messages to {path}[/]")
        elif name == "temp":
            try:
                value = float(argument)
                if not 0 <= value <= 2:
                    raise ValueError
            except ValueError:
                self.console.print("[red]usage: /temp <number between 0 and 2>[/]")
            else:
                self.temperature = value
                self.console.print(f"[dim]temperature {value}[/]")
        else:
            self.console.print(HELP, markup=False)
        return True

    def ask(self, question: str) -> None:
        self.history.append({"role": "user", "content": question})
        self.transcript.append({"role": "user", "content": question})
        splitter = ThinkStreamSplitter(self.prefilled)
        reasoning_parts, answer_parts = [], []
        folded = 0
        stream = self.llama.create_chat_completion(messages=self.history, stream=True, temperature=self.temperature,
                                                   top_p=self.top_p, max_tokens=self.max_tokens)
        finish = None
        for chunk in stream:
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            reasoning, answer = splitter.feed(choice.get("delta", {}).get("content") or "")
            if finish:
                tail = splitter.flush()
                reasoning, answer = reasoning + tail[0], answer + tail[1]
            if reasoning:
                if not reasoning_parts and not self.hide_reasoning:
                    self.console.print("[dim]thinking:[/]")
                reasoning_parts.append(reasoning)
                if self.hide_reasoning:
                    folded += 1
                else:
                    self.console.print(reasoning, style="dim italic", end="", soft_wrap=True, highlight=False)
            if answer:
                if not answer_parts:
                    if self.hide_reasoning:
                        self.console.print(f"[dim][thought for {folded} pieces][/]")
                    else:
                        self.console.print()
                    self.console.print("[bold]answer:[/] ", end="")
                answer_parts.append(answer)
                self.console.print(answer, end="", soft_wrap=True, highlight=False, markup=False)
        self.console.print()
        if finish == "length" and not splitter.think_closed:
            self.console.print("[yellow](stopped by the token limit while thinking)[/]")
        answer_text = "".join(answer_parts)
        self.history.append({"role": "assistant", "content": answer_text})
        self.transcript.append({"role": "assistant", "reasoning": "".join(reasoning_parts),
                                "content": answer_text, "finish_reason": finish})


def run_chat(config: RunConfig, hide_reasoning: bool = False) -> int:
    from llama_cpp import Llama

    console = Console(highlight=False)
    gguf = gguf_to_serve(config)
    with console.status(f"loading {gguf.name}"):
        llama = install_detokenizer(Llama(str(gguf), n_ctx=config.serve.n_ctx, n_gpu_layers=config.serve.n_gpu_layers,
                                          n_threads=config.serve.n_threads or os.cpu_count(), verbose=False))
    session = ChatSession(llama, config.sampling.temperature, config.sampling.top_p, config.sampling.max_tokens,
                          console, hide_reasoning)
    console.print(f"[bold]{config.name}[/] ({gguf.name}) ready. ", end="")
    console.print(HELP, markup=False)
    try:
        while True:
            try:
                line = console.input("[bold cyan]you> [/]").strip()
            except EOFError:
                break
            if not line:
                continue
            if line.startswith("/"):
                if not session.command(line):
                    break
                continue
            session.ask(line)
    except KeyboardInterrupt:
        console.print()
    finally:
        llama.close()
    console.print("[dim]bye[/]")
    return 0
