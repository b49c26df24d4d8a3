"""All five files of the offline data set, as text, from the knowledge base and a fixed seed."""

from __future__ import annotations

import json
import random

from .general import replay_rows
from .knowledge import load_conditions
from .medical_rows import Plan, mc_rows, sft_rows
from .readme import readme

SEED = 20250611
N_EVAL, N_TRAIN, N_SFT_MC, N_SFT_OPEN = 132, 220, 172, 172


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def build() -> dict[str, str]:
    conditions = load_conditions()
    rng = random.Random(SEED)
    # Each file draws from its own seeded generator; the plan and the set of used cases are
    # shared, so the files cycle through every (condition, question type) and share no case.
    plan, taken = Plan(random.Random(SEED + 1), conditions), set()
    eval_rows = mc_rows("mc-eval", N_EVAL, random.Random(SEED + 2), plan, taken)
    train_rows = mc_rows("mc-train", N_TRAIN, random.Random(SEED + 3), plan, taken)
    sft = sft_rows(random.Random(SEED + 4), plan, taken, N_SFT_MC, N_SFT_OPEN)
    replay = replay_rows(rng)
    files = {"medical_o1_offline.jsonl": sft, "medical_mc_eval.jsonl": eval_rows,
             "medical_mc_train.jsonl": train_rows, "general_replay.jsonl": replay}
    out = {name: jsonl(rows) for name, rows in files.items()}
    out["README.md"] = readme({name: len(rows) for name, rows in files.items()}, conditions, SEED)
    return out

