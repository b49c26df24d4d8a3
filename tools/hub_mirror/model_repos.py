"""Repos under the real ids, in the real repos' file layouts, with synthetic content.

- deepseek-ai/DeepSeek-R1-Distill-Llama-8B: two safetensors shards with an index, config,
  generation config and a tokenizer whose chat template sits in tokenizer_config.json, as
  the real repo has them;
- unsloth/DeepSeek-R1-Distill-Llama-8B-unsloth-bnb-4bit: that model quantized by bitsandbytes
  through transformers (NF4, blocks of 64, double quantization, bf16 compute), the modules in
  `UNSLOTH_KEPT_IN_16_BIT` left in 16 bits, one model.safetensors: how Unsloth's dynamic 4-bit
  mirror is made and stored (its config.json's quantization_config names the kept modules);
- FreedomIntelligence/medical-o1-reasoning-SFT: README.md with the real `configs:` block and
  the four JSON files with the real field names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

R1_REPO = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
UNSLOTH_REPO = "unsloth/DeepSeek-R1-Distill-Llama-8B-unsloth-bnb-4bit"
DATASET_REPO = "FreedomIntelligence/medical-o1-reasoning-SFT"
# The skip list in the real mirror's config.json (Unsloth's default names plus the one decoder
# MLP its dynamic quantization keeps in 16 bits).
UNSLOTH_KEPT_IN_16_BIT = ["lm_head", "multi_modal_projector", "merger", "modality_projection", "model.layers.1.mlp"]
DATASET_FILES = {"en": "medical_o1_sft.json", "zh": "medical_o1_sft_Chinese.json",
                 "en_mix": "medical_o1_sft_mix.json", "zh_mix": "medical_o1_sft_mix_Chinese.json"}
R1_GENERATION_CONFIG = {"_from_model_config": True, "bos_token_id": 128000, "eos_token_id": 128001,
                        "do_sample": True, "temperature": 0.6, "top_p": 0.95}


def repo_dir(root: Path, kind: str, repo: str) -> Path:
    return root / kind / repo


def _tokenizer_files(source: Path, out: Path) -> None:
    """tokenizer.json, and tokenizer_config.json with the chat template inside it (the real repo
    has no chat_template.jinja)."""
    shutil.copy2(source / "tokenizer.json", out / "tokenizer.json")
    settings = json.loads((source / "tokenizer_config.json").read_text())
    template = source / "chat_template.jinja"
    if template.is_file():
        settings["chat_template"] = template.read_text()
    (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def write_original(source: Path, out: Path, shards: int = 2) -> None:
    """The 16-bit model in `shards` files named as the hub names them, with the index."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    index = source / "model.safetensors.index.json"
    files = (sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file()
             else ["model.safetensors"])
    handles = [safe_open(str(source / file), framework="pt") for file in files]
    located = [(name, handle) for handle in handles for name in handle.keys()]
    per_shard = -(-len(located) // shards)
    weight_map, total = {}, 0
    for number in range(shards):
        file = f"model-{number + 1:05d}-of-{shards:06d}.safetensors"
        part = {name: handle.get_tensor(name) for name, handle in located[number * per_shard:(number + 1) * per_shard]}
        save_file(part, str(out / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
        total += sum(t.numel() * t.element_size() for t in part.values())
        del part
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    config = json.loads((source / "config.json").read_text())
    config.update({"_name_or_path": R1_REPO, "torch_dtype": "bfloat16"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(R1_GENERATION_CONFIG, indent=2) + "\n")
    _tokenizer_files(source, out)
    (out / "LICENSE").write_text("MIT License (synthetic stand-in of the real repo's license file)\n")


def write_prequantized(source: Path, out: Path, kept_in_16_bit: list[str] = UNSLOTH_KEPT_IN_16_BIT,
                       device: str = "cpu") -> None:
    """`source` quantized to bitsandbytes NF4 as a pre-quantized repo (single model.safetensors)."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.bfloat16, llm_int8_skip_modules=kept_in_16_bit)
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=quantization, dtype=torch.bfloat16,
                                                 device_map={"": device})
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, max_shard_size="100GB")
    config = json.loads((out / "config.json").read_text())
    config["_name_or_path"] = R1_REPO
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(R1_GENERATION_CONFIG, indent=2) + "\n")
    _tokenizer_files(source, out)
    settings = json.loads((out / "tokenizer_config.json").read_text())
    special = {key: settings[key] for key in ("bos_token", "eos_token", "pad_token") if key in settings}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n")


def dataset_card(license_name: str = "apache-2.0") -> str:
    configs = "".join(f"- config_name: {name}\n  data_files: {file}\n" for name, file in DATASET_FILES.items())
    return ("---\n"
            f"license: {license_name}\n"
            "task_categories:\n- question-answering\n- text-generation\n"
            "language:\n- en\n- zh\n"
            "tags:\n- medical\n- biology\n"
            f"configs:\n{configs}"
            "---\n\n"
            "Synthetic stand-in of the data set's repo: the real file layout and fields, the project's own rows.\n")


def write_dataset(out: Path, rows_by_config: dict[str, list[dict]]) -> None:
    """README.md with the configs block, and one JSON array per config (Question, Complex_CoT, Response)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(dataset_card())
    for name, file in DATASET_FILES.items():
        rows = [{"Question": r["Question"], "Complex_CoT": r["Complex_CoT"], "Response": r["Response"]}
                for r in rows_by_config[name]]
        (out / file).write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
