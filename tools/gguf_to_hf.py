"""Make a GGUF model into a Hugging Face model folder that trains and converts like a hub model.

    python -m tools.gguf_to_hf GGUF OUT_DIR

The weights are read by transformers' GGUF loader (dequantized to float32) and saved as
safetensors without the loader's quantization marker; the tokenizer is rebuilt from the file's
vocabulary with its named pre-tokenizer and its own special ids (tools/gguf_tokenizer.py),
the chat template is the file's. `BUILD.json` records the source file and its sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.artifacts import sha256_file, staged_dir
from common.errors import UserError, exit_on_user_error
from tools.gguf_tokenizer import GgufVocab, build_tokenizer


def gguf_to_hf(gguf: Path, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    if not gguf.is_file():
        raise UserError(f"GGUF file not found: {gguf}")
    vocab = GgufVocab.read(gguf)
    tokenizer = build_tokenizer(vocab)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are plain float32 tensors now; saving must not mark them GGUF
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.bos_token_id, model.config.eos_token_id = vocab.bos_id, vocab.eos_id
    model.config.pad_token_id = vocab.pad_id
    model.generation_config = GenerationConfig(bos_token_id=vocab.bos_id, eos_token_id=vocab.eos_id,
                                               pad_token_id=vocab.pad_id)
    with staged_dir(out) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "BUILD.json").write_text(json.dumps({
            "source": gguf.name, "sha256": sha256_file(gguf), "pre_tokenizer": vocab.pre,
            "bos_token_id": vocab.bos_id, "eos_token_id": vocab.eos_id, "pad_token_id": vocab.pad_id,
            "add_bos_token": vocab.add_bos}, indent=2) + "\n")
    return out


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    print(f"wrote {gguf_to_hf(args.gguf, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
