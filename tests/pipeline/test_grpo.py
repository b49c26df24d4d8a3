"""GRPO: rewards are pure functions over the eval harness's parsing; prompts are the served ones."""

import pytest
from transformers import AutoTokenizer

from common.reasoning import format_choice_question
from train.grpo import check_prompt_tokens, grpo_prompt
from train.rewards import correctness_reward, format_reward, length_penalty, trl_reward_functions

OPTIONS = {"A": "Aspirin", "B": "Metformin", "C": "Insulin", "D": "Lisinopril"}


@pytest.mark.parametrize("completion,expected", [
    ("Think about it.\n</think>\n\nThe answer is \\boxed{B}.", 1.0),
    ("Think.\n</think>\n\nI am not sure.", 0.5),
    ("The answer is \\boxed{B} but I keep thinking", 0.0),
    ("</think>", 0.5),
])
def test_format_reward(completion, expected):
    assert format_reward(completion, OPTIONS) == expected


@pytest.mark.parametrize("completion,expected", [
    ("x</think>\\boxed{B}", 1.0),
    ("x</think>\\boxed{C}", 0.0),
    ("The answer is B.</think>I cannot tell.", 0.0),  # the letter only in the thinking earns nothing
    ("The answer is B and so", 0.0),  # truncated thinking
])
def test_correctness_reward_reads_the_answer_part_only(completion, expected):
    assert correctness_reward(completion, "B", OPTIONS) == expected


def test_length_penalty_is_for_the_generation_limit_only():
    assert length_penalty("still thinking", hit_limit=True) == -1.0
    assert length_penalty("short and unfinished", hit_limit=False) == 0.0
    assert length_penalty("x</think>\\boxed{B}", hit_limit=False) == 0.0


def test_trl_reward_functions_are_batched_and_named():
    format_fn, correctness_fn, length_fn = trl_reward_functions(max_completion_length=4, eos_token_id=9)
    completions = ["x</think>\\boxed{B}", "x</think>\\boxed{A}"]
    assert [f.__name__ for f in (format_fn, correctness_fn, length_fn)] == ["format", "correctness", "length"]
    assert format_fn(completions, options=[OPTIONS, OPTIONS]) == [1.0, 1.0]
    assert correctness_fn(completions, answer=["B", "B"], options=[OPTIONS, OPTIONS]) == [1.0, 0.0]
    assert length_fn(completions, completion_ids=[[1, 2, 3, 4], [1, 9]]) == [-1.0, 0.0]


def test_grpo_prompts_tokenize_to_the_served_prompt_with_one_bos(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    question = format_choice_question("A 30-year-old woman has fever and neck stiffness. Next step?", OPTIONS)
    prompt = grpo_prompt(tokenizer, question)
    check_prompt_tokens(tokenizer, prompt, question)
    ids = tokenizer(prompt)["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[-3:] == [128012, 128013, 198]


# Stated in the README: over 10 steps from the session's SFT adapter, the format reward's mean over
# the last 20% of steps exceeds its mean over the first 20% by at least 0.1.
FORMAT_MARGIN = 0.1


def test_grpo_learns_the_format_and_its_adapter_converts_and_serves(trained_run):
    import json
    import math

    import httpx

    from common.endpoint import LocalServer
    from tests.conftest import TINY, run_cli

    grpo = ["grpo.output_name=session-grpo", "grpo.max_steps=10", "train.report_to=none"]
    result = run_cli("train", "grpo", "--config", str(TINY), *trained_run["overrides"], *grpo)
    assert result.returncode == 0, result.stderr[-2000:]
    root = trained_run["root"].parent / "session-grpo"
    manifest = json.loads((root / "adapter" / "manifest.json").read_text())
    assert manifest["stage"] == "train" and manifest["method"] == "grpo"
    formats = manifest["results"]["format_reward"]
    assert len(formats) == 10
    n = math.ceil(0.2 * len(formats))
    first, last = sum(formats[:n]) / n, sum(formats[-n:]) / n
    assert last - first >= FORMAT_MARGIN, (first, last, formats)

    overrides = [o for o in trained_run["overrides"] if not o.startswith("name=")] + [
        "name=session-grpo", "convert.quant_types=[q4_k_m]", "convert.base_quant=null",
        "convert.parity.prompts=4", "convert.parity.max_tokens=64"]
    converted = run_cli("convert", "--config", str(TINY), *overrides)
    assert converted.returncode == 0, converted.stdout[-2000:] + converted.stderr[-2000:]
    with LocalServer(str(TINY), overrides, timeout_s=90) as server:
        reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60,
                           json={"messages": [{"role": "user", "content": "Fever and rash?"}], "max_tokens": 16})
    assert reply.status_code == 200 and "reasoning_content" in reply.json()["choices"][0]["message"]
