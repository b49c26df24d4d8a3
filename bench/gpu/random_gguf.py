"""A Llama-3.1-8B-shaped GGUF of random quantized weights, written directly: seconds, where
building safetensors, converting to f16 and quantizing take minutes. For serving benchmarks on a
host without the model (speed does not depend on the weights' values). The quantization types
per tensor are llama.cpp's for the type named; the scales are fixed and small, so every weight is
finite. The tokenizer and chat template are copied from `--vocab` (any GGUF of the model's
family, such as the tiny model's); `--vocab-only` writes just those, a file small enough to carry.

    python -m bench.gpu.random_gguf --vocab FILE --out m8b-q4_k_m.gguf [--type q4_k_m] [--layers 32]
    python -m bench.gpu.random_gguf --vocab FILE --out vocab.gguf --vocab-only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common.layout import llama_cpp_source_dir

sys.path.insert(0, str(llama_cpp_source_dir() / "gguf-py"))  # the pinned converter's gguf-py

import gguf  # noqa: E402

SHAPE = dict(hidden=4096, ffn=14336, heads=32, kv_heads=8, vocab=128256, context=131072, rope_theta=500000.0)
BLOCK_BYTES = {gguf.GGMLQuantizationType.Q4_K: (256, 144), gguf.GGMLQuantizationType.Q6_K: (256, 210),
               gguf.GGMLQuantizationType.Q8_0: (32, 34)}
SCALE = np.float16(0.002).tobytes()


def more_bits(layer: int, layers: int) -> bool:
    """llama.cpp's Q4_K_M rule for attn_v and ffn_down: Q6_K in the first and last eighth, and
    every third layer between."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def random_blocks(rng, rows: int, cols: int, kind) -> np.ndarray:
    per_block, nbytes = BLOCK_BYTES[kind]
    data = rng.integers(0, 256, size=(rows, cols // per_block, nbytes), dtype=np.uint8)
    scale = np.frombuffer(SCALE, dtype=np.uint8)
    if kind == gguf.GGMLQuantizationType.Q6_K:
        data[..., -2:] = scale  # d comes last in a Q6_K block
    else:
        data[..., 0:2] = scale  # d (and Q4_K's dmin) come first
        if kind == gguf.GGMLQuantizationType.Q4_K:
            data[..., 2:4] = scale
    return data.reshape(rows, -1)


def copy_vocab(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    for field in reader.fields.values():
        if field.name.startswith("tokenizer."):
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)


def tensors(layers: int, kind_name: str):
    q = {"q4_k_m": gguf.GGMLQuantizationType.Q4_K, "q8_0": gguf.GGMLQuantizationType.Q8_0}[kind_name]
    big = gguf.GGMLQuantizationType.Q6_K if kind_name == "q4_k_m" else q
    h, f, kv = SHAPE["hidden"], SHAPE["ffn"], SHAPE["hidden"] // SHAPE["heads"] * SHAPE["kv_heads"]
    yield "token_embd.weight", (SHAPE["vocab"], h), q
    for i in range(layers):
        extra = big if more_bits(i, layers) else q
        yield f"blk.{i}.attn_norm.weight", (h,), None
        yield f"blk.{i}.attn_q.weight", (h, h), q
        yield f"blk.{i}.attn_k.weight", (kv, h), q
        yield f"blk.{i}.attn_v.weight", (kv, h), extra
        yield f"blk.{i}.attn_output.weight", (h, h), q
        yield f"blk.{i}.ffn_norm.weight", (h,), None
        yield f"blk.{i}.ffn_gate.weight", (f, h), q
        yield f"blk.{i}.ffn_up.weight", (f, h), q
        yield f"blk.{i}.ffn_down.weight", (h, f), extra
    yield "output_norm.weight", (h,), None
    yield "output.weight", (SHAPE["vocab"], h), big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--type", choices=("q4_k_m", "q8_0"), default="q4_k_m")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--vocab-only", action="store_true")
    args = parser.parse_args()
    writer = gguf.GGUFWriter(str(args.out), "llama")
    writer.add_name("random-8b")
    if not args.vocab_only:
        writer.add_context_length(SHAPE["context"])
        writer.add_embedding_length(SHAPE["hidden"])
        writer.add_block_count(args.layers)
        writer.add_feed_forward_length(SHAPE["ffn"])
        writer.add_head_count(SHAPE["heads"])
        writer.add_head_count_kv(SHAPE["kv_heads"])
        writer.add_rope_freq_base(SHAPE["rope_theta"])
        writer.add_rope_dimension_count(SHAPE["hidden"] // SHAPE["heads"])
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_vocab_size(SHAPE["vocab"])
        writer.add_file_type({"q4_k_m": gguf.LlamaFileType.MOSTLY_Q4_K_M, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[args.type])
    copy_vocab(gguf.GGUFReader(str(args.vocab)), writer)
    rng = np.random.default_rng(0)
    if not args.vocab_only:
        for name, shape, kind in tensors(args.layers, args.type):
            if kind is None:
                writer.add_tensor(name, np.ones(shape, dtype=np.float32))
            else:
                writer.add_tensor(name, random_blocks(rng, *shape, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
