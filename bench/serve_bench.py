"""Serving speed of a GGUF through the serve stage, and in-process for comparison.

Three paths generate the same number of tokens (greedy, EOS banned unless --allow-eos) from
prompts of the same length:
  library    llama-cpp-python's `Llama.create_completion(stream=True)` in this process, as shipped;
  same_loop  the same call with the serve stage's detokenizer (serve/detokenizer.py), i.e. the
             generation the server runs, without HTTP;
  server     one streamed request to the serve stage's OpenAI-compatible server, read by a minimal
             client.
Each round runs every path once, in a rotating order, on one of two prompts whose greedy
continuation is checked to be text; each backend alternates them, so that no run reuses a cached
prompt (the server would otherwise skip prompt processing). The
overheads are medians over rounds of the paired ratios (a slow spell of the machine then slows
both sides of a pair): `server_overhead` against `library` (what a user would otherwise run),
`serving_overhead` against `same_loop` (what HTTP and the event loop cost). Prompt processing (pp)
is prompt tokens over the time to the first streamed token; generation (tg) is the tokens after
the first over the time they took. With --long-tokens, the rounds are repeated at that length,
where llama-cpp-python's detokenizing of the whole completion at every token shows.

    python -m bench.serve_bench --config FILE [--gpu-layers N --threads N] [--tokens N --long-tokens N]
        --out result.json [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from common.artifacts import atomic_write_json
from common.config import load_config
from common.endpoint import LocalServer

EOS_ID = 128001  # banned in every path so that each generates exactly `tokens` tokens
PROMPT = ("A 64-year-old woman with long-standing hypertension presents with two hours of crushing substernal "
          "chest pain radiating to the left arm, diaphoresis and nausea. ") * 6
PATHS = ("library", "same_loop", "server")


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


def summary(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda run: run["total_s"])
    rates = [run["tokens_per_s"] for run in runs]
    return {**ordered[len(ordered) // 2], "runs": len(runs), "min_tokens_per_s": min(rates),
            "max_tokens_per_s": max(rates)}


def paired_overhead(runs: dict, path: str, reference: str) -> float:
    return statistics.median(1 - a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs[path], runs[reference], strict=True))


def _sse_texts(response):
    """Text pieces of an OpenAI completions stream, read with as little client work as possible
    (the client shares the machine with the server; a heavy client would be measured too)."""
    for line in response.iter_lines():
        if line.startswith("data: {") and '"text": ""' not in line:
            yield line


class Paths:
    """The three paths over one loaded GGUF in this process and one running server."""

    def __init__(self, llama, server, client, model: str, ban_eos: bool) -> None:
        from serve.detokenizer import IncrementalDetokenizer

        self.llama, self.server, self.client, self.model, self.ban_eos = llama, server, client, model, ban_eos
        self.tokenizers = {"library": llama.tokenizer_, "same_loop": IncrementalDetokenizer(llama)}
        self.headers = {"Authorization": f"Bearer {os.environ.get('SERVE_API_KEY', 'none')}"}
        self.prompt_tokens = len(llama.tokenize(f"Case 0-0. {PROMPT}".encode(), add_bos=True))

    def run(self, path: str, prompt: str, tokens: int) -> dict:
        if path == "server":
            body = {"model": self.model, "prompt": prompt, "max_tokens": tokens, "temperature": 0.0, "stream": True,
                    **({"logit_bias": {str(EOS_ID): -100}} if self.ban_eos else {})}
            started = time.perf_counter()
            with self.client.stream("POST", f"{self.server.url}/v1/completions", headers=self.headers,
                                    json=body) as response:
                return timed_stream(_sse_texts(response), started)
        self.llama.tokenizer_ = self.tokenizers[path]
        started = time.perf_counter()
        stream = self.llama.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True,
                                              logit_bias={EOS_ID: -100.0} if self.ban_eos else None)
        return timed_stream((chunk for chunk in stream if chunk["choices"][0]["text"]), started)

    def text_prompts(self, tokens: int, wanted: int = 2, tries: int = 24) -> list[str]:
        """Prompts whose greedy continuation of `tokens` tokens decodes as UTF-8 throughout.

        A random-weight model can continue with bytes that never form UTF-8; llama-cpp-python's
        streaming loop then re-decodes the whole undecoded tail at every token, which stalled the
        stock path for minutes on the H200 (BENCHMARKS.md). Such a prompt would time that
        pathology (bench/detokenize_bench.py does), not serving."""
        found = []
        for attempt in range(tries):
            prompt = f"Case {tokens}-{attempt}. {PROMPT}"
            if self._continues_as_text(prompt, tokens):
                found.append(prompt)
                if len(found) == wanted:
                    return found
        return []

    def _continues_as_text(self, prompt: str, tokens: int) -> bool:
        from llama_cpp import LogitsProcessorList

        def ban_eos(_ids, scores):
            scores[EOS_ID] -= 100.0
            return scores

        ids = self.llama.tokenize(prompt.encode(), add_bos=True)
        continuation = []
        processors = LogitsProcessorList([ban_eos]) if self.ban_eos else None
        for token in self.llama.generate(ids, temp=0.0, logits_processor=processors):
            if token == self.llama.token_eos() or len(continuation) == tokens:
                break
            continuation.append(token)
            if len(continuation) % 32 == 0 and not self._decodes(continuation, at_end=False):
                return False  # broken for good: generating the rest would only cost time
        return self._decodes(continuation, at_end=True)

    def _decodes(self, ids: list[int], at_end: bool) -> bool:
        try:
            self.tokenizers["same_loop"].detokenize(ids).decode("utf-8")
        except UnicodeDecodeError as error:
            # a character cut at the end may still be completed by the next token
            return not at_end and error.reason == "unexpected end of data"
        return True

    def rounds(self, tokens: int, count: int) -> dict:
        # two prompts, alternated per backend, so that no run finds its prompt in the KV cache
        prompts, used = self.text_prompts(tokens), {"in_process": 0, "server": 0}
        if not prompts:
            return {"tokens": tokens, "skipped": "no prompt tried continues as UTF-8 text for this many tokens"}
        runs = {path: [] for path in PATHS}
        for index in range(count):
            order = PATHS[index % 3:] + PATHS[:index % 3]
            for path in order:
                backend = "server" if path == "server" else "in_process"
                runs[path].append(self.run(path, prompts[used[backend] % 2], tokens))
                used[backend] += 1
        result = {"tokens": tokens, **{path: summary(runs[path]) for path in PATHS},
                  "server_overhead": paired_overhead(runs, "server", "library"),
                  "serving_overhead": paired_overhead(runs, "server", "same_loop")}
        for path in PATHS:  # prompt speed: every path is timed from the request to the first token
            result[path]["pp_tokens_per_s"] = self.prompt_tokens / result[path]["ttft_s"]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5, help="rounds at --tokens")
    parser.add_argument("--long-tokens", type=int, default=0, help="also this many tokens per request (0: not)")
    parser.add_argument("--long-runs", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--allow-eos", action="store_true",
                        help="do not ban EOS: llama-cpp-python applies logit_bias in Python over the whole "
                             "vocabulary at every token, which on a GPU costs more than the token itself; a "
                             "random-weight model rarely ends early, and `generated` says if it did")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    n_ctx = max(2048, args.tokens, args.long_tokens) + 512
    overrides = [*args.overrides, f"serve.n_gpu_layers={args.gpu_layers}", f"serve.n_threads={args.threads}",
                 f"serve.n_ctx={n_ctx}"]
    config = load_config(args.config, overrides)
    import httpx
    from llama_cpp import Llama

    from serve.artifacts import gguf_to_serve

    gguf = str(gguf_to_serve(config))
    llama = Llama(gguf, n_gpu_layers=args.gpu_layers, n_threads=args.threads, n_ctx=n_ctx, n_batch=512, verbose=False)
    result = {"label": args.label, "eos_banned": not args.allow_eos, "gguf": os.path.basename(gguf),
              "gpu_layers": args.gpu_layers, "threads": args.threads, "lengths": []}
    try:
        with LocalServer(args.config, overrides, timeout_s=600) as server, httpx.Client(timeout=1200) as client:
            paths = Paths(llama, server, client, config.served_model_name, ban_eos=not args.allow_eos)
            result["prompt_tokens"] = paths.prompt_tokens
            for path in PATHS:
                paths.run(path, "warm up", 4)
            lengths = [(args.tokens, args.runs)] + ([(args.long_tokens, args.long_runs)] if args.long_tokens else [])
            for tokens, runs in lengths:
                result["lengths"].append(paths.rounds(tokens, runs))
                atomic_write_json(args.out, result)  # each length as it is done: a later one may run out of time
    finally:
        llama.close()
    if not any("server" in length for length in result["lengths"]):
        raise SystemExit("serve bench: no length could be timed (see `skipped` in the result)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
