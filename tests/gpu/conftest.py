"""A small Llama with the real R1 vocabulary, saved once for the GPU tests that load it through Unsloth."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def small_llama_dir(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from common.layout import assets_dir

    folder = tmp_path_factory.mktemp("small-llama")
    settings = LlamaConfig(hidden_size=512, intermediate_size=1024, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=128, vocab_size=128256, max_position_embeddings=4096,
                           bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16")
    torch.manual_seed(0)
    LlamaForCausalLM(settings).to(torch.bfloat16).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(assets_dir() / "tiny-r1-llama" / name, folder / name)
    return folder
