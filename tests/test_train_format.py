"""Training rows: the prompt is token-for-token the served prompt; the loss covers the whole
assistant turn after it (think block, answer, EOS) and nothing before."""

import pytest
from transformers import AutoTokenizer

from common.reasoning import EOS, THINK_CLOSE, render_training_pair
from train.data import tokenize_row

QUESTION = "A 67-year-old man has sudden painless loss of vision in one eye. What is the diagnosis?"
REASONING = "Okay, sudden painless monocular loss... a cherry-red spot suggests central retinal artery occlusion."
RESPONSE = "Central retinal artery occlusion."


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def test_training_prompt_tokens_equal_the_served_prompt_tokens(tokenizer):
    row = tokenize_row(tokenizer, QUESTION, REASONING, RESPONSE)
    served = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True)
    served_ids = served["input_ids"]
    prompt_len = row["completion_mask"].index(1)
    assert row["input_ids"][:prompt_len] == served_ids


def test_loss_covers_the_think_block_answer_and_eos_only(tokenizer):
    row = tokenize_row(tokenizer, QUESTION, REASONING, RESPONSE)
    trained = [t for t, m in zip(row["input_ids"], row["completion_mask"], strict=True) if m]
    text = tokenizer.decode(trained)
    assert text.startswith("Okay, sudden painless")
    assert THINK_CLOSE in text and text.endswith(RESPONSE + EOS)
    assert trained[-1] == tokenizer.eos_token_id
    assert tokenizer.bos_token_id not in trained
    prompt, completion = render_training_pair(QUESTION, REASONING, RESPONSE)
    assert prompt.endswith("<think>\n") and completion.startswith(REASONING)


def test_the_real_template_would_have_dropped_the_reasoning(tokenizer):
    """Why training renders its own text: the chat template strips <think> from assistant turns."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION},
         {"role": "assistant", "content": f"<think>\n{REASONING}\n</think>\n\n{RESPONSE}"}], tokenize=False)
    assert REASONING not in text
