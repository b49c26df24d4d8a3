"""LLM judge for open-ended answers: a True/False verdict from any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio

from common.config import JudgeSection

VERIFIER_PROMPT = """You are checking a medical answer against a reference answer.

<model_answer>
{answer}
</model_answer>

<reference_answer>
{reference}
</reference_answer>

Does the model answer reach the same conclusion as the reference answer? Minor wording
differences do not matter; a different diagnosis, drug, test or value does.
Reply with exactly one word: True or False."""


def parse_verdict(text: str) -> bool | None:
    word = (text or "").strip().strip(".*`'\"").split()
    if not word:
        return None
    return {"true": True, "false": False}.get(word[0].lower().strip(".*`'\""))


async def judge_all(pairs: list[tuple[str, str, str]], judge: JudgeSection, concurrency: int) -> dict[str, bool | None]:
    """{item id: verdict or None when the judge's reply was not True/False} for (id, answer, reference)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=judge.endpoint, api_key=judge.api_key or "none", max_retries=3, timeout=120)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item_id: str, answer: str, reference: str):
        async with semaphore:
            reply = await client.chat.completions.create(
                model=judge.model, temperature=0, max_tokens=8,
                messages=[{"role": "user", "content": VERIFIER_PROMPT.format(answer=answer, reference=reference)}])
            return item_id, parse_verdict(reply.choices[0].message.content or "")

    results = dict(await asyncio.gather(*(one(*pair) for pair in pairs)))
    await client.close()
    return results
