"""QLoRA through a pre-quantized mirror, merged onto exactly the weights it was trained against.

The tiny model's two repos are made as the real ones are (tools/hub_mirror/model_repos.py): the
16-bit original, and Unsloth's kind of dynamic 4-bit mirror of it (bitsandbytes NF4, double
quantization, some modules kept in 16 bits). The rehearsal (tests/conftest.py) trains the adapter
on the CPU through the hub mirror (bitsandbytes runs 4-bit layers there too) and converts it; here
the merged model is compared with the model as it was trained: the mirror loaded 4-bit with the
adapter on top."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.slow
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.fixture(scope="module")
def qlora_run(rehearsal):
    run = rehearsal["root"]
    return {"original": rehearsal["original"], "mirror": rehearsal["mirror"], "run": run,
            "manifest": json.loads((run / "adapter" / "manifest.json").read_text()),
            "parity": json.loads((run / "gguf" / "parity.json").read_text())}


def test_the_manifest_records_the_4bit_weights_trained_against(qlora_run):
    record = qlora_run["manifest"]["base_model"]["trained_against"]
    assert record["dir"] == str(qlora_run["mirror"].resolve()) and record["quantized_in"] == "repo"
    assert record["quantization"] == {"quant_type": "nf4", "blocksize": 64, "double_quant": True,
                                      "compute_dtype": "bfloat16"}
    # the mirror keeps layer 1's MLP in 16 bits: those projections were never 4-bit in training
    assert "model.layers.1.self_attn.q_proj" in record["quantized_modules"]
    assert not [name for name in record["quantized_modules"] if name.startswith("model.layers.1.mlp")]
    assert "model.layers.1.mlp" in record["kept_in_16_bit"]


def test_the_ladder_passes_on_the_trained_base_and_fails_on_the_other(qlora_run):
    from convert.ladder import gate_failures

    report = qlora_run["parity"]
    assert report["passed"] and report["merge_base"] == "dequantized"
    assert "stored 4-bit weights dequantized" in report["reference_base"]
    bases, thresholds = report["merge_bases"]["vs_a"], report["thresholds"]
    gates = (thresholds["merged_min_top1"], thresholds["merged_max_kl"])
    # the written merge differs from the model as trained only by its rounding to bfloat16
    assert not gate_failures("merged onto the dequantized", bases["dequantized"], *gates), bases["dequantized"]
    assert bases["dequantized"]["mean_kl"] < bases["original"]["mean_kl"] / 100, bases
    assert gate_failures("merged onto the original", bases["original"], *gates), bases["original"]


def _log_probs(model, ids):
    with torch.no_grad():
        return torch.log_softmax(model(ids).logits.float(), dim=-1)[0]


def test_the_merged_model_is_the_model_as_trained_and_the_old_merge_base_is_not(qlora_run):
    """The truth is the mirror loaded 4-bit by transformers with the adapter on top, as in
    training. The merge the pipeline wrote must match it; the merge base of earlier versions
    (every projection of the 16-bit original through NF4, ignoring the modules the mirror keeps
    in 16 bits) must not."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from convert.base_weights import BaseWeights
    from convert.reference import merged_in_memory
    from train.model import keep_4bit_layers_differentiable

    adapter = qlora_run["run"] / "adapter"
    truth = AutoModelForCausalLM.from_pretrained(qlora_run["mirror"], dtype=torch.float32, device_map={"": "cpu"})
    keep_4bit_layers_differentiable(truth)
    truth = PeftModel.from_pretrained(truth, adapter).eval()
    merged = AutoModelForCausalLM.from_pretrained(qlora_run["run"] / "merged", dtype=torch.float32).eval()
    original = BaseWeights(qlora_run["original"])
    projections = frozenset(name.removesuffix(".weight") for name in original.names()
                            if name.split(".")[-2] in PROJECTIONS)
    old = merged_in_memory(BaseWeights(qlora_run["original"], round_trip=projections), adapter, torch.float32, "cpu")
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    rows = [json.loads(line) for line in (adapter / "heldout.jsonl").read_text().splitlines()[:4]]
    kl_written = kl_old = 0.0
    for row in rows:
        ids = tokenizer(row["prompt"] + row["completion"], add_special_tokens=False, return_tensors="pt").input_ids
        expected = _log_probs(truth, ids[:, :160])
        for name, model in (("written", merged), ("old", old)):
            kl = float((expected.exp() * (expected - _log_probs(model, ids[:, :160]))).sum(-1).mean())
            kl_written, kl_old = (kl_written + kl, kl_old) if name == "written" else (kl_written, kl_old + kl)
    kl_written, kl_old = kl_written / len(rows), kl_old / len(rows)
    assert kl_written < 1e-3, kl_written  # the default merge is written in bfloat16
    assert kl_old > 10 * kl_written and kl_old > 2e-3, (kl_old, kl_written)


def test_qlora_with_a_trainable_head_trains_in_float32(tmp_path, qlora_run):
    """The tiny profile's trainable LM head on 4-bit weights (the rehearsal's two repos), without
    mixed precision (a CPU with no bfloat16): TRL casts the trainable copy to bfloat16, the trainer
    puts it back."""
    from tests.conftest import TINY, run_cli

    train = run_cli("train", "--config", str(TINY), f"runs_dir={tmp_path / 'runs'}", "name=head",
                    f"model.id={qlora_run['original']}", f"model.prequantized={qlora_run['mirror']}",
                    "lora.load_in_4bit=true", "train.precision=fp32",
                    "train.max_steps=1", "train.micro_batch_size=1", "data.max_rows=20", "data.validation_fraction=0",
                    "data.replay=null", "train.report_to=none")
    assert train.returncode == 0, train.stderr[-3000:]
    manifest = json.loads((tmp_path / "runs" / "head" / "adapter" / "manifest.json").read_text())
    assert manifest["base_model"]["trained_against"]["quantized_in"] == "repo"
