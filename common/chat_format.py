"""A model's chat format, read from its own chat template: no stage special-cases a family.

Training, the GGUF's template in the server, and eval must frame a question identically. The
prompt is the template's own rendering with the generation prompt. What the template cannot
give is the trained completion, because R1-style templates drop the thinking from assistant
turns; it is built here from two facts probed from the template itself:
- whether the generation prompt already opens the think block (R1: `<｜Assistant｜><think>\\n`),
  else the completion opens it;
- the text the template puts after an assistant message (R1: EOS; ChatML: `<|im_end|>`), which
  ends the completion so the model learns to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from common.reasoning import THINK_CLOSE, THINK_OPEN

Messages = list[dict[str, str]]
PROBE_QUESTION = "What is the diagnosis?"
_SENTINEL = "\u2063ANSWER\u2063"


def opens_think_block(prompt: str) -> bool:
    """Whether a rendered prompt ends inside an opened think block (the model starts thinking)."""
    return prompt.rstrip().endswith(THINK_OPEN)


class ChatFormat:
    """`render(messages, add_generation_prompt)` is the template's rendering (text, any BOS text
    included, as the template writes it)."""

    def __init__(self, render: Callable[[Messages, bool], str], eos_token: str | None = None) -> None:
        self.render = render
        self.eos_token = eos_token

    @classmethod
    def of_tokenizer(cls, tokenizer) -> ChatFormat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template")

        def render(messages: Messages, add_generation_prompt: bool) -> str:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

        return cls(render, tokenizer.eos_token)

    def prompt(self, question: str) -> str:
        """The served prompt for one user question."""
        return self.render([{"role": "user", "content": question}], True)

    @cached_property
    def think_prefilled(self) -> bool:
        """The generation prompt itself opens the think block (the model starts inside it)."""
        return opens_think_block(self.prompt(PROBE_QUESTION))

    @cached_property
    def turn_end(self) -> str:
        """What the template writes after an assistant message's text, without the whitespace
        that follows it (never generated: the model stops at the end token)."""
        rendered = self.render([{"role": "user", "content": PROBE_QUESTION},
                                {"role": "assistant", "content": _SENTINEL}], False)
        after = rendered.split(_SENTINEL, 1)[1].rstrip() if _SENTINEL in rendered else ""
        return after or (self.eos_token or "")

    @cached_property
    def system_prompts(self) -> str:
        """How the template treats a system message: "framed" (under its own role marker),
        "bare" (pasted in as plain text, no marker: R1-Distill's, whose authors advise against
        system prompts) or "dropped"."""
        user = {"role": "user", "content": PROBE_QUESTION}
        without = self.render([user], True)
        with_system = self.render([{"role": "system", "content": _SENTINEL}, user], True)
        if _SENTINEL not in with_system:
            return "dropped"
        return "bare" if with_system.replace(_SENTINEL, "", 1) == without else "framed"

    def completion(self, reasoning: str, answer: str) -> str:
        """The trained rest of an assistant turn: the whole think block, the answer, the turn's end."""
        opening = "" if self.think_prefilled else f"{THINK_OPEN}\n"
        return f"{opening}{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer.strip()}{self.turn_end}"

    def turn_pair(self, history: Messages, reasoning: str, answer: str) -> tuple[str, str]:
        """(prompt, completion) for the assistant turn that follows `history`: the prompt is the
        template's rendering of the history with the generation prompt, as a server renders it."""
        return self.render(history, True), self.completion(reasoning, answer)

    def training_pair(self, question: str, reasoning: str, response: str) -> tuple[str, str]:
        """(prompt, completion) for one single-turn question."""
        return self.turn_pair([{"role": "user", "content": question}], reasoning, response)
