"""The offline stand-in: real Llama-3 vocabulary, R1-Distill special tokens and chat template."""

import json
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer

from common import reasoning
from common.layout import LLAMA_BPE_VOCAB, llama_cpp_source_dir


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def vocab_cases():
    models = llama_cpp_source_dir() / "models"
    inputs = (models / f"{LLAMA_BPE_VOCAB}.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    outputs = (models / f"{LLAMA_BPE_VOCAB}.out").read_text(encoding="utf-8").split("\n")
    return list(zip(inputs, outputs, strict=False))


def test_tokenizer_matches_every_case_of_llama_cpp_vocab_test(tokenizer):
    cases = vocab_cases()
    assert len(cases) >= 40
    for text, expected in cases:
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == [int(t) for t in expected.split()], text


def test_special_tokens_sit_at_the_real_models_ids(tokenizer, tiny_model):
    assert len(tokenizer) == 128256
    for text, token_id in reasoning.SPECIAL_TOKEN_IDS.items():
        assert tokenizer.convert_tokens_to_ids(text) == token_id
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == [token_id]
    assert (tokenizer.bos_token, tokenizer.eos_token) == (reasoning.BOS, reasoning.EOS)
    config = AutoConfig.from_pretrained(tiny_model)
    assert (config.vocab_size, config.bos_token_id, config.eos_token_id) == (128256, 128000, 128001)
    assert config.hidden_size % 256 == 0 and config.intermediate_size % 256 == 0


def test_chat_template_renders_the_r1_turns_with_one_bos(tokenizer):
    messages = [{"role": "user", "content": "Fever and a stiff neck?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<｜begin▁of▁sentence｜><｜User｜>Fever and a stiff neck?<｜Assistant｜><think>\n"
    assert text == reasoning.render_prompt(messages)
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    assert ids[:2] == [128000, 128011] and ids.count(128000) == 1
    assert ids[-3:] == [128012, 128013, 198]


def test_template_drops_the_think_block_of_earlier_answers(tokenizer):
    messages = [{"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "<think>\nsecret\n</think>\n\nA1"},
                {"role": "user", "content": "Q2"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "secret" not in text and "A1<｜end▁of▁sentence｜><｜User｜>Q2" in text
    assert text == reasoning.render_prompt(messages)


def test_loads_like_the_hub_model(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "llama"
    build = json.loads((tiny_model / "BUILD.json").read_text())
    assert build["shape"] == "tiny"


def test_text_head_leaves_only_tokens_whose_any_sequence_is_text(tokenizer, tiny_model):
    import random
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from build_tiny_model import non_text_token_ids

    banned = set(non_text_token_ids(tiny_model))
    ids = reasoning.SPECIAL_TOKEN_IDS
    assert {ids[reasoning.EOS], ids[reasoning.BOS], 128255} <= banned
    assert tokenizer.convert_tokens_to_ids("¡") in banned  # the byte 0xA1 alone
    assert tokenizer.convert_tokens_to_ids("the") not in banned
    assert 1000 < len(banned) < 3000
    allowed = [i for i in range(len(tokenizer)) if i not in banned]
    sample = random.Random(0).choices(allowed, k=4000)
    assert "\ufffd" not in tokenizer.decode(sample)
