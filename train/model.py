"""Load the base model with a LoRA adapter: Unsloth on CUDA, transformers + PEFT elsewhere."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from common.config import RunConfig
from common.errors import UserError
from common.reasoning import PAD


@dataclass
class Placement:
    device: str  # "cuda" or "cpu"
    backend: str  # "unsloth" or "transformers"


def resolve_placement(config: RunConfig) -> Placement:
    """Decide device and backend before anything heavy is loaded; refuse impossible profiles."""
    import torch

    has_cuda = torch.cuda.is_available()
    wanted = config.train.device
    if wanted == "cuda" and not has_cuda:
        raise UserError(
            f"{config.source_file}: this profile trains on a CUDA GPU (train.device: cuda) and this "
            f"machine has none; `make demo` runs the offline CPU demo (configs/tiny-cpu.yaml)"
        )
    device = "cuda" if wanted == "cuda" or (wanted == "auto" and has_cuda) else "cpu"
    backend = config.train.backend
    if backend == "auto":
        backend = "unsloth" if device == "cuda" and importlib.util.find_spec("unsloth") else "transformers"
    if backend == "unsloth" and device != "cuda":
        raise UserError("train.backend: unsloth needs a CUDA GPU; use train.backend=transformers on CPU")
    if backend == "unsloth" and not importlib.util.find_spec("unsloth"):
        raise UserError("train.backend: unsloth, but unsloth is not installed (pip install -e '.[gpu]')")
    if config.lora.load_in_4bit and device != "cuda":
        raise UserError("lora.load_in_4bit (QLoRA) needs a CUDA GPU; set lora.load_in_4bit=false on CPU")
    return Placement(device=device, backend=backend)


def check_model_source(config: RunConfig) -> dict:
    """Read the base model's config (local folder or hub cache) and check max_seq_length against it."""
    from transformers import AutoConfig

    try:
        model_config = AutoConfig.from_pretrained(config.model.id, revision=config.model.revision)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        where = "not a local folder and not in the hub cache (HF_HUB_OFFLINE=1)" if offline else str(exc).splitlines()[0]
        raise UserError(f"model {config.model.id!r} cannot be loaded: {where}") from None
    limit = getattr(model_config, "max_position_embeddings", None)
    if limit is not None and config.model.max_seq_length > limit:
        raise UserError(
            f"model.max_seq_length {config.model.max_seq_length} is above {config.model.id}'s limit of {limit} tokens"
        )
    return {"model_type": model_config.model_type, "max_position_embeddings": limit,
            "commit": getattr(model_config, "_commit_hash", None)}


def load_tokenizer(model_id: str, revision: str | None):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_id, revision=revision)


def use_distinct_pad(tokenizer) -> None:
    """R1-Distill pads with EOS; a collator that masks padding would then mask the EOS the model
    must learn to emit. Pad with the model's own <｜▁pad▁｜> when the vocabulary has it."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        if PAD in tokenizer.get_vocab():
            tokenizer.pad_token = PAD
        else:
            raise UserError("the tokenizer pads with EOS and has no separate pad token to use instead")


def lora_kwargs(config: RunConfig) -> dict:
    lora = config.lora
    return dict(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules), use_rslora=lora.rslora, bias="none",
                modules_to_save=list(lora.modules_to_save) or None)


def load_with_unsloth(config: RunConfig):
    import torch
    from unsloth import FastLanguageModel

    from train.distributed import local_rank

    # under torchrun each process loads its own copy on its own GPU (Unsloth's DDP guide)
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=config.model.id,
        device_map={"": local_rank()},
        revision=config.model.revision,
        max_seq_length=config.model.max_seq_length,
        load_in_4bit=config.lora.load_in_4bit,
        dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )
    checkpointing = {"unsloth": "unsloth", "on": True, "off": False}[config.train.gradient_checkpointing]
    model = FastLanguageModel.get_peft_model(
        model, use_gradient_checkpointing=checkpointing, random_state=config.train.seed,
        max_seq_length=config.model.max_seq_length, **lora_kwargs(config),
    )
    return model, tokenizer


def load_with_transformers(config: RunConfig, device: str):
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    kwargs = {"revision": config.model.revision, "attn_implementation": "sdpa"}
    if device == "cuda":
        from train.distributed import local_rank

        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs.update(dtype=dtype, device_map={"": local_rank()})
        if config.lora.load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
    else:
        kwargs["dtype"] = torch.float32
    model = AutoModelForCausalLM.from_pretrained(config.model.id, **kwargs)
    checkpointing = config.train.gradient_checkpointing != "off"
    if config.lora.load_in_4bit:
        # non-reentrant checkpointing: the reentrant kind breaks DDP's gradient hooks
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora_kwargs(config)))
    return model
