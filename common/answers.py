"""Extract a model's final choice from its answer text, strictly.

Only the answer part is read (never the thinking; see reasoning.split_reasoning). Rules, in
order, the first that matches wins; within a rule the last match is the final answer:
  1. \\boxed{X} (also \\boxed{\\text{X}}, \\boxed{(X)}, \\boxed{X. option text})
  2. an explicit statement: "the answer is X", "Answer: **X**", "correct option: (X)",
     "答案是X", "答案：X", "选X"; a lower-case letter only right after a marker with its verb or
     colon and followed by nothing but punctuation ("the answer is b", "Answer: (b)")
  3. a bold letter: **X**, **X.**, **(X)**, **X. option text**
  4. a line that is only the letter, or the letter then the option's text ("C. Metformin")
  5. the answer names exactly one option's text
Nothing else counts: there is no similarity fallback that always returns a guess, and an
answer that names several options' texts gives no prediction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

LABELS = ("yes", "no", "maybe")


def _letter_class(letters: str) -> str:
    return "[" + letters + letters.lower() + "]"


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\*_`]", "", text)
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()


def _patterns(letters: str) -> list[list[re.Pattern]]:
    upper = "[" + letters + "]"
    lower = "[" + letters.lower() + "]"
    any_case = _letter_class(letters)
    close = r"(?=\s*(?:$|[\s.,;:!)\]}*。，；：]|$))"
    # after a lower-case letter only a bracket, bold, the end of the line, or punctuation that ends the
    # word ("e.g." does not)
    lower_close = r"(?:\)|(?=[\]*]|[ \t]*(?:\n|$)|[.,;:!?。，；：](?:\s|\*|$)))"
    return [
        [re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*\(?(" + any_case + r")\)?(?:[.:)\s][^{}]*)?\}?\s*\}")],
        [
            # keywords in any case, the letter in upper case ("the answer is a bit ..." is no choice)
            re.compile(r"(?i:final\s+answer|correct\s+(?:answer|option|choice)|answer|option|choice)"
                       r"\s*(?i:(?:is|would\s+be|should\s+be)\s*:?|=|:)?\s*(?i:option\s+)?\**\s*\(?(" + upper + r")\)?\**"
                       + close),
            # small models write "the answer is b" or "**Answer:** b)"; but "a" is also an article ("the
            # answer is a bit unclear", "answer is a 45-year-old"), so a lower-case letter needs the verb
            # or colon after the keyword and nothing but punctuation after it
            re.compile(r"\b(?i:final\s+answer|correct\s+(?:answer|option|choice)|answer|option|choice)"
                       r"\s*\**\s*(?i:(?:is|would\s+be|should\s+be)\s*:?|=|:)\s*\**\s*(?i:option\s+)?\(?(" + lower + r")"
                       + lower_close),
            re.compile(r"(?:答案|正确答案|正确选项|最终答案)\s*(?:是|为|:|：)?\s*\**\s*[（(]?(" + any_case + r")[）)]?"),
            re.compile(r"选\s*[（(]?(" + upper + r")[）)]?"),
        ],
        [re.compile(r"\*\*\s*\(?(" + upper + r")\)?(?:[.:)]\s*[^*\n]*)?\*\*")],
        [re.compile(r"^\s*\(?(" + upper + r")\)?\s*(?:[.:)]\s*.*)?$", re.MULTILINE)],
    ]


def extract_choice(answer: str, options: Mapping[str, str] | None = None) -> str | None:
    """The letter the answer commits to, or None. `options` maps letters to option texts."""
    if not answer or not answer.strip():
        return None
    # without options any of five letters counts, so MedQA's E is not lost
    letters = "".join(sorted(options)) if options else "ABCDE"
    for rule_index, rule in enumerate(_patterns(letters)):
        found = []
        for pattern in rule:
            found += [(m.start(), m.group(1).upper()) for m in pattern.finditer(answer)]
        if rule_index == 3 and options:
            # a bare line "A" counts; "A 45-year-old ..." does not: the rest must be the option text
            found = [(pos, letter) for pos, letter in found if _line_is_choice(answer, pos, letter, options)]
        if found:
            return max(found)[1]
    if options:
        normalised = _normalise(answer)
        named = [letter for letter, text in options.items() if _normalise(text) and _normalise(text) in normalised]
        if len(named) == 1:
            return named[0]
    return None


def _line_is_choice(answer: str, position: int, letter: str, options: Mapping[str, str]) -> bool:
    line = answer[position:].split("\n", 1)[0].strip()
    rest = re.sub(r"^\(?" + letter + r"\)?\s*[.:)]?\s*", "", line, flags=re.IGNORECASE)
    return not rest or _normalise(rest).startswith(_normalise(options[letter])[:20])


def extract_label(answer: str, labels: tuple[str, ...] = LABELS) -> str | None:
    """yes / no / maybe (PubMedQA), by the same rules: boxed, then a stated answer, then a lone word."""
    if not answer or not answer.strip():
        return None
    words = "|".join(labels)
    rules = [
        re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*(" + words + r")\b", re.IGNORECASE),
        re.compile(r"(?:final\s+answer|answer)\s*(?:is|:)?\s*\**\s*(" + words + r")\b", re.IGNORECASE),
        re.compile(r"^\s*\**(" + words + r")\**[.!]?\s*$", re.IGNORECASE | re.MULTILINE),
    ]
    for rule in rules:
        found = [(m.start(), m.group(1).lower()) for m in rule.finditer(answer)]
        if found:
            return max(found)[1]
    return None
