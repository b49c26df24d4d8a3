"""An Ollama Modelfile for the GGUF: a Go template equal to the model's own chat template (with
the thinking block Ollama needs to return the reasoning apart), its stop tokens, and the
recommended sampling.

Ollama runs Go templates, not the Jinja template the GGUF carries, so the template is rebuilt
from the Jinja one by rendering probe conversations and reading off what surrounds each message:
the text before the first turn, before and after a user message, before and after an earlier
answer, and the generation prompt (R1's opens the think block). `template_pieces` is checked
against the Jinja rendering of a multi-turn conversation before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.chat_format import ChatFormat
from common.reasoning import THINK_CLOSE, THINK_OPEN

_U1, _A1, _U2 = "\u2063U1\u2063", "\u2063A1\u2063", "\u2063U2\u2063"


@dataclass(frozen=True)
class TemplatePieces:
    start: str  # before the first turn (a default system prompt, say)
    user_before: str
    user_after: str
    assistant_before: str
    assistant_after: str  # closes an earlier answer
    generation: str  # the model's turn

    def render(self, messages: list[dict]) -> str:
        """What the Go template renders, in Python: for checking the pieces."""
        parts = [self.start]
        for index, message in enumerate(messages):
            last = index == len(messages) - 1
            if message["role"] == "user":
                parts.append(self.user_before + message["content"] + self.user_after)
            else:
                parts.append(self.assistant_before + message["content"] + ("" if last else self.assistant_after))
            if last and message["role"] != "assistant":
                parts.append(self.generation)
        return "".join(parts)


def _after(text: str, marker: str) -> str:
    return text.split(marker, 1)[1]


def _strip_prefix(text: str, prefix: str) -> str:
    if not text.startswith(prefix):
        raise ValueError("the chat template does not follow the turn structure the Modelfile can express")
    return text[len(prefix):]


def template_pieces(chat: ChatFormat, bos_added_by_runtime: str | None) -> TemplatePieces:
    """Each piece from the probe that isolates it: what follows a message when nothing comes
    after it, then what is left between two messages."""
    user = [{"role": "user", "content": _U1}]
    answered = [*user, {"role": "assistant", "content": _A1}]
    user_after = _after(chat.render(user, False), _U1)
    assistant_after = _after(chat.render(answered, False), _A1)
    generation = _strip_prefix(_after(chat.render(user, True), _U1), user_after)
    two_turns = chat.render([*answered, {"role": "user", "content": _U2}], True)
    assistant_before = _strip_prefix(_after(two_turns, _U1).split(_A1, 1)[0], user_after)
    user_before = _strip_prefix(_after(two_turns, _A1).split(_U2, 1)[0], assistant_after)
    head = two_turns.split(_U1, 1)[0]
    if not head.endswith(user_before):
        raise ValueError("the chat template does not follow the turn structure the Modelfile can express")
    start = head[: len(head) - len(user_before)]
    if bos_added_by_runtime:
        start = start.removeprefix(bos_added_by_runtime)
    return TemplatePieces(start, user_before, user_after, assistant_before, assistant_after, generation)


def check_pieces(pieces: TemplatePieces, chat: ChatFormat, bos_added_by_runtime: str | None) -> None:
    conversation = [{"role": "user", "content": "First question?"}, {"role": "assistant", "content": "First answer."},
                    {"role": "user", "content": "Second question?"}]
    expected = chat.render(conversation, True)
    if bos_added_by_runtime:
        expected = expected.removeprefix(bos_added_by_runtime)
    if pieces.render(conversation) != expected:
        raise ValueError("the chat template does not follow the turn structure the Modelfile can express")


def go_template(pieces: TemplatePieces) -> str:
    """One line with no trim markers: every piece's own whitespace (ChatML's newlines) is kept.

    The thinking block is what makes `think: true` work in Ollama: it reads the tags around
    `.Thinking` inside the range over `.Messages` as the model's thinking tags, and splits the
    output into `thinking` and `content` with them (primed with the opening tag when the prompt
    ends in it, as R1's does). It renders only for a last assistant message (a prefilled answer),
    so earlier answers stay without their thinking, as the chat template renders them."""
    thinking = ("{{ if and $last .Thinking }}" + THINK_OPEN + "\n{{ .Thinking }}\n" + THINK_CLOSE + "\n\n"
                "{{ end }}")
    return (
        "{{ if .System }}{{ .System }}{{ end }}" + pieces.start +
        "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        "{{ if eq .Role \"user\" }}" + pieces.user_before + "{{ .Content }}" + pieces.user_after +
        "{{ else if eq .Role \"assistant\" }}" + pieces.assistant_before + thinking + "{{ .Content }}"
        "{{ if not $last }}" + pieces.assistant_after + "{{ end }}{{ end }}"
        "{{ if and $last (ne .Role \"assistant\") }}" + pieces.generation + "{{ end }}{{ end }}"
    )


def stop_strings(pieces: TemplatePieces, eos_token: str | None) -> list[str]:
    """Where a turn ends: the end token, and the markers that would open the next turn."""
    candidates = [eos_token, pieces.assistant_after.strip(), pieces.user_before.strip(),
                  pieces.assistant_before.strip()]
    stops = []
    for text in candidates:
        if text and text not in stops:
            stops.append(text)
    return stops


def render_modelfile(gguf_name: str, tokenizer, temperature: float, top_p: float, num_ctx: int) -> str:
    chat = ChatFormat.of_tokenizer(tokenizer)
    adds_bos = tokenizer.bos_token is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    bos = tokenizer.bos_token if adds_bos else None
    pieces = template_pieces(chat, bos)
    check_pieces(pieces, chat, bos)
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{go_template(pieces)}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stop_strings(pieces, tokenizer.eos_token)]
    lines += [f"PARAMETER temperature {temperature}", f"PARAMETER top_p {top_p}", f"PARAMETER num_ctx {num_ctx}"]
    return "\n".join(lines) + "\n"
