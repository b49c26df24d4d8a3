"""Choice extraction on hand-written model outputs: the answer part only, no guessing."""

import pytest

from common.answers import extract_choice, extract_label
from common.reasoning import split_reasoning

OPTIONS = {"A": "Aspirin", "B": "Metformin", "C": "Insulin glargine", "D": "Lisinopril"}

CASES = [
    # (full model output as served, with the opening <think> prefilled by the template, expected)
    ("Reasoning...\n</think>\n\nThe answer is \\boxed{B}.", "B"),
    ("x</think>\\boxed{\\text{C}}", "C"),
    ("x</think>Final: \\boxed{(D)}", "D"),
    ("x</think>\\boxed{B. Metformin}", "B"),
    ("x</think>\\boxed{b}", "B"),
    ("x</think>First I thought \\boxed{A}, but on reflection \\boxed{C}.", "C"),
    ("x</think>The answer is B.", "B"),
    ("x</think>The correct answer is (C) Insulin glargine.", "C"),
    ("x</think>Answer: **D**", "D"),
    ("x</think>**Answer: A**", "A"),
    ("x</think>Final answer: B", "B"),
    ("x</think>The best option is D, lisinopril.", "D"),
    ("x</think>**B. Metformin** is first line for type 2 diabetes.", "B"),
    ("x</think>**(C)**", "C"),
    ("x</think>C", "C"),
    ("x</think>C. Insulin glargine", "C"),
    ("x</think>(A)", "A"),
    ("x</think>Metformin is the first-line drug here.", "B"),
    ("x</think>Start metformin together with lifestyle changes.", "B"),
    ("x</think>答案是B", "B"),
    ("x</think>正确答案：C", "C"),
    ("x</think>所以选D。", "D"),
    ("x</think>答案为（A）", "A"),
    # letters and options that appear only in the thinking must be ignored
    ("The answer is clearly A... </think>\n\nI am not sure.", None),
    ("\\boxed{A} maybe? </think>", None),
    ("Option B looks right, metformin.", None),  # never closed: all of it is thinking
    ("<think>The answer is D.</think>", None),  # closed, but nothing after it
    # truncated inside the thinking
    ("Let me compare A and B carefully and then", None),
    # no commitment
    ("x</think>I cannot decide between the options.", None),
    ("x</think>Both aspirin and metformin could be argued.", None),  # two option texts: no guess
    ("x</think>A 45-year-old patient like this needs care.", None),  # article, not a choice
    ("x</think>The answer is a bit unclear.", None),
    ("x</think>", None),
    ("x</think>\n\n   ", None),
]


@pytest.mark.parametrize("output,expected", CASES)
def test_choice_is_read_from_the_answer_part_only(output, expected):
    answer = split_reasoning(output).answer
    assert extract_choice(answer, OPTIONS) == expected


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("answer,expected", [
    ("\\boxed{yes}", "yes"),
    ("The answer is no.", "no"),
    ("Maybe", "maybe"),
    ("Final answer: **Yes**", "yes"),
    ("It depends on the population studied.", None),
])
def test_yes_no_maybe_labels(answer, expected):
    assert extract_label(answer) == expected
