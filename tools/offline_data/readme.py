"""data/README.md, written by the generator with the counts of what it wrote."""

from __future__ import annotations


def readme(counts: dict[str, int], conditions: list[dict], seed: int) -> str:
    return f"""# Offline data set

Small, synthetic data for running the pipeline without network access. Generate it with

    python -m tools.offline_data            # writes data/
    python -m tools.offline_data --check    # exit 1 if data/ differs from the generator

The generator is deterministic (seed {seed}) and needs only the Python standard library and
PyYAML. Medical rows are composed from the hand-written knowledge base in
`data/knowledge/conditions.yaml`: {len(conditions)} conditions across {len({c['system'] for c in conditions})} systems.

Every row was written for this project: it is synthetic, it is not clinical advice, and it is
not copied from any data set. The knowledge base states classic textbook associations in
simplified form; do not use it for patient care.

| file | rows | schema |
|---|---|---|
| `medical_o1_offline.jsonl` | {counts['medical_o1_offline.jsonl']} | `Question`, `Complex_CoT`, `Response` (the schema of FreedomIntelligence/medical-o1-reasoning-SFT) |
| `medical_mc_train.jsonl` | {counts['medical_mc_train.jsonl']} | `id`, `question`, `options` (A-D), `answer`, `topic` |
| `medical_mc_eval.jsonl` | {counts['medical_mc_eval.jsonl']} | `id`, `question`, `options` (A-D), `answer`, `topic` |
| `general_replay.jsonl` | {counts['general_replay.jsonl']} | `instruction`, `output` |
| `medical_o1_offline_zh.jsonl` | 12 | `Question`, `Complex_CoT`, `Response`, in Chinese (written by hand, not by the generator) |

- `medical_o1_offline.jsonl`: supervised fine-tuning rows. About half are open-ended clinical
  questions (diagnosis, key finding, next step, first-line treatment, mechanism); the rest are
  multiple-choice rows whose `Question` is `common.reasoning.format_choice_question(stem, options)`
  and whose `Response` ends with a line `\\boxed{{X}}`. `Complex_CoT` is first-person reasoning
  of 50-130 words.
- `medical_mc_eval.jsonl`: held-out multiple-choice questions (stem only in `question`; `topic`
  is the organ system). Correct letters are balanced; distractors come from the same system; no
  stem, and no combination of condition, age/sex and findings, appears in the other files.
- `medical_mc_train.jsonl`: multiple-choice questions in the same schema, disjoint from the
  eval file.
- `general_replay.jsonl`: non-medical instructions (arithmetic word problems with worked
  answers, short writing tasks, science and geography facts, simple code explanations).

About 10% of vignettes omit age and sex ("A patient presents with ...").

`medical_o1_offline_zh.jsonl` holds a few Chinese rows for the `zh` configs of the local hub
mirror's stand-in of the data set (tools/hub_mirror/fill.py); the generator does not write it.
"""
