"""Several clients at once against one, on the serve stage's llama.cpp backend: the same chat
requests (EOS ignored, so every one generates `--max-tokens`) sent one at a time and then
`--concurrency` at a time, through `python -m serve` on the config's GGUF.

    python -m bench.serve_concurrency --config FILE --out result.json [key=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bench.serve_load import load
from common.config import load_config
from common.endpoint import LocalServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    # one slot per client at least, so that every client is decoded at once
    configured = config.serve.slots
    slots = args.concurrency if configured == "auto" else max(args.concurrency, configured)
    overrides = [*args.overrides, f"serve.slots={slots}", "serve.api_key=bench"]
    with LocalServer(args.config, overrides, timeout_s=config.serve.startup_timeout_s) as server:
        runs = {width: asyncio.run(load(f"{server.url}/v1", config.served_model_name, args.requests, width,
                                        args.max_tokens, "bench", ignore_eos=True))
                for width in (1, args.concurrency)}
    one, many = runs[1], runs[args.concurrency]
    result = {"one_client": one, "clients": many,
              "throughput_ratio": many["output_tokens_per_s"] / one["output_tokens_per_s"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| clients | requests/s | output tokens/s | latency p50 | latency p95 |\n|---|---|---|---|---|")
    for run in (one, many):
        print(f"| {run['concurrency']} | {run['requests_per_s']:.2f} | {run['output_tokens_per_s']:.1f} | "
              f"{run['latency_p50_s']:.2f} s | {run['latency_p95_s']:.2f} s |")
    print(f"{args.concurrency} clients: {result['throughput_ratio']:.2f}x the output tokens/s of one")


if __name__ == "__main__":
    main()
