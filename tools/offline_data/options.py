"""Multiple-choice options: the correct answer and three distractors from the same organ system."""

from __future__ import annotations

import random

from .text import cap

# The knowledge-base field that holds the answer to each question type.
FIELD = {"diagnosis": "diagnosis", "key_finding": "key_finding", "next_step": "next_step",
         "treatment": "treatment", "mechanism": "mechanism"}
LETTERS = ("A", "B", "C", "D")
# Pairs never used as each other's distractors outside diagnosis questions: the other's
# answer would also be defensible (both biopsies, both SSRIs, both pinpoint pupils, ...).
CONFLICTS = [
    {"melanoma", "basal cell carcinoma"}, {"asthma", "chronic obstructive pulmonary disease"},
    {"opioid overdose", "organophosphate poisoning"}, {"rheumatoid arthritis", "systemic lupus erythematosus"},
    {"major depressive disorder", "generalized anxiety disorder"},
    {"schizophrenia", "bipolar I disorder, manic episode"},
    {"atrial fibrillation", "hypertrophic cardiomyopathy"}, {"placenta previa", "placental abruption"},
    {"plaque psoriasis", "atopic dermatitis"}, {"myasthenia gravis", "Guillain-Barre syndrome"},
]


def _conflict(a: dict, b: dict) -> bool:
    return {a["diagnosis"], b["diagnosis"]} in CONFLICTS


def distractor_pool(cond: dict, qtype: str, conditions: list[dict]) -> list[dict]:
    field = FIELD[qtype]
    pool, seen = [], {cond[field].lower()}
    for other in conditions:
        if other is cond or other["system"] != cond["system"]:
            continue
        if qtype != "diagnosis" and _conflict(cond, other):
            continue
        if other[field].lower() in seen:
            continue
        seen.add(other[field].lower())
        pool.append(other)
    if len(pool) < 3:
        raise RuntimeError(f"{cond['diagnosis']} ({qtype}): fewer than 3 distractors")
    return pool


def build_options(case: dict, answer: str, rng: random.Random,
                  conditions: list[dict]) -> tuple[dict, dict]:
    """Options A-D (correct text under `answer`) and the condition behind each letter."""
    cond, field = case["cond"], FIELD[case["qtype"]]
    others = rng.sample(distractor_pool(cond, case["qtype"], conditions), 3)
    letters = [letter for letter in LETTERS if letter != answer]
    owners = {answer: cond, **dict(zip(letters, others, strict=True))}
    options = {letter: cap(owners[letter][field]) for letter in LETTERS}
    return options, owners

