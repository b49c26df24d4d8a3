"""Throughput of an OpenAI-compatible endpoint under concurrent chat requests.

Sends `--requests` chat completions, at most `--concurrency` in flight, each asking for
`--max-tokens` tokens from a different medical question, and reports requests/s, output
tokens/s (from each response's usage), and p50/p95 latency. The same command measures the
vLLM backend and the llama.cpp server, so their rows in BENCHMARKS.md are comparable.

    python -m bench.serve_load --base-url http://127.0.0.1:8000/v1 --model NAME --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "medical_mc_eval.jsonl"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def one_request(client, model: str, question: str, max_tokens: int, ignore_eos: bool = False) -> dict:
    started = time.perf_counter()
    response = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
        temperature=0.6, top_p=0.95, extra_body={"ignore_eos": True} if ignore_eos else None)
    return {"latency_s": time.perf_counter() - started, "completion_tokens": response.usage.completion_tokens,
            "prompt_tokens": response.usage.prompt_tokens, "finish_reason": response.choices[0].finish_reason}


async def load(base_url: str, model: str, requests: int, concurrency: int, max_tokens: int, api_key: str,
               ignore_eos: bool = False) -> dict:
    from openai import AsyncOpenAI

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    gate = asyncio.Semaphore(concurrency)
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=1800) as client:
        await one_request(client, model, "warm up", 4)

        async def bounded(index: int) -> dict:
            async with gate:
                return await one_request(client, model, questions[index % len(questions)], max_tokens, ignore_eos)

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded(i) for i in range(requests)), return_exceptions=True)
        wall = time.perf_counter() - started
    answered = [r for r in results if isinstance(r, dict)]
    errors = [f"{type(r).__name__}: {r}"[:200] for r in results if not isinstance(r, dict)]
    latencies = [r["latency_s"] for r in answered]
    output_tokens = sum(r["completion_tokens"] for r in answered)
    return {
        "requests": requests, "concurrency": concurrency, "max_tokens": max_tokens, "ignore_eos": ignore_eos,
        "answered": len(answered),
        "errors": errors[:5], "error_count": len(errors), "wall_s": wall,
        "requests_per_s": len(answered) / wall, "output_tokens": output_tokens,
        "output_tokens_per_s": output_tokens / wall,
        "latency_p50_s": statistics.median(latencies) if latencies else None,
        "latency_p95_s": percentile(latencies, 0.95) if latencies else None,
        "finish_reasons": sorted({r["finish_reason"] for r in answered}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--ignore-eos", action="store_true", help="every request generates max_tokens (llama.cpp, vLLM)")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"label": args.label, "model": args.model,
              **asyncio.run(load(args.base_url, args.model, args.requests, args.concurrency, args.max_tokens,
                                 args.api_key, args.ignore_eos))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
