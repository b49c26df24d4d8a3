"""Training rows: the prompt is token-for-token the served prompt; the loss covers the whole
assistant turn after it (think block, answer, EOS) and nothing before."""

import pytest
from transformers import AutoTokenizer

from common.chat_format import ChatFormat
from common.reasoning import EOS, THINK_CLOSE
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
    chat = ChatFormat.of_tokenizer(tokenizer)
    prompt, completion = chat.training_pair(QUESTION, REASONING, RESPONSE)
    assert chat.think_prefilled and chat.turn_end == EOS
    assert prompt.endswith("<think>\n") and completion.startswith(REASONING)
    assert completion == f"{REASONING}\n{THINK_CLOSE}\n\n{RESPONSE}{EOS}"


def test_the_real_template_would_have_dropped_the_reasoning(tokenizer):
    """Why training renders its own text: the chat template strips <think> from assistant turns."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION},
         {"role": "assistant", "content": f"<think>\n{REASONING}\n</think>\n\n{RESPONSE}"}], tokenize=False)
    assert REASONING not in text


def test_a_validation_set_with_no_row_left_trains_without_validation(tokenizer, tmp_path, capsys):
    import json

    from common.config import load_config
    from tests.conftest import TINY
    from train.data import prepare_sft_data

    def write(name, reasoning):
        rows = [{"Question": f"Question {i}?", "Complex_CoT": reasoning, "Response": "Short answer."} for i in range(5)]
        (tmp_path / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
        return tmp_path / name

    train, validation = write("train.jsonl", "Short reasoning."), write("validation.jsonl", "long reasoning " * 400)
    config = load_config(TINY, [f"data.source={train}", "data.replay=null",
                                f"data.validation_source={{source: {validation}, expected_rows: null}}"])
    prepared = prepare_sft_data(config.data, tokenizer, 512)
    assert prepared.validation is None and len(prepared.train) == 5
    assert "none of its 5 rows is left" in capsys.readouterr().out
    assert prepared.counts["validation_dropped_too_long"] == 5
