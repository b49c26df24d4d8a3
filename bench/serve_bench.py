"""Serving speed of a GGUF through the serve stage, and in-process for comparison.

Prompt processing (pp) is prompt tokens over the time to the first streamed token; generation
(tg) is the streamed tokens after the first over the time they took. The same prompts and
token count (greedy, EOS banned) go through the OpenAI-compatible server (one streamed request,
read by a minimal client) and through llama-cpp-python's `Llama.create_completion` in this
process, RUNS times each (5: on 2 cores single runs vary by 10%); each run's prompt starts
differently, so that neither path reuses the previous run's prompt from its cache (the server
would otherwise skip prompt processing and report a near-zero time to first token). The
server's overhead compares the median requests' tokens over their whole time.

    python -m bench.serve_bench --config FILE [--gpu-layers N --threads N] --out result.json [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common.config import load_config
from common.endpoint import LocalServer

EOS_ID = 128001  # banned in both paths so that both generate exactly `tokens` tokens
PROMPT = ("A 64-year-old woman with long-standing hypertension presents with two hours of crushing substernal "
          "chest pain radiating to the left arm, diaphoresis and nausea. ") * 6


RUNS = 5
PROMPTS = [f"Case {run + 1}. {PROMPT}" for run in range(RUNS)]


def timed_stream(chunks, started: float) -> dict:
    """Time to the first token, and generation speed over the whole request."""
    first = last = None
    count = 0
    for _ in chunks:
        last = time.perf_counter()
        first = first or last
        count += 1
    return {"ttft_s": first - started, "total_s": last - started, "generated": count,
            "tokens_per_s": count / (last - started), "tg_tokens_per_s": (count - 1) / (last - first)}


def median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda run: run["total_s"])
    return {**ordered[len(ordered) // 2], "runs": len(runs)}


def _sse_texts(response):
    """Text pieces of an OpenAI completions stream, read with as little client work as possible
    (the client shares the machine with the server; a heavy client would be measured too)."""
    for line in response.iter_lines():
        if line.startswith("data: {") and '"text": ""' not in line:
            yield line


def through_server(config_file, overrides, model, tokens, ban_eos=True) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {os.environ.get('SERVE_API_KEY', 'none')}"}
    runs = []
    with LocalServer(config_file, overrides, timeout_s=600) as server, httpx.Client(timeout=600) as client:
        client.post(f"{server.url}/v1/completions", headers=headers,
                    json={"model": model, "prompt": "warm up", "max_tokens": 4})
        for prompt in PROMPTS:
            body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0.0, "stream": True,
                    **({"logit_bias": {str(EOS_ID): -100}} if ban_eos else {})}
            started = time.perf_counter()
            with client.stream("POST", f"{server.url}/v1/completions", headers=headers, json=body) as response:
                runs.append(timed_stream(_sse_texts(response), started))
    return median_run(runs)


def in_process(gguf: str, gpu_layers: int, threads: int, n_ctx: int, tokens: int, ban_eos=True) -> dict:
    from llama_cpp import Llama

    llama = Llama(gguf, n_gpu_layers=gpu_layers, n_threads=threads, n_ctx=n_ctx, n_batch=512, verbose=False)
    try:
        prompt_tokens = len(llama.tokenize(PROMPTS[0].encode(), add_bos=True))
        llama.create_completion("warm up", max_tokens=4)
        runs = []
        for prompt in PROMPTS:
            started = time.perf_counter()
            stream = llama.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True,
                                             logit_bias={EOS_ID: -100.0} if ban_eos else None)
            runs.append(timed_stream((chunk for chunk in stream if chunk["choices"][0]["text"]), started))
    finally:
        llama.close()
    result = median_run(runs)
    return {**result, "prompt_tokens": prompt_tokens, "pp_tokens_per_s": prompt_tokens / result["ttft_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--label", default="")
    parser.add_argument("--allow-eos", action="store_true",
                        help="do not ban EOS: llama-cpp-python applies logit_bias in Python over the whole "
                             "vocabulary at every token, which on a GPU costs more than the token itself; a "
                             "random-weight model rarely ends early, and `generated` says if it did")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [*args.overrides, f"serve.n_gpu_layers={args.gpu_layers}", f"serve.n_threads={args.threads}",
                 "serve.n_ctx=2048"]
    config = load_config(args.config, overrides)
    from serve.artifacts import gguf_to_serve, model_name

    gguf = str(gguf_to_serve(config))
    local = in_process(gguf, args.gpu_layers, args.threads, 2048, args.tokens, ban_eos=not args.allow_eos)
    server = through_server(args.config, overrides, model_name(config), args.tokens, ban_eos=not args.allow_eos)
    server["pp_tokens_per_s"] = local["prompt_tokens"] / server["ttft_s"]
    result = {"label": args.label, "eos_banned": not args.allow_eos, "gguf": os.path.basename(gguf), "gpu_layers": args.gpu_layers,
              "threads": args.threads, "in_process": local, "server": server,
              "server_overhead": 1 - server["tokens_per_s"] / local["tokens_per_s"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
