"""Merge a LoRA adapter into its base model one tensor at a time.

PEFT's merge_and_unload needs the whole model in memory (16 GB for an 8B in bf16, more while
merging); this reads each base tensor from its memory-mapped shard, adds the adapter's update,
and writes output shards of at most `max_shard_bytes`, so peak RAM stays near one output shard.
Which weights the update is added to (as trained against, or the 16-bit original of a QLoRA
adapter) is convert/base_weights.py's business.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import Progress
from safetensors import safe_open
from safetensors.torch import save_file

from common.errors import UserError
from convert.base_weights import BaseWeights, model_config

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])(?:\.default)?\.weight$")
SAVED_KEY = re.compile(r"^base_model\.model\.(?P<name>.+)$")
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "tokenizer.model")


@dataclass(frozen=True)
class LoraUpdate:
    a: torch.Tensor
    b: torch.Tensor
    scale: float

    def delta(self) -> torch.Tensor:
        return (self.b.float() @ self.a.float()) * self.scale


def read_adapter(adapter_dir: Path) -> tuple[dict[str, LoraUpdate], dict[str, torch.Tensor], dict]:
    """LoRA updates keyed by the base weight they apply to, whole tensors that replace base
    tensors (modules_to_save, e.g. a trained lm_head), and the adapter config."""
    config_path = adapter_dir / "adapter_config.json"
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise UserError(f"{adapter_dir} lacks adapter_config.json or adapter_model.safetensors: not a finished adapter")
    config = json.loads(config_path.read_text())
    if config.get("peft_type") != "LORA":
        raise UserError(f"{adapter_dir}: only LoRA adapters can be merged (found {config.get('peft_type')})")
    if config.get("use_dora"):
        raise UserError(f"{adapter_dir}: DoRA adapters are not supported by the shard-wise merge")
    if config.get("fan_in_fan_out"):
        raise UserError(f"{adapter_dir}: fan_in_fan_out adapters are not supported")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / (rank ** 0.5) if config.get("use_rslora") else alpha / rank
    saved_modules = set(config.get("modules_to_save") or [])
    parts: dict[str, dict[str, torch.Tensor]] = {}
    replacements: dict[str, torch.Tensor] = {}
    with safe_open(str(weights_path), framework="pt") as handle:
        for key in handle.keys():
            match = LORA_KEY.match(key)
            if match is not None:
                parts.setdefault(match["module"] + ".weight", {})[match["part"]] = handle.get_tensor(key)
                continue
            saved = SAVED_KEY.match(key)
            if saved is None or saved["name"].split(".")[-2] not in saved_modules:
                raise UserError(f"{adapter_dir}: unexpected tensor {key!r}")
            replacements[saved["name"]] = handle.get_tensor(key)
    updates = {}
    for weight_name, pair in parts.items():
        if set(pair) != {"A", "B"}:
            raise UserError(f"{adapter_dir}: {weight_name} has lora_{''.join(pair)} but not both A and B")
        updates[weight_name] = LoraUpdate(pair["A"], pair["B"], scale)
    if not updates and not replacements:
        raise UserError(f"{adapter_dir}: the adapter holds no LoRA weights")
    return updates, replacements, config


def updated_weight(key: str, base: torch.Tensor, update: LoraUpdate) -> torch.Tensor:
    """base + the adapter's update, in float32 on the CPU."""
    delta = update.delta()
    if delta.shape != base.shape:
        raise UserError(f"adapter update for {key} has shape {tuple(delta.shape)}, "
                        f"base weight {tuple(base.shape)}: adapter and base model differ")
    return base.float().cpu() + delta


def merge_adapter(
    base: BaseWeights,
    adapter_dir: Path,
    out_dir: Path,
    dtype: str,
    max_shard_bytes: int = 2 * 1024**3,
) -> dict:
    """Write merged safetensors shards and the index into `out_dir`; returns figures for the manifest."""
    updates, replacements, adapter_config = read_adapter(adapter_dir)
    target = DTYPES[dtype]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    names = base.names()
    total = len(names)
    remaining = set(updates) | set(replacements)
    weight_map: dict[str, str] = {}
    shard: dict[str, torch.Tensor] = {}
    shard_bytes, shard_count, total_bytes = 0, 0, 0
    staged_shards: list[str] = []

    def flush() -> None:
        nonlocal shard, shard_bytes, shard_count
        if not shard:
            return
        shard_count += 1
        name = f"model-{shard_count:05d}.safetensors"
        save_file(shard, str(out_dir / name), metadata={"format": "pt"})
        staged_shards.append(name)
        for key in shard:
            weight_map[key] = name
        shard, shard_bytes = {}, 0

    with Progress(transient=True) as progress:
        task = progress.add_task("merging", total=total)
        for key in names:
            tensor = base.read(key, device)
            update = updates.get(key)
            if key in replacements:
                replacement = replacements[key]
                if replacement.shape != tensor.shape:
                    raise UserError(f"adapter's {key} has shape {tuple(replacement.shape)}, base "
                                    f"{tuple(tensor.shape)}: adapter and base model differ")
                tensor = replacement.to(target)
                remaining.discard(key)
            elif update is not None:
                tensor = updated_weight(key, tensor, update).to(target)
                remaining.discard(key)
            elif tensor.is_floating_point():
                tensor = tensor.to(target)
            size = tensor.numel() * tensor.element_size()
            if shard and shard_bytes + size > max_shard_bytes:
                flush()
            shard[key] = tensor.contiguous()
            shard_bytes += size
            total_bytes += size
            progress.advance(task)
    base.close()
    flush()
    if remaining:
        raise UserError(f"adapter weights for {sorted(remaining)[:3]} have no counterpart in {base.dir}: "
                        f"adapter and base model differ")
    if shard_count == 1:
        (out_dir / staged_shards[0]).rename(out_dir / "model.safetensors")
    else:
        index = {"metadata": {"total_size": total_bytes}, "weight_map": dict(sorted(weight_map.items()))}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return {"tensors": total, "merged_tensors": len(updates), "replaced_tensors": sorted(replacements),
            "shards": shard_count, "tensor_bytes": total_bytes,
            "dtype": dtype, "base": base.description, "lora_rank": adapter_config["r"],
            "lora_alpha": adapter_config["lora_alpha"], "use_rslora": bool(adapter_config.get("use_rslora"))}


def copy_model_files(base_dir: Path, adapter_dir: Path, out_dir: Path, dtype: str, sampling: dict) -> None:
    """config, tokenizer and chat template from the adapter (as trained) or the base, and a
    generation config carrying the recommended sampling, which the GGUF converter embeds. The
    config loses any 4-bit quantization block: the merged weights are 16-bit."""
    for name in MODEL_FILES:
        source = adapter_dir / name if (adapter_dir / name).is_file() else base_dir / name
        if source.is_file():
            shutil.copy2(source, out_dir / name)
    config = model_config(out_dir)
    config["torch_dtype"] = dtype
    config["dtype"] = dtype
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation_path = out_dir / "generation_config.json"
    generation = json.loads(generation_path.read_text()) if generation_path.is_file() else {}
    generation.update({"do_sample": True, "bos_token_id": config.get("bos_token_id"),
                       "eos_token_id": config.get("eos_token_id"), **sampling})
    generation_path.write_text(json.dumps(generation, indent=2) + "\n")


def merge_in_memory(model, adapter_dir: Path) -> None:
    """Apply the adapter to a loaded model's weights in place (for comparing merge bases without
    writing a second merged model)."""
    updates, replacements, _ = read_adapter(adapter_dir)
    device = next(model.parameters()).device
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, update in updates.items():
            weight = parameters[name]
            merged = updated_weight(name, weight.data, update)
            weight.data = merged.to(device=device, dtype=weight.dtype)
        for name, tensor in replacements.items():
            parameters[name].data = tensor.to(device=device, dtype=parameters[name].dtype)
