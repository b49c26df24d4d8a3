"""A Hugging Face tokenizer rebuilt from a GGUF file's vocabulary, as llama.cpp tokenizes.

A GGUF stores tokens, merges, token types and special ids, but its pre-tokenizer only by name
(`tokenizer.ggml.pre`). transformers' own GGUF import guesses both: it gives the Llama-3
vocabulary GPT-2's pre-tokenizer (numbers and punctuation split differently from llama.cpp),
and for SmolLM2-135M-Instruct's GGUF it names <|im_start|> as the end-of-sequence token, so
generation would not stop at <|im_end|>. Here the pre-tokenizer is rebuilt from the name, as
llama.cpp's `llama-vocab.cpp` defines it, and the special tokens come from the file's own ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Llama-3's pre-tokenizer split (tokenizer.json of Meta-Llama-3; llama.cpp's "llama-bpe").
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def pre_tokenizer_for(name: str):
    """The tokenizers pre-tokenizer for a llama.cpp pre-tokenizer name."""
    from tokenizers import Regex, pre_tokenizers

    if name == "llama-bpe":
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ])
    if name == "smollm":  # digits one by one, then GPT-2's split
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ])
    if name in ("gpt2", "default"):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    raise ValueError(f"GGUF pre-tokenizer {name!r} is not known here (known: llama-bpe, smollm, gpt2)")


@dataclass(frozen=True)
class GgufVocab:
    tokens: list[str]
    merges: list[str]
    types: list[int]
    pre: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    chat_template: str | None

    @classmethod
    def read(cls, path: Path) -> GgufVocab:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        fields = reader.fields

        def strings(key: str) -> list[str]:
            field = fields[key]
            return [bytes(field.parts[index]).decode("utf-8") for index in field.data]

        def scalar(key: str):
            return fields[key].contents() if key in fields else None

        if scalar("tokenizer.ggml.model") != "gpt2":
            raise ValueError(f"{path}: only BPE (gpt2-style) GGUF vocabularies are rebuilt here")
        types_field = fields["tokenizer.ggml.token_type"]
        return cls(tokens=strings("tokenizer.ggml.tokens"), merges=strings("tokenizer.ggml.merges"),
                   types=[int(types_field.parts[index][0]) for index in types_field.data],
                   pre=scalar("tokenizer.ggml.pre") or "default", bos_id=scalar("tokenizer.ggml.bos_token_id"),
                   eos_id=scalar("tokenizer.ggml.eos_token_id"), pad_id=scalar("tokenizer.ggml.padding_token_id"),
                   unk_id=scalar("tokenizer.ggml.unknown_token_id"),
                   add_bos=bool(scalar("tokenizer.ggml.add_bos_token")),
                   chat_template=scalar("tokenizer.chat_template"))


def build_tokenizer(vocab: GgufVocab, special: dict[int, bool] | None = None):
    """A PreTrainedTokenizerFast equal to llama.cpp's tokenizer for this vocabulary. Control and
    user-defined tokens become added tokens, matched whole before the BPE model; `special`
    overrides which of them are flagged special (flagged ones are dropped when decoding)."""
    from gguf import TokenType
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    added_types = (TokenType.CONTROL, TokenType.USER_DEFINED)
    added_ids = [index for index, kind in enumerate(vocab.types) if kind in added_types]
    # every token keeps its GGUF id; added tokens already in the vocabulary keep theirs when added
    vocab_map = {token: index for index, token in enumerate(vocab.tokens)}
    pairs = [tuple(merge.split(" ", 1)) for merge in vocab.merges]
    tokenizer = Tokenizer(models.BPE(vocab=vocab_map, merges=pairs, ignore_merges=vocab.pre == "llama-bpe",
                                     byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizer_for(vocab.pre)
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    flags = special or {}
    for index in added_ids:
        if flags.get(index, vocab.types[index] == TokenType.CONTROL):
            tokenizer.add_special_tokens([AddedToken(vocab.tokens[index], special=True, normalized=False)])
        else:
            tokenizer.add_tokens([AddedToken(vocab.tokens[index], special=False, normalized=False)])
    if [tokenizer.token_to_id(token) for token in vocab.tokens] != list(range(len(vocab.tokens))):
        raise ValueError("the rebuilt tokenizer does not give every GGUF token its GGUF id")
    steps = [processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)]
    bos = vocab.tokens[vocab.bos_id] if vocab.bos_id is not None else None
    if vocab.add_bos and bos is not None:
        steps.append(processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                                   special_tokens=[(bos, vocab.bos_id)]))
    tokenizer.post_processor = processors.Sequence(steps)

    def token(index):
        return vocab.tokens[index] if index is not None else None

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=token(vocab.eos_id),
        pad_token=token(vocab.pad_id), unk_token=token(vocab.unk_id), clean_up_tokenization_spaces=False,
        chat_template=vocab.chat_template,
    )
