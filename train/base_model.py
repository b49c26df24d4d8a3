"""Which weights the adapter is trained against, decided and recorded before anything is loaded.

With QLoRA, Unsloth does not load the repo it is asked for: it maps a known model id to its own
pre-quantized mirror (for DeepSeek-R1-Distill-Llama-8B a dynamic 4-bit repo that keeps some
modules in 16 bits) and drops the requested revision. Done silently, the adapter would later be
merged onto weights it never saw. Here the mapping is asked for explicitly (model.prequantized:
auto), the mirror is fetched at a known commit, loaded as it is (Unsloth's own mapping off), and
the adapter manifest records repo, commit and which modules were 4-bit, so convert/ can merge
onto exactly those weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from common.config import RunConfig
from common.errors import UserError
from common.hub import ModelSnapshot, fetch_model
from common.manifests import AdapterManifest

CONFIG_PATTERNS = ["*.json", "*.jinja", "tokenizer*"]


@dataclass(frozen=True)
class TrainingBase:
    original: ModelSnapshot  # model.id: its config and tokenizer (its weights only when trained on)
    weights: ModelSnapshot  # the model that is loaded and trained against
    prequantized: bool  # weights stores 4-bit tensors (a bitsandbytes-quantized repo)

    def config(self) -> dict:
        return json.loads((self.weights.dir / "config.json").read_text())


def unsloth_prequantized_repo(model_id: str) -> str | None:
    """The pre-quantized repo Unsloth loads for `model_id` in 4 bits, as its mapper names it
    (spelled as the mapper's key, since the lookup itself returns a lower-cased id)."""
    try:
        from unsloth.models import mapper
    except ImportError:
        return None
    mapped = mapper.FLOAT_TO_INT_MAPPER.get(model_id) or mapper.FLOAT_TO_INT_MAPPER.get(model_id.lower())
    if not mapped:
        return None
    spelled = {key.lower(): key for key in getattr(mapper, "__INT_TO_FLOAT_MAPPER", {})}
    return spelled.get(mapped.lower(), mapped)


def prequantized_repo(config: RunConfig, backend: str) -> str | None:
    if not config.lora.load_in_4bit or config.model.prequantized == "none":
        return None
    if config.model.prequantized == "auto":
        return unsloth_prequantized_repo(config.model.id) if backend == "unsloth" else None
    return config.model.prequantized


def resolve_training_base(config: RunConfig, backend: str) -> TrainingBase:
    original = fetch_model(config.model.id, config.model.revision, patterns=CONFIG_PATTERNS)
    repo = prequantized_repo(config, backend)
    if repo is None:
        weights = fetch_model(config.model.id, original.commit or config.model.revision)
        stored_4bit = _stores_4bit(weights)
        if stored_4bit and not config.lora.load_in_4bit:
            raise UserError(f"{config.model.id} holds 4-bit weights; LoRA on them needs lora.load_in_4bit=true")
        return TrainingBase(original, weights, stored_4bit)
    weights = fetch_model(repo, config.model.prequantized_revision)
    if not _stores_4bit(weights):
        raise UserError(f"model.prequantized {repo!r} is not a bitsandbytes 4-bit model (its config.json has no "
                        f"4-bit quantization_config); set model.prequantized=none to quantize {config.model.id}")
    _require_same_architecture(original, weights)
    return TrainingBase(original, weights, True)


def training_base_of(manifest: AdapterManifest, config: RunConfig) -> TrainingBase:
    """The weights an earlier adapter was trained against, from its manifest (GRPO continues an
    SFT adapter on exactly those)."""
    record = manifest.base_model.require_trained_against("train the SFT adapter again")
    original = fetch_model(config.model.id, manifest.base_model.commit or config.model.revision,
                           patterns=CONFIG_PATTERNS)
    weights = fetch_model(record.source, record.commit)
    return TrainingBase(original, weights, record.quantized_in == "repo")


def _stores_4bit(snapshot: ModelSnapshot) -> bool:
    quantization = json.loads((snapshot.dir / "config.json").read_text()).get("quantization_config") or {}
    return quantization.get("quant_method") == "bitsandbytes" and bool(quantization.get("load_in_4bit"))


def _require_same_architecture(original: ModelSnapshot, weights: ModelSnapshot) -> None:
    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size")
    first = json.loads((original.dir / "config.json").read_text())
    second = json.loads((weights.dir / "config.json").read_text())
    differ = [key for key in keys if first.get(key) != second.get(key)]
    if differ:
        raise UserError(f"{weights.source} is not a quantized {original.source}: {', '.join(differ)} differ")


def trained_against(base: TrainingBase, model) -> dict:
    """The record convert/ merges by: repo, commit and, for 4-bit training, which modules the
    loaded model held in 4 bits and with which quantization settings."""
    quantized, settings = _four_bit_modules(model)
    record = base.weights.as_record()
    record["quantized_in"] = ("repo" if base.prequantized else "load") if quantized else None
    if quantized:
        record["quantized_modules"] = quantized
        record["quantization"] = settings
        kept = json.loads((base.weights.dir / "config.json").read_text()).get("quantization_config", {})
        record["kept_in_16_bit"] = kept.get("llm_int8_skip_modules") if base.prequantized else None
    return record


def _four_bit_modules(model) -> tuple[list[str], dict]:
    """Names (as in the base's state dict) of the modules held as bitsandbytes 4-bit layers."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return [], {}
    names, settings = [], {}
    for name, module in model.named_modules():
        if isinstance(module, Linear4bit):
            clean = name.removeprefix("base_model.model.").removesuffix(".base_layer")
            names.append(clean)
            state = getattr(module.weight, "quant_state", None)
            if state is not None:
                settings = {"quant_type": state.quant_type, "blocksize": state.blocksize,
                            "double_quant": bool(state.nested),
                            "compute_dtype": str(getattr(module, "compute_dtype", None)).removeprefix("torch.")}
    return sorted(set(names)), settings
