"""`make rehearse` on a CPU: the default config's hub ids through the loopback hub mirror, from an
empty hub cache, train -> convert -> serve check -> eval against the base; every stage exits 0."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_the_default_config_runs_end_to_end_through_the_hub_mirror(rehearsal):
    summary = rehearsal["summary"]
    assert [stage["stage"] for stage in summary["stages"]] == ["train", "convert", "serve check", "eval"]
    # the weights came from the mirror's pre-quantized repo at the commit it served, and the merge
    # onto them passed the ladder while the 16-bit original scores worse against the trained model
    assert summary["trained_against"]["repo"] == "unsloth/DeepSeek-R1-Distill-Llama-8B-unsloth-bnb-4bit"
    assert summary["trained_against"]["quantized_in"] == "repo" and len(summary["trained_against"]["commit"]) == 40
    bases = summary["parity"]["merge_bases"]
    assert summary["parity"]["passed"] and bases["dequantized"]["mean_kl"] < bases["original"]["mean_kl"]
    cache = rehearsal["root"] / "hf-home" / "hub"
    downloaded = {path.name for path in cache.iterdir()}
    assert {"models--deepseek-ai--DeepSeek-R1-Distill-Llama-8B",
            "datasets--FreedomIntelligence--medical-o1-reasoning-SFT", "datasets--GBaker--MedQA-USMLE-4-options"} <= downloaded
    compare = json.loads((rehearsal["root"] / "eval" / "compare" / "comparison.json").read_text())
    assert [run["label"] for run in compare["runs"]] == ["base-q8_0", "tuned-q4_k_m"]
    tuned = json.loads((rehearsal["root"] / "eval" / "tuned-q4_k_m" / "report.json").read_text())
    assert set(tuned["per_task"]) == {"medqa", "medmcqa", "pubmedqa", "mmlu_clinical"}
