"""Ask an OpenAI-compatible endpoint for every (item, sample); append each generation to
generations.jsonl as it arrives, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from common.answers import extract_choice, extract_label
from common.errors import UserError
from common.reasoning import split_reasoning
from eval.items import Item


@dataclass(frozen=True)
class Endpoint:
    url: str
    model: str
    api_key: str | None
    timeout_s: float
    retries: int


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_tokens: int
    seed: int


def read_generations(path: Path) -> list[dict]:
    """Completed generations; a malformed line is an error naming its line number."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "id" not in record or "output" not in record:
            raise UserError(f"{path}: line {number} lacks the fields 'id' and 'output'")
        records.append(record)
    return records


def _message_reasoning(message) -> str | None:
    """reasoning_content (older servers, llama.cpp) or reasoning (newer vLLM)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if value is None and getattr(message, "model_extra", None):
            value = message.model_extra.get(name)
        if value is not None:
            return value
    return None


def _quick_correct(item: Item, output: str, reasoning: str | None) -> bool:
    answer = output if reasoning is not None else split_reasoning(output).answer
    if item.kind == "choice":
        return extract_choice(answer, item.options) == item.reference
    if item.kind == "label":
        return extract_label(answer) == item.reference
    return False


async def generate(items: list[Item], samples: int, endpoint: Endpoint, sampling: Sampling, concurrency: int,
                   out_path: Path) -> dict:
    from openai import APIConnectionError, APIStatusError, APITimeoutError, AsyncOpenAI

    done = {(r["id"], r.get("sample", 0)) for r in read_generations(out_path)}
    todo = [(item, k) for item in items for k in range(samples) if (item.id, k) not in done]
    client = AsyncOpenAI(base_url=endpoint.url, api_key=endpoint.api_key or "none",
                         timeout=endpoint.timeout_s, max_retries=endpoint.retries)
    semaphore = asyncio.Semaphore(concurrency)
    lock = asyncio.Lock()
    stats = {"done": 0, "correct": 0, "scored": 0, "resumed": len(done), "started": time.perf_counter()}
    progress = Progress(TextColumn("[bold]eval[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True))
    task = progress.add_task(endpoint.model, total=len(todo), stats="")
    failures: list[str] = []

    async def one(item: Item, sample: int, handle) -> None:
        async with semaphore:
            if failures:
                return
            started = time.perf_counter()
            try:
                response = await client.chat.completions.create(
                    model=endpoint.model, messages=[{"role": "user", "content": item.prompt}],
                    temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens,
                    seed=sampling.seed + sample,
                )
            except (APIConnectionError, APITimeoutError) as exc:
                failures.append(f"{endpoint.url} did not answer after {endpoint.retries} retries ({type(exc).__name__})")
                return
            except APIStatusError as exc:
                failures.append(f"{endpoint.url} answered HTTP {exc.status_code} after {endpoint.retries} retries: "
                                f"{str(exc)[:160]}")
                return
            latency = time.perf_counter() - started
            choice = response.choices[0]
            reasoning = _message_reasoning(choice.message)
            usage = response.usage
            record = {**item.as_record(), "sample": sample, "output": choice.message.content or "",
                      "reasoning": reasoning, "finish_reason": choice.finish_reason, "latency_s": round(latency, 3),
                      "completion_tokens": usage.completion_tokens if usage else None,
                      "prompt_tokens": usage.prompt_tokens if usage else None}
            async with lock:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                stats["done"] += 1
                if item.kind != "open":
                    stats["scored"] += 1
                    stats["correct"] += _quick_correct(item, record["output"], reasoning)
                elapsed = time.perf_counter() - stats["started"]
                accuracy = f"acc {stats['correct'] / stats['scored']:.1%}" if stats["scored"] else ""
                progress.update(task, advance=1, stats=f"{accuracy}  {stats['done'] / elapsed:.2f} req/s")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with progress, open(out_path, "a", encoding="utf-8") as handle:
        await asyncio.gather(*(one(item, k, handle) for item, k in todo))
    await client.close()
    if failures:
        saved = len(done) + stats["done"]
        raise UserError(f"{failures[0]}; {saved} generations are saved in {out_path}, re-run to resume")
    return {"requested": len(todo), "resumed": len(done), "seconds": round(time.perf_counter() - stats["started"], 1)}
