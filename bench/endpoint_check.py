"""Ask a running OpenAI-compatible endpoint what the eval harness relies on, and record the shape.

GET /health and /v1/models, one chat completion, and the same request streamed; for each, which
fields carry the thinking (reasoning_content, reasoning) and the answer, and the finish reason.
Run against the llama.cpp server and vLLM alike, so that their shapes can be compared.

    python -m bench.endpoint_check --base-url http://127.0.0.1:8000 --model NAME --out check.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
from openai import OpenAI

QUESTION = ("A 58-year-old man has crushing chest pain and ST elevation in leads II, III and aVF. "
            "What is the most likely diagnosis?")
THINKING_FIELDS = ("reasoning_content", "reasoning")


def thinking_of(message) -> dict:
    return {name: getattr(message, name, None) for name in THINKING_FIELDS
            if getattr(message, name, None) is not None or name in (message.model_extra or {})}


def check(base_url: str, model: str, max_tokens: int, api_key: str) -> dict:
    health = httpx.get(f"{base_url}/health", timeout=30)
    client = OpenAI(base_url=f"{base_url}/v1", api_key=api_key, timeout=300, max_retries=0)
    models = [entry.id for entry in client.models.list().data]
    reply = client.chat.completions.create(model=model, max_tokens=max_tokens,
                                           messages=[{"role": "user", "content": QUESTION}])
    message = reply.choices[0].message
    thinking = thinking_of(message)
    streamed = {"chunks": 0, "reasoning_deltas": 0, "content_deltas": 0, "fields": set(), "finish_reason": None}
    for chunk in client.chat.completions.create(model=model, max_tokens=max_tokens, stream=True,
                                                messages=[{"role": "user", "content": QUESTION}]):
        streamed["chunks"] += 1
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        fields = thinking_of(delta)
        streamed["fields"] |= {name for name, value in fields.items() if value}
        streamed["reasoning_deltas"] += any(bool(value) for value in fields.values())
        streamed["content_deltas"] += bool(delta.content)
        streamed["finish_reason"] = chunk.choices[0].finish_reason or streamed["finish_reason"]
    streamed["fields"] = sorted(streamed["fields"])
    return {
        "health_status": health.status_code, "models": models,
        "chat": {"thinking_fields": sorted(thinking), "reasoning_chars": max((len(v or "") for v in thinking.values()), default=0),
                 "content": message.content, "finish_reason": reply.choices[0].finish_reason,
                 "completion_tokens": reply.usage.completion_tokens if reply.usage else None,
                 "reasoning_head": next((v for v in thinking.values() if v), "")[:120]},
        "stream": streamed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="server root, without /v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = check(args.base_url.rstrip("/"), args.model, args.max_tokens, args.api_key)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
