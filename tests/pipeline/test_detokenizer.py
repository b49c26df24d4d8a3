"""serve/detokenizer.py against llama-cpp-python's own detokenizer, on real GGUF files."""

import random

import pytest

from tests.conftest import ROOT

VOCAB = ROOT / ".assets" / "llama.cpp-0.3.36" / "models" / "ggml-vocab-llama-bpe.gguf"


@pytest.fixture(scope="module")
def vocab_llama():
    from llama_cpp import Llama

    if not VOCAB.is_file():
        pytest.fail("the llama.cpp source is missing: run `make setup` (make test does it)")
    llama = Llama(str(VOCAB), vocab_only=True, verbose=False)
    yield llama
    llama.close()


def test_same_bytes_as_llama_cpp_python_for_any_token_list(vocab_llama):
    from serve.detokenizer import IncrementalDetokenizer

    stock, fast = vocab_llama.tokenizer_, IncrementalDetokenizer(vocab_llama)
    # llama-cpp-python decodes into a 32-byte buffer and drops longer pieces (see the next test)
    short = [t for t in range(vocab_llama.n_vocab()) if len(fast.detokenize([t], special=True)) <= 32]
    rng = random.Random(0)
    for _ in range(300):
        tokens = [rng.choice(short) for _ in range(rng.randrange(0, 40))]
        if rng.random() < 0.3:
            tokens = [vocab_llama.token_bos(), *tokens]
        for special in (False, True):
            assert fast.detokenize(tokens, special=special) == stock.detokenize(tokens, special=special), tokens
    growing = [vocab_llama.token_bos()]
    for _ in range(400):  # the completion as create_completion decodes it: one token longer each time
        growing.append(rng.choice(short))
        assert fast.detokenize(growing) == stock.detokenize(growing)
        assert fast.detokenize(growing[-3:]) == stock.detokenize(growing[-3:])  # interleaved short calls
    edited = growing[:200] + [short[5]] + growing[201:]  # not a continuation: decoded afresh
    assert fast.detokenize(edited) == stock.detokenize(edited)
    # a tail of stray bytes that never decodes, scanned prefix by prefix as create_completion does
    stray = [t for t in short if len(p := stock.detokenize([t])) == 1 and 0x80 <= p[0] < 0xC0][:4]
    tail = [stray[i % len(stray)] for i in range(120)]
    for end in range(1, len(tail) + 1):
        assert fast.detokenize(tail[:end]) == stock.detokenize(tail[:end])


def test_long_pieces_are_kept_whole(vocab_llama, tiny_model):
    from transformers import AutoTokenizer

    from serve.detokenizer import IncrementalDetokenizer

    fast = IncrementalDetokenizer(vocab_llama)
    hf = AutoTokenizer.from_pretrained(tiny_model)
    long = [t for t in range(128000) if len(fast.detokenize([t])) > 32]
    assert long, "the Llama-3 vocabulary has pieces over 32 bytes"
    for token in long[:20]:
        assert fast.detokenize([token]).decode("utf-8") == hf.decode([token])
        assert vocab_llama.tokenizer_.detokenize([token]) == b""  # what llama-cpp-python 0.3.36 returns


@pytest.mark.slow
def test_completions_unchanged_with_the_fast_detokenizer(trained_run):
    from llama_cpp import Llama

    from serve.detokenizer import install

    gguf = next((trained_run["root"] / "gguf").glob("*q4_k_m.gguf"))
    llama = Llama(str(gguf), n_ctx=1024, n_threads=1, verbose=False)
    prompt = "A 58-year-old man has chest pain and ST elevation in II, III and aVF. "
    try:
        def outputs():
            whole = llama.create_completion(prompt, max_tokens=300, temperature=0.0, stop=["aVF."])
            streamed = "".join(chunk["choices"][0]["text"] for chunk in
                               llama.create_completion(prompt, max_tokens=300, temperature=0.0, stream=True))
            return whole["choices"][0]["text"], whole["choices"][0]["finish_reason"], streamed

        stock = outputs()
        install(llama)
        assert outputs() == stock
        assert len(stock[2]) > 200
    finally:
        llama.close()
