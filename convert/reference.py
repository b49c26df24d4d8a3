"""PyTorch models for the parity ladder, built from a base's weights as the adapter saw them.

The reference (a) is the base the adapter was trained against with the adapter applied by
PEFT; for a QLoRA adapter that base is the dequantized 4-bit weights (convert/base_weights.py),
held in a 16- or 32-bit model so that its scores compare with llama.cpp's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from convert.base_weights import BaseWeights, model_config
from convert.merge import merge_in_memory


def load_base_model(base: BaseWeights, dtype: torch.dtype, device: str):
    """The base's architecture (its config without the quantization block) holding its weights."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    settings = model_config(base.dir)
    config = AutoConfig.for_model(**settings)
    with no_init_weights(), torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = {name: tensor.to(device=device, dtype=dtype) for name, tensor in base.items(device)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    base.close()
    tied = {name for name in missing if getattr(config, "tie_word_embeddings", False) and name == "lm_head.weight"}
    if set(missing) - tied or unexpected:
        raise ValueError(f"{base.dir}: weights do not fit the architecture (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]})")
    if tied:
        model.tie_weights()
    return model.eval()


def base_with_adapter(base: BaseWeights, adapter_dir: Path, dtype: torch.dtype, device: str):
    from peft import PeftModel

    return PeftModel.from_pretrained(load_base_model(base, dtype, device), adapter_dir).eval()


def merged_in_memory(base: BaseWeights, adapter_dir: Path, dtype: torch.dtype, device: str):
    model = load_base_model(base, dtype, device)
    merge_in_memory(model, adapter_dir)
    return model
