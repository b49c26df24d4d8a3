"""The medical rows: multiple-choice files (eval, train) and the SFT file in medical-o1's schema."""

from __future__ import annotations

import random

from common.reasoning import format_choice_question

from .options import FIELD, LETTERS, build_options, distractor_pool
from .reasoning import write_cot
from .responses import mc_response, open_response
from .vignettes import make_case

# What a question asks for; each is also the knowledge-base field that answers it.
QTYPES = ("diagnosis", "key_finding", "next_step", "treatment", "mechanism")


def balanced_letters(n: int, rng: random.Random) -> list[str]:
    letters = list(LETTERS) * (n // 4 + 1)
    letters = letters[:n]
    rng.shuffle(letters)
    return letters


class Plan:
    """Hands out (condition, question type) pairs in a shuffled cycle so every file covers them all."""

    def __init__(self, rng: random.Random, conditions: list[dict]):
        self.rng = rng
        self.conditions = conditions  # also where distractors are drawn from
        self.queue: list[tuple[dict, str]] = []

    def take(self) -> tuple[dict, str]:
        if not self.queue:
            self.queue = [(c, q) for c in self.conditions for q in QTYPES]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def mc_rows(prefix: str, n: int, rng: random.Random, plan: Plan, taken: set) -> list[dict]:
    rows = []
    for i, answer in enumerate(balanced_letters(n, rng), 1):
        cond, qtype = plan.take()
        case = make_case(cond, qtype, rng, open_ended=False, taken=taken)
        options, _ = build_options(case, answer, rng, plan.conditions)
        rows.append({"id": f"{prefix}-{i:04d}", "question": case["stem"], "options": options,
                     "answer": answer, "topic": cond["system"]})
    return rows


def sft_rows(rng: random.Random, plan: Plan, taken: set, n_mc: int, n_open: int) -> list[dict]:
    rows = []
    kinds = ["mc"] * n_mc + ["open"] * n_open
    rng.shuffle(kinds)
    letters = iter(balanced_letters(n_mc, rng))
    for kind in kinds:
        cond, qtype = plan.take()
        case = make_case(cond, qtype, rng, open_ended=kind == "open", taken=taken)
        if kind == "open":
            other = rng.choice(distractor_pool(cond, qtype, plan.conditions))
            rows.append({"Question": case["stem"], "Complex_CoT": write_cot(case, rng, other),
                         "Response": open_response(case, rng)})
            continue
        answer = next(letters)
        options, owners = build_options(case, answer, rng, plan.conditions)
        other_letter = rng.choice([letter for letter in LETTERS if letter != answer])
        cot = write_cot(case, rng, owners[other_letter], answer, cond[FIELD[qtype]], other_letter)
        rows.append({"Question": format_choice_question(case["stem"], options), "Complex_CoT": cot,
                     "Response": mc_response(case, answer)})
    return rows

