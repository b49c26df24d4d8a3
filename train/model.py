"""Load the base model with a LoRA adapter: Unsloth on CUDA, transformers + PEFT elsewhere."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass

from common.chat_format import ChatFormat
from common.config import RunConfig
from common.errors import UserError
from train.base_model import TrainingBase

# train.gradient_checkpointing's names as Unsloth's get_peft_model and for_training take them
UNSLOTH_CHECKPOINTING = {"unsloth": "unsloth", "on": True, "off": False}


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
    return Placement(device=device, backend=backend)


def check_model_source(config: RunConfig, base: TrainingBase) -> dict:
    """The base model's identity for the manifest, with max_seq_length checked against its limit."""
    settings = json.loads((base.original.dir / "config.json").read_text())
    limit = settings.get("max_position_embeddings")
    if limit is not None and config.model.max_seq_length > limit:
        raise UserError(
            f"model.max_seq_length {config.model.max_seq_length} is above {config.model.id}'s limit of {limit} tokens"
        )
    return {"model_type": settings.get("model_type"), "max_position_embeddings": limit,
            "commit": base.original.commit}


def load_tokenizer(base: TrainingBase):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base.original.dir)


def load_tokenizer_only(config: RunConfig):
    """model.id's tokenizer without its weights: the files train/ reads model.id's tokenizer from."""
    from transformers import AutoTokenizer

    from common.hub import fetch_model
    from train.base_model import CONFIG_PATTERNS

    return AutoTokenizer.from_pretrained(fetch_model(config.model.id, config.model.revision, CONFIG_PATTERNS).dir)


def use_distinct_pad(tokenizer) -> None:
    """Many chat models pad with their end token (R1-Distill with EOS, SmolLM2 with <|im_end|>); a
    collator that masks padding would then mask the end token the model must learn to emit. Pad
    with a special token the training text never holds: the vocabulary's own pad token where it
    has one (R1-Distill: <｜▁pad▁｜>), else the first unused special token."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return
    chat = ChatFormat.of_tokenizer(tokenizer)
    used = chat.prompt("x") + chat.turn_end + (tokenizer.bos_token or "") + (tokenizer.eos_token or "")
    specials = [token.content for _, token in sorted(tokenizer.added_tokens_decoder.items()) if token.special]
    for candidate in sorted(specials, key=lambda text: "pad" not in text.lower()):
        if candidate not in used:
            tokenizer.pad_token = candidate
            return
    raise UserError("the tokenizer pads with its end token and has no other special token to pad with")


def lora_kwargs(config: RunConfig) -> dict:
    lora = config.lora
    return dict(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules), use_rslora=lora.rslora, bias="none",
                modules_to_save=list(lora.modules_to_save) or None)


def load_with_unsloth(config: RunConfig, base: TrainingBase):
    import torch
    from unsloth import FastLanguageModel

    from train.distributed import local_rank

    # under torchrun each process loads its own copy on its own GPU (Unsloth's DDP guide); the
    # folder resolved in train/base_model.py, as it is (no name mapping: that choice is made there)
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(base.weights.dir),
        use_exact_model_name=True,
        device_map={"": local_rank()},
        max_seq_length=config.model.max_seq_length,
        load_in_4bit=config.lora.load_in_4bit,
        dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )
    if config.train.packing:
        from train.packed_attention import use_varlen_for_packed_rows

        print(f"packed rows attend with {use_varlen_for_packed_rows()}")
    # auto arms the offloaded mode; train/batch_probe.py turns it off when the GPU fits that
    checkpointing = UNSLOTH_CHECKPOINTING.get(config.train.gradient_checkpointing, "unsloth")
    model = FastLanguageModel.get_peft_model(
        model, use_gradient_checkpointing=checkpointing, random_state=config.train.seed,
        max_seq_length=config.model.max_seq_length, **lora_kwargs(config),
    )
    return model, tokenizer


def switch_unsloth_checkpointing(model, setting: str) -> None:
    """Checkpointing of an Unsloth model after loading: "unsloth" (offloaded, as loaded) or "off".
    The trainer re-applies the recorded mode when training starts, so the record changes too."""
    from unsloth import FastLanguageModel

    mode = UNSLOTH_CHECKPOINTING[setting]
    model._unsloth_gradient_checkpointing = mode
    FastLanguageModel.for_training(model, use_gradient_checkpointing=mode)


def checkpointing_without_probe(setting: str, device: str) -> str:
    """The transformers backend does not probe: auto keeps activations on CPUs and recomputes them
    on GPUs; it has one checkpointing mode, so unsloth means on."""
    if setting == "auto":
        return "on" if device == "cuda" else "off"
    return "off" if setting == "off" else "on"


def keep_4bit_layers_differentiable(model) -> None:
    """bitsandbytes repacks a 4-bit layer's weight for its AVX512-BF16 CPU kernel the first time
    the layer runs in eval mode without gradients (the trainer's first evaluation), and from then
    on uses that kernel in training too; it has no backward, so gradients would no longer flow
    through the frozen 4-bit layers to the adapters below them. Keep the differentiable path."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def load_with_transformers(config: RunConfig, base: TrainingBase, device: str):
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    kwargs = {"attn_implementation": "sdpa"}
    if device == "cuda":
        from train.distributed import local_rank

        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs.update(dtype=dtype, device_map={"": local_rank()})
    else:
        # bitsandbytes runs 4-bit layers on the CPU too, so QLoRA (and its merge) is testable here
        dtype = torch.float32
        kwargs.update(dtype=dtype, device_map={"": "cpu"})
    if config.lora.load_in_4bit and not base.prequantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(base.weights.dir, **kwargs)
    if device == "cpu":
        keep_4bit_layers_differentiable(model)
    checkpointing = checkpointing_without_probe(config.train.gradient_checkpointing, device) == "on"
    if config.lora.load_in_4bit:
        # non-reentrant checkpointing: the reentrant kind breaks DDP's gradient hooks
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora_kwargs(config)))
    return model
