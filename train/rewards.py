"""GRPO rewards: small pure functions over one completion, built on the eval harness's parsing.

A completion starts after the served prompt's `<think>\\n`, so it carries only the closing tag.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.answers import extract_choice
from common.reasoning import split_reasoning


def format_reward(completion: str, options: Mapping[str, str] | None = None) -> float:
    """1 when the think block is closed and the answer commits to one option; 0.5 when closed
    without a readable choice; 0 when the thinking never ends."""
    parts = split_reasoning(completion)
    if not parts.think_closed:
        return 0.0
    return 1.0 if extract_choice(parts.answer, options) is not None else 0.5


def correctness_reward(completion: str, answer: str, options: Mapping[str, str] | None = None) -> float:
    """1 when the choice in the answer part equals the gold letter. A letter that appears only in
    the thinking earns nothing."""
    return 1.0 if extract_choice(split_reasoning(completion).answer, options) == answer else 0.0


def length_penalty(completion: str, hit_limit: bool) -> float:
    """-1 for a completion the generation limit cut off before it ended on its own; a completion
    that stopped without closing its thinking is the format reward's business, not this one's."""
    return -1.0 if hit_limit else 0.0


def trl_reward_functions(max_completion_length: int, eos_token_id: int):
    """The three rewards with the signature TRL's GRPOTrainer calls (batched, dataset columns as kwargs)."""

    def _hit_limit(ids) -> bool:
        return ids is not None and len(ids) >= max_completion_length and (not ids or ids[-1] != eos_token_id)

    def format(completions, options=None, **_):
        return [format_reward(text, opts) for text, opts in zip(completions, options or [None] * len(completions),
                                                                 strict=True)]

    def correctness(completions, answer, options=None, **_):
        return [correctness_reward(text, gold, opts) for text, gold, opts in
                zip(completions, answer, options or [None] * len(completions), strict=True)]

    def length(completions, completion_ids=None, **_):
        ids = completion_ids or [None] * len(completions)
        return [length_penalty(text, _hit_limit(token_ids)) for text, token_ids in zip(completions, ids, strict=True)]

    format.__name__, correctness.__name__, length.__name__ = "format", "correctness", "length"
    return [format, correctness, length]
