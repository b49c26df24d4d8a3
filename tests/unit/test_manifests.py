"""The stage contracts: manifests are checked when written and read back typed, and a broken
one stops the next stage with one line."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from common.artifacts import write_manifest
from common.errors import UserError
from common.manifests import parse_manifest, read_adapter_manifest, read_convert_manifest
from tests.conftest import TINY, assert_user_error, run_cli

TRAINED_AGAINST = {"repo": "unsloth/m-bnb-4bit", "commit": "a" * 40, "dir": "/cache/m", "quantized_in": "repo",
                   "quantized_modules": ["model.layers.0.mlp.up_proj"],
                   "quantization": {"quant_type": "nf4", "blocksize": 64, "double_quant": True,
                                    "compute_dtype": "bfloat16"},
                   "kept_in_16_bit": ["lm_head"]}
ADAPTER = {"base_model": {"id": "org/m", "revision": None, "trained_against": TRAINED_AGAINST},
           "adapter": {"r": 16}, "data": {}, "results": {"steps": 3}}


def test_an_adapter_manifest_reads_back_typed(tmp_path):
    write_manifest(tmp_path, "train", ADAPTER)
    manifest = read_adapter_manifest(tmp_path, "train first")
    record = manifest.base_model.trained_against
    assert record.quantized_in == "repo" and record.quantization.blocksize == 64
    assert record.label == "unsloth/m-bnb-4bit@aaaaaaaaaaaa"
    assert manifest.results["steps"] == 3  # the records for people stay as written


def test_a_writer_that_breaks_the_contract_fails_when_writing(tmp_path):
    with pytest.raises(ValidationError):
        write_manifest(tmp_path, "convert", {"artifacts": {"q4_k_m": {"file": "x.gguf"}}, "merge_base": "original",
                                             "parity": {}})
    assert not (tmp_path / "manifest.json").exists()


def test_a_broken_manifest_is_one_line_naming_the_field(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"stage": "convert", "written_at": "now", "artifacts": {
        "q4_k_m": {"file": "x.gguf", "bytes": "many", "sha256": "0"}}, "merge_base": "original", "parity": {}}))
    with pytest.raises(UserError, match=r"artifacts\.q4_k_m\.bytes"):
        read_convert_manifest(tmp_path, "convert first")
    old = {"stage": "train", "written_at": "now", **ADAPTER, "base_model": {"id": "org/m"}}
    with pytest.raises(UserError, match="which weights it was trained against"):
        parse_manifest(old, "m.json").base_model.require_trained_against("train it again")


def test_convert_stops_with_one_line_on_an_adapter_manifest_it_cannot_read(tmp_path):
    adapter = tmp_path / "runs" / "broken" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "manifest.json").write_text(json.dumps({"stage": "train", "written_at": "now", "results": {}}))
    result = run_cli("convert", "--config", str(TINY), f"runs_dir={tmp_path / 'runs'}", "name=broken")
    assert_user_error(result, "not a valid train manifest", "base_model")
    assert not (tmp_path / "runs" / "broken" / "merged").exists()
