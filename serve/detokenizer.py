"""A detokenizer for llama-cpp-python that costs the same at the 4,000th token as at the first.

`Llama.create_completion` detokenizes the *whole* completion again after every generated token
(to look for stop strings), one ctypes call per token, so a completion gets slower as it grows:
on the tiny model a 3,000-token completion streamed at 212 tokens/s through it and at 359 with
this one (`make bench`'s serve benchmark with --long-tokens 3000). R1 models think for thousands of tokens, so
the serving path pays this at its longest outputs. `Llama` accepts a tokenizer object; this one
gives the same bytes as llama-cpp-python's own (tests/test_detokenizer.py) from a per-token cache
of pieces, and continues the last long list it decoded instead of starting over when that list
has only grown. Nothing here is written by hand that llama-cpp-python offers: it offers no
incremental detokenizer.
"""

from __future__ import annotations

import ctypes

import llama_cpp
from llama_cpp.llama_tokenizer import BaseLlamaTokenizer

# Shorter lists are decoded from the piece cache directly; only the growing completion (and the
# final text) is worth continuing.
MEMO_MIN_TOKENS = 16


class IncrementalDetokenizer(BaseLlamaTokenizer):
    def __init__(self, llama) -> None:
        self._model = llama._model
        self._vocab = llama._model.vocab
        self._bos = llama.token_bos()
        self._pieces: tuple[dict[int, bytes], dict[int, bytes]] = ({}, {})
        self._memo: tuple[list[int], bytes, bool] = ([], b"", False)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        return self._model.tokenize(text, add_bos=add_bos, special=special)

    def _piece_bytes(self, tokens, special: bool) -> bytes:
        cache = self._pieces[special]
        try:
            return b"".join([cache[token] for token in tokens])
        except KeyError:
            for token in tokens:
                if token not in cache:
                    cache[token] = self._piece(token, special)
            return b"".join([cache[token] for token in tokens])

    def _piece(self, token: int, special: bool) -> bytes:
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            length = llama_cpp.llama_token_to_piece(self._vocab, llama_cpp.llama_token(token), buffer, size, 0, special)
            if length >= 0:
                return buffer.raw[:length]
            size = -length  # a negative length is the size the piece needs

    def _raw(self, tokens: list[int], special: bool) -> bytes:
        memo_tokens, memo_bytes, memo_special = self._memo
        known = len(memo_tokens)
        if known and special == memo_special and len(tokens) >= known and tokens[:known] == memo_tokens:
            output = memo_bytes + self._piece_bytes(tokens[known:], special)
        else:
            output = self._piece_bytes(tokens, special)
        if len(tokens) >= MEMO_MIN_TOKENS:
            self._memo = (list(tokens), output, special)
        return output

    def detokenize(self, tokens: list[int], prev_tokens: list[int] | None = None, special: bool = False) -> bytes:
        output = self._raw(list(tokens), special)
        # as llama-cpp-python does: a leading BOS takes the space its first piece starts with
        if tokens and tokens[0] == self._bos and output[:1] == b" ":
            return output[1:]
        return output


def install(llama):
    """Give `llama` the incremental detokenizer; returns it for chaining."""
    llama.tokenizer_ = IncrementalDetokenizer(llama)
    return llama
