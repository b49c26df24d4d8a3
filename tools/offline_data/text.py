"""Small English helpers shared by the vignettes, the reasoning and the responses."""

from __future__ import annotations


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def leading(cond: dict, feats: list[str]) -> list[str]:
    """The two shown features listed first in the knowledge base (its most telling ones)."""
    return sorted(feats, key=cond["features"].index)[:2]


def words(text: str) -> int:
    return len(text.split())


def article(age_word: str) -> str:
    number = age_word.split("-")[0]
    return "an" if number.startswith("8") or number in ("11", "18") else "a"
