"""Reads the hand-written medical knowledge base, data/knowledge/conditions.yaml.

`load_conditions()` returns one dict per condition, in file order (the generator's random draws
depend on it), with the keys system, diagnosis, age (a (min, max) tuple in years), sex ("male",
"female" or "any"), pregnant (bool), features, key_finding, next_step, treatment and mechanism.
A missing file, a missing or unknown key, or an entry the generator cannot use stops it with
one line naming the file and the entry.
"""

from __future__ import annotations

from pathlib import Path

import yaml

KNOWLEDGE_FILE = Path(__file__).resolve().parents[2] / "data" / "knowledge" / "conditions.yaml"
TEXT_KEYS = ("system", "diagnosis", "sex", "key_finding", "next_step", "treatment", "mechanism")
REQUIRED_KEYS = (*TEXT_KEYS, "age", "features")
OPTIONAL_KEYS = ("pregnant",)  # only written for the few pregnant patients


class KnowledgeBaseError(ValueError):
    """The knowledge base file is missing or has an entry the generator cannot use."""


def load_conditions(path: Path = KNOWLEDGE_FILE) -> list[dict]:
    if not path.is_file():
        raise KnowledgeBaseError(f"{path}: knowledge base file not found")
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not entries:
        raise KnowledgeBaseError(f"{path}: expected a list of conditions")
    conditions = [_condition(path, i, entry) for i, entry in enumerate(entries, 1)]
    _check_whole(path, conditions)
    return conditions


def _condition(path: Path, number: int, entry: object) -> dict:
    where = f"{path}: entry {number}"
    if not isinstance(entry, dict):
        raise KnowledgeBaseError(f"{where}: expected a mapping of keys to values")
    where += f" ({entry.get('diagnosis', 'no diagnosis')})"
    missing = [key for key in REQUIRED_KEYS if key not in entry]
    unknown = sorted(set(entry) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if missing:
        raise KnowledgeBaseError(f"{where}: missing key(s) {', '.join(missing)}")
    if unknown:
        raise KnowledgeBaseError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not all(isinstance(entry[key], str) and entry[key] for key in TEXT_KEYS):
        raise KnowledgeBaseError(f"{where}: {', '.join(TEXT_KEYS)} must be non-empty text")
    age, features, pregnant = entry["age"], entry["features"], entry.get("pregnant", False)
    if not (isinstance(age, list) and len(age) == 2 and all(isinstance(a, int | float) for a in age)
            and 0 <= age[0] < age[1]):
        raise KnowledgeBaseError(f"{where}: age must be [min, max] with 0 <= min < max")
    if not (isinstance(features, list) and 3 <= len(features) <= 6 and all(isinstance(f, str) for f in features)):
        raise KnowledgeBaseError(f"{where}: needs 3-6 features (text)")
    if entry["sex"] not in ("male", "female", "any") or pregnant not in (True, False) \
            or (pregnant and entry["sex"] != "female"):
        raise KnowledgeBaseError(f"{where}: sex must be male, female or any; pregnant (true) needs sex female")
    # The key order of the dicts the generator has always used (it writes none of them out).
    return {"system": entry["system"], "diagnosis": entry["diagnosis"], "age": (age[0], age[1]),
            "sex": entry["sex"], "pregnant": pregnant, "features": list(features),
            "key_finding": entry["key_finding"], "next_step": entry["next_step"],
            "treatment": entry["treatment"], "mechanism": entry["mechanism"]}


def _check_whole(path: Path, conditions: list[dict]) -> None:
    names = [c["diagnosis"] for c in conditions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise KnowledgeBaseError(f"{path}: duplicate diagnoses {duplicates}")
    for system in sorted({c["system"] for c in conditions}):
        # A multiple-choice question takes its three distractors from its own system.
        if sum(c["system"] == system for c in conditions) < 4:
            raise KnowledgeBaseError(f"{path}: {system} has fewer than 4 conditions (distractors need 3)")
