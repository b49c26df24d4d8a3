"""Response: the short final answer of an SFT row, open-ended or multiple-choice (ending in \\boxed{X})."""

from __future__ import annotations

import random

from .options import FIELD
from .text import join, leading, words


def _fit(sentences: list[str], low: int, high: int, tail: str = "") -> str:
    """The longest prefix of `sentences` (at least one) whose text plus tail is within [low, high] words."""
    for n in range(len(sentences), 0, -1):
        text = " ".join(sentences[:n]) + tail
        if low <= words(text) <= high:
            return text
    raise RuntimeError(f"no response within {low}-{high} words: {sentences[0]!r}")


def open_response(case: dict, rng: random.Random) -> str:
    c, qtype, feats = case["cond"], case["qtype"], case["feats"]
    pair = join(leading(c, feats))
    dx, key, mech, nxt, tx = c["diagnosis"], c["key_finding"], c["mechanism"], c["next_step"], c["treatment"]
    if qtype == "diagnosis":
        first = rng.choice([f"The most likely diagnosis is {dx}.", f"This presentation is most consistent with {dx}."])
        rest = [f"The combination of {pair} is characteristic, and the finding of {key} supports it.",
                f"The underlying mechanism is {mech}.", f"The best next step is {nxt}."]
    elif qtype == "key_finding":
        first = rng.choice([f"The most likely finding is {key}.", f"I would expect {key}."])
        rest = [f"The presentation with {pair} points to {dx}, in which this finding is characteristic.",
                f"The best next step would then be {nxt}."]
    elif qtype == "next_step":
        first = rng.choice([f"The best next step is {nxt}.", f"The most appropriate next step is {nxt}."])
        rest = [f"The presentation, including {key}, indicates {dx}.", f"First-line treatment is {tx}."]
    elif qtype == "treatment":
        first = rng.choice([f"First-line treatment is {tx}.", f"The most appropriate initial treatment is {tx}."])
        rest = [f"This is {dx}, which results from {mech}.", f"In practice, the immediate step is {nxt}."]
    else:
        first = rng.choice([f"The underlying mechanism is {mech}.", f"The key mechanism is {mech}."])
        rest = [f"This is {dx}, which accounts for {pair}.", f"First-line treatment is {tx}."]
    return _fit([first] + rest, 20, 80)


def mc_response(case: dict, answer: str) -> str:
    c, feats = case["cond"], case["feats"]
    sentences = [f"The correct answer is {answer}, {c[FIELD[case['qtype']]]}."]
    if case["qtype"] == "diagnosis":
        sentences.append(f"The combination of {join(leading(c, feats))} points to it, and the finding of {c['key_finding']} is characteristic.")
    else:
        sentences.append(f"The presentation, with {join(leading(c, feats))}, is most consistent with {c['diagnosis']}.")
    if case["qtype"] != "mechanism":
        sentences.append(f"The underlying mechanism is {c['mechanism']}.")
    return _fit(sentences, 20, 80, tail=f"\n\\boxed{{{answer}}}")

