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


@pytest.mark.parametrize("answer,expected", [
    # a lower-case letter right after an explicit answer marker, as small instruct models and R1
    # distills write it
    ("The answer is b", "B"),
    ("So the answer is: d", "D"),
    ("Answer: (b)", "B"),
    ("**Answer:** b)", "B"),
    ("Answer: **c**", "C"),
    ("the correct option is c.", "C"),
    ("The correct answer is b) Metformin.", "B"),
    ("Final answer: a. Aspirin", "A"),
    ("The answer is (d) because it spares the kidney", "D"),
    ("答案：b", "B"),
    ("The answer is: D", "D"),
    # prose, not a choice: the article "a", a word or a code after the letter, no verb or colon
    ("The answer is a bit unclear.", None),
    ("The answer is a sentence with a specific detail.", None),
    ("The answer is a 45-year-old man's usual presentation.", None),
    ("Consider option a patient would tolerate.", None),
    ("Answer: e.g. the first one", None),
    ("The answer is b because it lowers glucose", None),
    ("The answer is b12 deficiency.", None),
    ("answer: d-dimer", None),
    ("choice b", None),
])
def test_lower_case_letter_counts_only_after_an_explicit_marker(answer, expected):
    assert extract_choice(answer, OPTIONS) == expected


def test_five_options_reach_e():
    five = {**OPTIONS, "E": "Propranolol"}
    assert extract_choice("The answer is \\boxed{E}.", five) == "E"
    assert extract_choice("E. Propranolol", five) == "E"
    assert extract_choice("the answer is e.", five) == "E"
    assert extract_choice("Propranolol is the drug of choice.", five) == "E"
    # without options (a reward function, a saved generation with none) E still counts
    assert extract_choice("The answer is E.") == "E"
    assert extract_choice("\\boxed{E}") == "E"
    # with four options E is no choice
    assert extract_choice("The answer is E.", OPTIONS) is None
