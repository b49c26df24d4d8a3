"""Benchmark rows shaped like medical-o1: lognormal total length with median 650 and mean ~737
tokens (sigma 0.5: mean = median x e^(sigma^2/2) = 650 x 1.133), capped at max_seq_length;
10% question, 75% reasoning, 15% answer. Words come from the project's own data so the
tokenizer sees medical text; the lengths, not the words, decide the speed."""

from __future__ import annotations

import json
import math
import random

from common.layout import PROJECT_ROOT

MEDIAN_TOKENS = 650
SIGMA = 0.5


def _vocabulary() -> list[str]:
    words = []
    with open(PROJECT_ROOT / "data" / "medical_o1_offline.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            words += row["Complex_CoT"].split()
    return words


def lengths(count: int, max_tokens: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [min(max_tokens, max(64, round(MEDIAN_TOKENS * math.exp(rng.gauss(0, SIGMA))))) for _ in range(count)]


def rows(targets: list[int], tokenizer, seed: int = 0) -> list[dict]:
    """Rows in medical-o1's schema whose rendered lengths are close to `targets`."""
    words = _vocabulary()
    rng = random.Random(seed + 1)
    tokens_per_word = len(tokenizer(" ".join(words[:2000]), add_special_tokens=False)["input_ids"]) / 2000
    def text(tokens: float) -> str:
        n = max(3, round(tokens / tokens_per_word))
        start = rng.randrange(0, len(words) - n)
        return " ".join(words[start:start + n])

    return [{"Question": text(0.10 * target), "Complex_CoT": text(0.75 * target), "Response": text(0.15 * target)}
            for target in targets]


def write_rows(path, count: int, max_tokens: int, tokenizer, seed: int = 0) -> dict:
    drawn = lengths(count, max_tokens - 16, seed)
    data = rows(drawn, tokenizer, seed)
    path.write_text("".join(json.dumps(row) + "\n" for row in data), encoding="utf-8")
    return {"rows": count, "median_target_tokens": sorted(drawn)[count // 2],
            "mean_target_tokens": round(sum(drawn) / count, 1), "distribution": f"lognormal(median {MEDIAN_TOKENS}, sigma {SIGMA})"}
