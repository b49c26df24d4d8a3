"""Score generations strictly and aggregate them.

Per item: the prediction from the answer part only (or none), correct, think closed, truncated
(finish_reason "length" or no </think>), empty-think bypass (an answer with no reasoning before
it). "No answer" and "truncated" count as wrong and are reported on their own; nothing is
dropped from the denominator.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable

from common.answers import extract_choice, extract_label
from common.reasoning import split_reasoning

Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    if total == 0:
        return (0.0, 0.0)
    p = successes / total
    denominator = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denominator
    # rounding can put a bound a hair on the wrong side of p at 0 or n successes (6.9e-18 for 0 of
    # 48), and the report's error bars refuse a negative length
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def token_f1(prediction: str, reference: str) -> float:
    predicted, expected = prediction.lower().split(), reference.lower().split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not predicted or not expected or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased whitespace tokens (longest common subsequence)."""
    a, b = prediction.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for index, other in enumerate(b):
            current.append(previous[index] + 1 if token == other else max(previous[index + 1], current[index]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def score_record(record: dict, count_tokens: Callable[[str], int], judged: bool | None = None) -> dict:
    output = record.get("output") or ""
    if record.get("reasoning") is not None:  # the endpoint split the thinking off already
        reasoning, answer = record["reasoning"] or "", output.strip()
        think_closed = bool(answer) or "</think>" in output
    else:
        parts = split_reasoning(output)
        reasoning, answer, think_closed = parts.reasoning, parts.answer, parts.think_closed
    kind = record.get("kind") or ("choice" if record.get("options") else "open")
    options = record.get("options") or None
    if kind == "choice":
        prediction = extract_choice(answer, options)
    elif kind == "label":
        prediction = extract_label(answer)
    else:
        prediction = answer or None
    reference = record.get("reference")
    if kind == "open":
        correct = bool(judged) if judged is not None else None
    else:
        correct = prediction is not None and prediction == reference
    truncated = record.get("finish_reason") == "length" or not think_closed
    scored = {
        "id": record["id"], "sample": record.get("sample", 0), "task": record.get("task", "file"),
        "prediction": prediction if kind != "open" else None, "correct": correct,
        "think_closed": think_closed, "truncated": truncated,
        "empty_think": think_closed and not reasoning.strip() and bool(answer),
        "reasoning_tokens": count_tokens(reasoning) if reasoning else 0,
        "answer_tokens": count_tokens(answer) if answer else 0,
        "latency_s": record.get("latency_s"), "completion_tokens": record.get("completion_tokens"),
        "question": record.get("question", ""), "source": record.get("source", ""),
    }
    if kind == "open" and reference:
        scored["token_f1"] = token_f1(answer, reference)
        scored["rouge_l"] = rouge_l(answer, reference)
    return scored


# --- slices: who the question is about ------------------------------------------------------

AGE = re.compile(r"(\d{1,3})[- ](?:year|yr)s?[- ]old", re.IGNORECASE)
FEMALE = re.compile(r"\b(woman|women|female|girl|lady|mother|she|her|pregnant)\b", re.IGNORECASE)
MALE = re.compile(r"\b(man|men|male|boy|gentleman|father|he|his)\b", re.IGNORECASE)
CHILD = re.compile(r"\b(newborn|neonate|infant|toddler|child)\b", re.IGNORECASE)


def sex_of(question: str) -> str:
    female, male = bool(FEMALE.search(question)), bool(MALE.search(question))
    return "female" if female and not male else "male" if male and not female else "unknown"


def age_band(question: str) -> str:
    match = AGE.search(question)
    if match:
        age = int(match.group(1))
        return "0-17" if age < 18 else "18-39" if age < 40 else "40-64" if age < 65 else "65+"
    return "0-17" if CHILD.search(question) else "unknown"


def length_band(question: str) -> str:
    words = len(question.split())
    return "short (<40 words)" if words < 40 else "medium (40-80)" if words <= 80 else "long (>80)"


# --- aggregation ----------------------------------------------------------------------------

def _rate(rows: list[dict], key: str) -> float:
    return sum(bool(r[key]) for r in rows) / len(rows) if rows else 0.0


def summarise(rows: list[dict]) -> dict:
    """Metrics over scored rows of one run (all samples)."""
    if not rows:
        return {"n": 0}
    choice_rows = [r for r in rows if r["correct"] is not None]
    first = [r for r in choice_rows if r["sample"] == 0]
    correct = sum(bool(r["correct"]) for r in first)
    low, high = wilson_interval(correct, len(first))
    compliant = [r["think_closed"] and not r["truncated"] and (r["prediction"] is not None or r["correct"] is None)
                 for r in rows]
    compliance = sum(compliant)
    reasoning_tokens = [r["reasoning_tokens"] for r in rows]
    latencies = sorted(r["latency_s"] for r in rows if r.get("latency_s") is not None)
    tokens = [r["completion_tokens"] for r in rows if r.get("completion_tokens")]
    summary = {
        "n": len(first) or len({r["id"] for r in rows}),
        "generations": len(rows),
        "accuracy": correct / len(first) if first else None,
        "accuracy_ci95": [low, high] if first else None,
        "correct": correct,
        "no_answer_rate": sum(r["prediction"] is None for r in choice_rows) / len(choice_rows) if choice_rows else None,
        "truncation_rate": _rate(rows, "truncated"),
        "think_closed_rate": _rate(rows, "think_closed"),
        "empty_think_rate": _rate(rows, "empty_think"),
        "format_compliance": compliance / len(rows),
        "format_compliance_ci95": list(wilson_interval(compliance, len(rows))),
        "format_compliant": compliance,
        "reasoning_tokens_mean": statistics.fmean(reasoning_tokens),
        "reasoning_tokens_median": statistics.median(reasoning_tokens),
        "latency_s_mean": statistics.fmean(latencies) if latencies else None,
        "latency_s_p50": latencies[len(latencies) // 2] if latencies else None,
        "latency_s_p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None,
        "tokens_per_s": (sum(tokens) / sum(r["latency_s"] for r in rows if r.get("completion_tokens"))
                         if tokens else None),
    }
    samples = max(r["sample"] for r in rows) + 1
    if samples > 1 and choice_rows:
        by_item = defaultdict(list)
        for r in choice_rows:
            by_item[r["id"]].append(r)
        summary["pass_at_1"] = statistics.fmean(statistics.fmean(bool(r["correct"]) for r in group)
                                                for group in by_item.values())
        majority_correct = 0
        for group in by_item.values():
            votes = Counter(r["prediction"] for r in group if r["prediction"] is not None).most_common(2)
            tied = len(votes) > 1 and votes[0][1] == votes[1][1]
            majority_correct += bool(votes) and not tied and any(r["correct"] for r in group
                                                                 if r["prediction"] == votes[0][0])
        summary[f"maj_at_{samples}"] = majority_correct / len(by_item)
        summary["samples"] = samples
    open_rows = [r for r in rows if "token_f1" in r]
    if open_rows:
        summary["token_f1"] = statistics.fmean(r["token_f1"] for r in open_rows)
        summary["rouge_l"] = statistics.fmean(r["rouge_l"] for r in open_rows)
    return summary


SLICES = {"task": lambda r: r["task"], "sex": lambda r: sex_of(r["question"]),
          "age": lambda r: age_band(r["question"]), "question length": lambda r: length_band(r["question"])}


def slice_metrics(rows: list[dict]) -> dict:
    out = {}
    for name, key in SLICES.items():
        groups = defaultdict(list)
        for row in rows:
            groups[key(row)].append(row)
        out[name] = {group: {k: v for k, v in summarise(members).items()
                             if k in ("n", "accuracy", "accuracy_ci95", "format_compliance", "truncation_rate")}
                     for group, members in sorted(groups.items())}
    return out


def mcnemar(first: dict[str, bool], second: dict[str, bool]) -> dict:
    """Exact McNemar test on the items both runs answered: b = only the first right, c = only the second."""
    shared = sorted(set(first) & set(second))
    b = sum(first[i] and not second[i] for i in shared)
    c = sum(second[i] and not first[i] for i in shared)
    n = b + c
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)
    return {"items": len(shared), "only_first": b, "only_second": c, "p_value": p}
