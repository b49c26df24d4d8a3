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


def test_chunked_log_probs_entropy_and_top1_equal_a_full_softmax():
    from train.chunked_loss import CHUNK_ROWS, TrlChunkedLogProb

    generator = torch.Generator().manual_seed(0)
    rows = CHUNK_ROWS + 37  # two chunks, the last one partial
    hidden = torch.randn(rows, 16, generator=generator)
    weight = torch.randn(300, 16, generator=generator)
    targets = torch.randint(0, 300, (rows,), generator=generator)
    full = torch.log_softmax(hidden @ weight.T / 0.7, dim=-1)
    expected = full.gather(1, targets[:, None]).squeeze(1)
    logp, entropy, _, _, top1 = TrlChunkedLogProb.apply(hidden, weight, None, targets, 0.7, 0,
                                                        outputs=("entropy", "is_top1"))
    assert torch.allclose(logp, expected, atol=1e-5)
    assert torch.allclose(entropy, -(full.exp() * full).sum(-1), atol=1e-5)
    assert torch.equal(top1, full.argmax(-1) == targets)
    bare, *unused = TrlChunkedLogProb.apply(hidden, weight, None, targets, 0.7, 0, outputs=())
    assert torch.allclose(bare, expected, atol=1e-5) and unused == [None, None, None, None]
