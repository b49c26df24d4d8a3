"""The R1 reasoning format: token strings, prompt rendering, think splitting.

Train, serve and eval all render prompts through `render_prompt`, so the tokens the model
is trained on after the prompt are the tokens it continues from when served. The strings
are DeepSeek-R1-Distill's; the bars are U+FF5C and the ▁ is U+2581.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
PAD = "<｜▁pad▁｜>"

# Ids in DeepSeek-R1-Distill-Llama-8B's tokenizer.json (Llama-3 reserved slots reused).
SPECIAL_TOKEN_IDS: dict[str, int] = {
    BOS: 128000,
    EOS: 128001,
    USER: 128011,
    ASSISTANT: 128012,
    THINK_OPEN: 128013,
    THINK_CLOSE: 128014,
    PAD: 128015,
}

# The tokens that end a turn when a runtime does not read EOS from the model file
# (Ollama, some llama.cpp front ends): the four DeepSeek publishes for R1.
STOP_STRINGS = (BOS, EOS, USER, ASSISTANT)

# What the R1 template appends for the model's turn: the think block is opened for it.
GENERATION_PROMPT = ASSISTANT + THINK_OPEN + "\n"

CHOICE_INSTRUCTION = (
    "Please reason step by step, and put the letter of your final answer within \\boxed{}."
)


def _assistant_history(content: str) -> str:
    # The template keeps only the text after the last </think> of an earlier answer.
    if THINK_CLOSE in content:
        content = content.split(THINK_CLOSE)[-1]
    return content


def render_prompt(messages: Iterable[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """Render a conversation exactly as the R1-Distill chat template does (text, BOS included).

    System messages are concatenated right after BOS, as the template does; DeepSeek advises
    against them, so the pipeline itself never sends one.
    """
    messages = list(messages)
    system = "".join(m["content"] for m in messages if m["role"] == "system")
    parts = [BOS, system]
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "user":
            parts.append(USER + content)
        elif role == "assistant":
            parts.append(ASSISTANT + _assistant_history(content) + EOS)
        elif role != "system":
            raise ValueError(f"unsupported role {role!r} (expected system, user or assistant)")
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT)
    return "".join(parts)


def render_training_pair(question: str, reasoning: str, response: str) -> tuple[str, str]:
    """Return (prompt, completion) for one supervised row.

    The prompt is the served prompt for the question, ending in `<think>\\n`; the completion
    is the rest of the assistant turn, so the loss covers the whole think block and answer.
    The chat template cannot be used here: it drops the think block from assistant turns.
    """
    prompt = render_prompt([{"role": "user", "content": question}], add_generation_prompt=True)
    completion = f"{reasoning.strip()}\n{THINK_CLOSE}\n\n{response.strip()}{EOS}"
    return prompt, completion


def user_turn(prompt: str) -> str:
    """The (last) user message of a rendered single-turn prompt."""
    return prompt.rsplit(USER, 1)[-1].rsplit(ASSISTANT, 1)[0]


def format_choice_question(stem: str, options: Mapping[str, str]) -> str:
    """The user turn for a multiple-choice question: stem, lettered options, format sentence last."""
    lines = [stem.strip(), ""]
    lines += [f"{letter}. {text.strip()}" for letter, text in sorted(options.items())]
    lines += ["", CHOICE_INSTRUCTION]
    return "\n".join(lines)


@dataclass(frozen=True)
class ReasoningSplit:
    reasoning: str
    answer: str
    think_closed: bool


def split_reasoning(text: str, prefilled: bool = True) -> ReasoningSplit:
    """Split a completion into its thinking and its answer.

    R1's template prefills `<think>\\n`, so most completions carry only the closing tag; with
    `prefilled` (the default) text with no tag at all is unfinished thinking, not an answer.
    """
    body = text.lstrip()
    opened = body.startswith(THINK_OPEN)
    if opened:
        body = body[len(THINK_OPEN):]
    if THINK_CLOSE in body:
        reasoning, _, answer = body.partition(THINK_CLOSE)
        return ReasoningSplit(reasoning.strip(), answer.strip(), True)
    if opened or prefilled:
        return ReasoningSplit(body.strip(), "", False)
    return ReasoningSplit("", body.strip(), False)


class ThinkStreamSplitter:
    """Split streamed text into reasoning and answer pieces as it arrives.

    Text is reasoning until `</think>` (the opening tag is usually prefilled by the template and
    absent; a leading `<think>` is dropped if the model writes one). A tag split across pieces
    ("</th" + "ink>") is held back until it can be decided, and so is trailing whitespace, so the
    concatenated pieces equal what `split_reasoning` returns for the whole text.
    """

    def __init__(self, prefilled: bool = True) -> None:
        self.in_reasoning = prefilled
        self.prefilled = prefilled
        self.buffer = ""
        self.started = False
        self.answer_started = False
        self.reasoning_started = False
        self.think_closed = False

    @staticmethod
    def _partial_tag_len(text: str, tag: str) -> int:
        for size in range(min(len(tag) - 1, len(text)), 0, -1):
            if text.endswith(tag[:size]):
                return size
        return 0

    def _emit_reasoning(self, text: str) -> str:
        if not self.reasoning_started:
            text = text.lstrip()
            self.reasoning_started = bool(text)
        return text

    def feed(self, text: str) -> tuple[str, str]:
        """Returns (reasoning, answer) text that is safe to emit now."""
        self.buffer += text
        reasoning = answer = ""
        if not self.started:
            head = self.buffer.lstrip()
            if THINK_OPEN.startswith(head) and len(head) < len(THINK_OPEN):
                return "", ""
            if head.startswith(THINK_OPEN):
                self.buffer = head[len(THINK_OPEN):]
                self.in_reasoning = True
            elif not self.prefilled:
                self.in_reasoning = False
            self.started = True
        if self.in_reasoning:
            index = self.buffer.find(THINK_CLOSE)
            if index < 0:
                hold = self._partial_tag_len(self.buffer, THINK_CLOSE)
                emit = self.buffer[: len(self.buffer) - hold]
                kept_space = len(emit) - len(emit.rstrip())
                emit = emit[: len(emit) - kept_space]
                self.buffer = self.buffer[len(emit):]
                return self._emit_reasoning(emit), ""
            reasoning = self._emit_reasoning(self.buffer[:index].rstrip())
            self.buffer = self.buffer[index + len(THINK_CLOSE):]
            self.in_reasoning = False
            self.think_closed = True
        if not self.answer_started:
            self.buffer = self.buffer.lstrip()
            if not self.buffer:
                return reasoning, ""
            self.answer_started = True
        stripped = self.buffer.rstrip()
        answer, self.buffer = stripped, self.buffer[len(stripped):]
        return reasoning, answer

    def flush(self) -> tuple[str, str]:
        """Whatever is held back, at the end of the stream."""
        rest, self.buffer = self.buffer, ""
        if not self.started:
            rest = rest.lstrip()
            if rest.startswith(THINK_OPEN):
                rest = rest[len(THINK_OPEN):]
            elif not self.prefilled:
                self.in_reasoning = False
        if self.in_reasoning:
            return self._emit_reasoning(rest.rstrip()), ""
        return "", rest.rstrip() if self.answer_started else rest.strip()
