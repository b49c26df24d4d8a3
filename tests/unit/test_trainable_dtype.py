"""A run without mixed precision trains its trainable weights in float32, whatever TRL cast them to."""

from types import SimpleNamespace

import torch

from train.trainer import keep_trainable_weights_in_run_dtype


def _model_as_trl_leaves_a_4bit_one() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))
    model[0].requires_grad_(False)  # the frozen base stays as loaded
    model[1].to(torch.bfloat16)  # the trainable copy of the LM head, cast by TRL
    return model


def test_a_float32_run_trains_in_float32_and_its_forward_runs():
    model = _model_as_trl_leaves_a_4bit_one()
    keep_trainable_weights_in_run_dtype(model, SimpleNamespace(bf16=False, fp16=False))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model(torch.randn(2, 4)).dtype == torch.float32


def test_a_mixed_precision_run_keeps_what_trl_chose():
    model = _model_as_trl_leaves_a_4bit_one()
    keep_trainable_weights_in_run_dtype(model, SimpleNamespace(bf16=True, fp16=False))
    assert model[1].weight.dtype == torch.bfloat16 and model[0].weight.dtype == torch.float32
