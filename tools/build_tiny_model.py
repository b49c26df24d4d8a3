"""Build the offline stand-in for DeepSeek-R1-Distill-Llama-8B: same tokenizer, same chat
template, same architecture, random weights and a small shape.

The tokenizer comes from llama.cpp's vocab-only `ggml-vocab-llama-bpe.gguf` (the real Llama-3
vocabulary and merges); R1-Distill's special tokens replace the reserved ones at the ids the
real model uses. The chat template is the real one from llama.cpp's template folder.

    python tools/build_tiny_model.py [--out DIR] [--shape tiny|8b] [--device cpu|cuda] [--text-head]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import reasoning  # noqa: E402
from common.artifacts import staged_dir  # noqa: E402
from common.layout import LLAMA_BPE_VOCAB, R1_TEMPLATE_NAME, llama_cpp_source_dir, tiny_model_dir  # noqa: E402

# Llama-3's pre-tokenizer split (tokenizer.json of Meta-Llama-3); GGUF files store only its name.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Special tokens of R1-Distill-Llama and whether the tokenizer flags them special. The turn
# and think markers are not "special" there, so decoders and llama.cpp print them as text.
R1_TOKENS = {
    reasoning.BOS: True,
    reasoning.EOS: True,
    reasoning.USER: False,
    reasoning.ASSISTANT: False,
    reasoning.THINK_OPEN: False,
    reasoning.THINK_CLOSE: False,
    reasoning.PAD: True,
}

SHAPES = {
    # hidden and intermediate are multiples of 256 so every k-quant applies to every tensor.
    "tiny": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8),
}


TINY_HEAD_STD = 0.15


def read_vocab(vocab_gguf: Path) -> tuple[list[str], list[str], int]:
    """Tokens, merges, and the id of the first control token (where the added tokens start)."""
    from gguf import GGUFReader, TokenType

    reader = GGUFReader(str(vocab_gguf))

    def strings(key: str) -> list[str]:
        field = reader.fields[key]
        return [bytes(field.parts[index]).decode("utf-8") for index in field.data]

    types_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(types_field.parts[index][0]) for index in types_field.data]
    first_control = types.index(TokenType.CONTROL)
    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), first_control


def build_tokenizer(tokens: list[str], merges: list[str], first_added: int, template: str, out: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = {reasoning.SPECIAL_TOKEN_IDS[text]: text for text in R1_TOKENS}
    tokens = [specials.get(index, token) for index, token in enumerate(tokens)]
    vocab = {token: index for index, token in enumerate(tokens[:first_added])}
    pairs = [tuple(merge.split(" ", 1)) for merge in merges]

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=True, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    added = []
    for index in range(first_added, len(tokens)):
        text = tokens[index]
        special = R1_TOKENS.get(text, True)
        added.append(AddedToken(text, special=special, normalized=False, lstrip=False, rstrip=False))
    tokenizer.add_tokens(added)
    bos_id = reasoning.SPECIAL_TOKEN_IDS[reasoning.BOS]
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(
            single=f"{reasoning.BOS}:0 $A:0",
            pair=f"{reasoning.BOS}:0 $A:0 {reasoning.BOS}:1 $B:1",
            special_tokens=[(reasoning.BOS, bos_id)],
        ),
    ])
    if tokenizer.get_vocab_size() != len(tokens):
        raise SystemExit(f"tokenizer has {tokenizer.get_vocab_size()} ids, expected {len(tokens)}")

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=reasoning.BOS,
        eos_token=reasoning.EOS,
        # As in the real tokenizer_config.json: pad is EOS. The train stage replaces it with
        # <｜▁pad▁｜> so that masking padding never masks the EOS the model must learn.
        pad_token=reasoning.EOS,
        model_max_length=16384,
        clean_up_tokenization_spaces=False,
        chat_template=template,
    )
    wrapped.save_pretrained(out)


def non_text_token_ids(tokenizer_dir: Path) -> list[int]:
    """Ids whose piece is not UTF-8 text on its own (byte fragments), and every special token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    # the byte-level decoder replaces a fragment by U+FFFD
    return [i for i in range(len(tokenizer)) if i in special or "\ufffd" in tokenizer.decode([i])]


def build_model(shape: str, device: str, out: Path, text_head: bool = False, layers: int | None = None) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=128256,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        bos_token_id=reasoning.SPECIAL_TOKEN_IDS[reasoning.BOS],
        eos_token_id=reasoning.SPECIAL_TOKEN_IDS[reasoning.EOS],
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        torch_dtype="bfloat16",
        **{**SHAPES[shape], **({"num_hidden_layers": layers} if layers else {})},
    )
    torch.manual_seed(20261123)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    if shape == "tiny":
        # At width 256 a head drawn at the usual std 0.02 caps every logit margin near 5 (|h| = 16
        # after RMSNorm, |w| = 0.32), so no adapter could make the model confident and the demo
        # could not show learning. A wider head keeps the model random but learnable.
        with torch.no_grad():
            model.lm_head.weight.normal_(0.0, TINY_HEAD_STD)
    if text_head:
        # Greedy decoding of random weights repeats a byte fragment on most prompts, and
        # llama-cpp-python's stream then re-decodes an ever longer tail at every token (it stalled
        # the serve benchmark on the H200). A zero row scores 0, below the best random logit, so
        # such tokens (and EOS) are never the argmax; the head keeps its shape and its cost.
        with torch.no_grad():
            model.lm_head.weight[non_text_token_ids(out)] = 0
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
        do_sample=True, temperature=0.6, top_p=0.95,
    )
    model.save_pretrained(out, max_shard_size="5GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", type=Path, default=None,
                        help="folder with models/ of llama.cpp (default: the pinned sdist's)")
    parser.add_argument("--tokenizer-from", type=Path, default=None,
                        help="copy the tokenizer of an already built model folder instead")
    parser.add_argument("--text-head", action="store_true",
                        help="zero the output rows of byte fragments and special tokens, so that greedy "
                             "output is text (for serving benchmarks on random weights)")
    parser.add_argument("--layers", type=int, default=None,
                        help="fewer decoder layers than the shape's (every layer keeps the real width)")
    args = parser.parse_args()
    out = args.out or tiny_model_dir()
    source = args.source or llama_cpp_source_dir()

    with staged_dir(out) as staging:
        if args.tokenizer_from:
            from transformers import AutoTokenizer

            AutoTokenizer.from_pretrained(args.tokenizer_from).save_pretrained(staging)
        else:
            vocab = source / "models" / LLAMA_BPE_VOCAB
            template_file = source / "models" / "templates" / R1_TEMPLATE_NAME
            for needed in (vocab, template_file):
                if not needed.is_file():
                    raise SystemExit(f"missing {needed}: run `make setup` first")
            tokens, merges, first_added = read_vocab(vocab)
            build_tokenizer(tokens, merges, first_added, template_file.read_text(encoding="utf-8"), staging)
        build_model(args.shape, args.device, staging, args.text_head, args.layers)
        (staging / "BUILD.json").write_text(json.dumps({
            "what": "random-weight stand-in for deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
            "shape": args.shape, **SHAPES[args.shape], **({"num_hidden_layers": args.layers} if args.layers else {}),
            "text_head": args.text_head,
        }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
