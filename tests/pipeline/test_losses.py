"""Packing is contamination-free and the CPU loss equals the model's own loss."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from train.chunked_loss import causal_lm_loss


@pytest.fixture(scope="module")
def model(tiny_model):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM",
                        init_lora_weights=False, modules_to_save=["lm_head"])
    return get_peft_model(base, config)


def packed_batch(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 100000, (1, sum(lengths)), generator=generator)
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    labels = ids.clone()
    labels[positions == 0] = -100
    labels[:, ::5] = -100
    return {"input_ids": ids, "position_ids": positions, "labels": labels}


def test_packed_rows_do_not_attend_across_their_boundaries(model):
    lengths = [70, 50, 90]
    batch = packed_batch(lengths)
    packed = causal_lm_loss(model, batch).item()
    total = count = 0.0
    start = 0
    for n in lengths:
        piece = {k: v[:, start:start + n] for k, v in batch.items()}
        piece["position_ids"] = torch.arange(n)[None]
        labelled = (piece["labels"][:, 1:] != -100).sum().item()
        total += causal_lm_loss(model, piece).item() * labelled
        count += labelled
        start += n
    assert packed == pytest.approx(total / count, abs=1e-5)


def test_chunked_loss_and_gradients_equal_the_models_own(model):
    batch = packed_batch([120, 80], seed=1)
    reference = model(**batch, use_cache=False).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    mine = causal_lm_loss(model, batch)
    mine.backward()
    assert mine.item() == pytest.approx(reference.item(), abs=1e-5)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            error = (parameter.grad - expected[name]).norm() / (expected[name].norm() + 1e-12)
            assert error < 1e-4, name
    model.zero_grad()

