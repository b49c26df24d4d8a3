"""What one generated token costs in llama-cpp-python's streaming loop while the output's tail does
not decode as UTF-8 (a model emitting stray bytes): at every token the loop decodes each prefix
of the unsent tail, looking for one that is valid. Stock detokenizer against serve/detokenizer.py,
on the real Llama-3 vocabulary (vocab-only GGUF), for tails of several lengths.

    python -m bench.detokenize_bench [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common.layout import PROJECT_ROOT

VOCAB = PROJECT_ROOT / ".assets" / "llama.cpp-0.3.36" / "models" / "ggml-vocab-llama-bpe.gguf"
TAILS = (64, 256, 1024)


def prefix_scan_seconds(tokenizer, tail: list[int]) -> float:
    """The scan create_completion(stream=True) runs at each token (llama-cpp-python 0.3.36)."""
    started = time.perf_counter()
    for end in range(1, len(tail) + 1):
        try:
            tokenizer.detokenize(tail[:end]).decode("utf-8")
            break
        except UnicodeError:
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from llama_cpp import Llama

    from serve.detokenizer import IncrementalDetokenizer

    llama = Llama(str(VOCAB), vocab_only=True, verbose=False)
    stock, incremental = llama.tokenizer_, IncrementalDetokenizer(llama)
    # tokens whose piece is one UTF-8 continuation byte: no run of them ever decodes
    stray = [t for t in range(llama.n_vocab()) if len(p := stock.detokenize([t])) == 1 and 0x80 <= p[0] < 0xC0][:8]
    rows = []
    for length in TAILS:
        tail = [stray[i % len(stray)] for i in range(length)]
        rows.append({"tail_tokens": length, "stock_ms": 1000 * prefix_scan_seconds(stock, tail),
                     "incremental_ms": 1000 * prefix_scan_seconds(incremental, tail)})
    llama.close()
    print("| undecodable tail (tokens) | ms per generated token: stock | serve/detokenizer.py |\n|---|---|---|")
    for row in rows:
        print(f"| {row['tail_tokens']:,} | {row['stock_ms']:,.1f} | {row['incremental_ms']:,.2f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
