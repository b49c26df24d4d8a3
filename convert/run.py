"""convert/: adapter -> merged safetensors -> 16-bit GGUF -> quantized GGUFs, Modelfile, parity."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from common.artifacts import (
    atomic_write_json,
    atomic_write_text,
    require_free_disk,
    sha256_tree,
    write_manifest,
)
from common.config import RunConfig, config_as_dict
from common.errors import UserError
from common.hub import fetch_model
from common.layout import LLAMA_CPP_PYTHON_VERSION, RunLayout
from common.manifests import AdapterManifest, read_adapter_manifest
from convert import base_weights, gguf_export, parity
from convert.base_weights import BaseWeights
from convert.ladder import LadderInputs, print_ladder, run_ladder
from convert.merge import copy_model_files, merge_adapter
from convert.modelfile import render_modelfile
from convert.steps import CachedSteps, PeakMemory, StepLog, digest

# GGUF bytes per merged-model byte (bf16 safetensors), for the free-disk check.
SIZE_FACTOR = {"f16": 1.0, "bf16": 1.0, "q8_0": 0.54, "q6_k": 0.42, "q5_k_m": 0.36, "q4_k_m": 0.31}
FAILED_PARITY_EXIT = 3

console = Console(width=max(Console().width, 120))


def run_convert(config: RunConfig) -> int:
    started = time.perf_counter()
    layout = RunLayout.for_run(config.runs_dir, config.name)
    adapter_manifest = _check_adapter(config, layout)
    runtime_version = gguf_export.check_runtime_version()
    gguf_export.converter_script()
    quants = [q for q in config.convert.quant_types if q not in ("f16", "bf16")]
    outtype = "bf16" if "bf16" in config.convert.quant_types else "f16"
    sampling = {"temperature": config.sampling.temperature, "top_p": config.sampling.top_p}
    bases = MergeBases(config, adapter_manifest)
    onto = bases.merge_onto(config.convert.merge_base)
    _require_disk(layout, onto, outtype, quants)
    steps = CachedSteps(StepLog(layout.gguf_dir / "steps.json"), console)
    adapter_hash = sha256_tree(layout.adapter)

    figures = {"merge": steps.run(
        "merge", digest(adapter_hash, _fingerprint(onto), config.convert.merge_dtype, sampling), layout.merged,
        lambda staging: _merge(onto, layout.adapter, staging, config.convert.merge_dtype, sampling), folder=True,
        summary=lambda r: f"merge onto {onto.description}: {r['merged_tensors']} weights updated, {r['shards']} "
                          f"shard(s), {r['seconds']:.1f} s, peak RAM {r['peak_rss_gib']:.1f} GiB")}
    merged_hash = sha256_tree(layout.merged)
    full = layout.gguf(outtype)
    figures[outtype] = steps.run(
        outtype, digest(merged_hash, LLAMA_CPP_PYTHON_VERSION, outtype, config.name, sampling), full,
        lambda staging: gguf_export.convert_to_gguf(layout.merged, staging, outtype, config.name, sampling,
                                                    layout.gguf_dir / "convert.log"),
        summary=lambda r: f"{outtype}: {full.name} {r['bytes'] / 2**20:,.0f} MiB in {r['seconds']:.1f} s, "
                          f"peak RAM {r['peak_rss_gib']:.1f} GiB")
    for quant in quants:
        target = layout.gguf(quant)
        figures[quant] = steps.run(
            quant, digest(figures[outtype]["sha256"], quant, runtime_version), target,
            lambda staging, quant=quant: gguf_export.quantize(full, staging, quant, config.convert.threads,
                                                              layout.gguf_dir / "quantize.log"),
            summary=lambda r, target=target: f"{target.stem.rsplit('-', 1)[-1]}: {target.name} "
                                             f"{r['bytes'] / 2**20:,.0f} MiB in {r['seconds']:.1f} s")
    if config.convert.base_quant:
        figures.update(_export_base(config, layout, bases.original(), steps, sampling, runtime_version))

    served = config.serve.quant if config.serve.quant in config.convert.quant_types else (quants or [outtype])[-1]
    atomic_write_text(layout.modelfile, render_modelfile(layout.gguf(served).name, _merged_tokenizer(layout),
                                                         sampling["temperature"], sampling["top_p"], config.serve.n_ctx))
    report = _parity(config, layout, bases, steps.log, outtype, quants, figures, adapter_hash, merged_hash,
                     runtime_version)
    print_ladder(report, console)
    return _finish(config, layout, bases, onto, outtype, quants, figures, report, merged_hash, started)


class MergeBases:
    """The two weights a QLoRA adapter can be merged onto: the ones it was trained against
    (4-bit weights dequantized) and its 16-bit original; for a 16-bit adapter they are one."""

    def __init__(self, config: RunConfig, manifest: AdapterManifest) -> None:
        self.config = config
        self.base_model = manifest.base_model
        record = manifest.base_model.require_trained_against("train it again")
        self.trained = base_weights.trained_against(record, _fetch_dir)
        self.quantized = record.quantized_in is not None
        self._original: BaseWeights | None = None

    def original(self) -> BaseWeights:
        if not self.quantized:
            return self.trained
        if self._original is None:
            folder = _fetch_dir(self.config.model.id, self.base_model.commit or self.config.model.revision)
            self._original = base_weights.original(folder, self.config.model.id)
        return self._original

    def merge_onto(self, merge_base: str) -> BaseWeights:
        return self.trained if merge_base == "dequantized" or not self.quantized else self.original()

    def written_label(self, merge_base: str) -> str:
        return "dequantized" if self.quantized and merge_base == "dequantized" else "original"


def _merged_tokenizer(layout: RunLayout):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(layout.merged)


def _fetch_dir(repo: str, commit: str | None) -> Path:
    return fetch_model(repo, commit).dir


def _check_adapter(config: RunConfig, layout: RunLayout) -> AdapterManifest:
    manifest = read_adapter_manifest(layout.adapter, "run `make train` first (or the training was interrupted)")
    trained_on = manifest.base_model.id
    if trained_on != config.model.id:
        raise UserError(f"the adapter in {layout.adapter} was trained on {trained_on!r}, "
                        f"but the config's model.id is {config.model.id!r}")
    return manifest


def _fingerprint(base: BaseWeights) -> dict:
    return {"description": base.description, "config": (base.dir / "config.json").read_text(),
            "weights": {p.name: p.stat().st_size for p in base.files}}


def _require_disk(layout: RunLayout, onto: BaseWeights, outtype: str, quants: list[str]) -> None:
    """Only what is not on disk yet: a re-run that skips finished steps writes nothing new. Sizes
    are those of 16-bit weights, whatever the base is stored in."""
    sixteen_bit = sum(p.stat().st_size for p in onto.files) * (4 if onto.stored_4bit else 1)
    pending = [(1.0, layout.merged), (SIZE_FACTOR[outtype], layout.gguf(outtype))]
    pending += [(SIZE_FACTOR[q], layout.gguf(q)) for q in quants]
    needed = sixteen_bit * sum(factor for factor, path in pending if not path.exists())
    require_free_disk(layout.root, int(needed), "the merged model and GGUF files")
    layout.gguf_dir.mkdir(parents=True, exist_ok=True)


def _merge(onto: BaseWeights, adapter: Path, staging: Path, dtype: str, sampling: dict) -> dict:
    merged = merge_adapter(onto, adapter, staging, dtype)
    copy_model_files(onto.dir, adapter, staging, dtype, sampling)
    write_manifest(staging, "merge", {"base_model": str(onto.dir), "adapter": str(adapter), **merged})
    return merged


def _export_base(config: RunConfig, layout: RunLayout, original: BaseWeights, steps: CachedSteps, sampling: dict,
                 runtime_version: str) -> dict:
    """The untuned base at convert.base_quant, for evaluating base against tuned in the same runtime."""
    quant = config.convert.base_quant
    target = layout.base_gguf(quant)
    log = layout.gguf_dir / "convert-base.log"

    def make(staging: Path) -> None:
        if quant in gguf_export.CONVERTER_OUTTYPES:  # the converter writes f16, bf16 and q8_0 itself
            gguf_export.convert_to_gguf(original.dir, staging, quant, f"{config.name}-base", sampling, log)
            return
        full = staging.with_name(staging.name + ".f16")
        try:
            gguf_export.convert_to_gguf(original.dir, full, "f16", f"{config.name}-base", sampling, log)
            gguf_export.quantize(full, staging, quant, config.convert.threads, layout.gguf_dir / "quantize.log")
        finally:
            full.unlink(missing_ok=True)

    step = f"base-{quant}"
    inputs = digest(_fingerprint(original), quant, runtime_version, sampling)
    return {step: steps.run(step, inputs, target, make,
                            summary=lambda r: f"{step}: {target.name} {r['bytes'] / 2**20:,.0f} MiB in {r['seconds']:.1f} s")}


def _parity(config: RunConfig, layout: RunLayout, bases: MergeBases, log: StepLog, outtype: str, quants: list[str],
            figures: dict, adapter_hash: str, merged_hash: str, runtime_version: str) -> dict:
    """The ladder's report: the last one when it passed and nothing it compares or gates on
    changed, else scored again."""
    label = bases.written_label(config.convert.merge_base)
    inputs = digest(adapter_hash, merged_hash, {kind: figures[kind]["sha256"] for kind in [outtype, *quants]},
                    config.convert.parity.model_dump(), bases.trained.description, label, runtime_version,
                    parity.DECIDED_MARGIN)
    if log.is_current("parity", inputs, layout.parity):
        kept = json.loads(layout.parity.read_text())
        if kept.get("passed"):
            console.print(f"[dim]parity: unchanged, kept {layout.parity.name}[/]")
            figures["parity"] = {**log.records["parity"], "skipped": True}
            return kept
    ladder = LadderInputs(layout, config.convert.parity, bases.trained, bases.original() if bases.quantized else None,
                          label, [outtype, *quants], config.convert.threads)
    with PeakMemory() as peak:
        report = run_ladder(ladder, console)
    atomic_write_json(layout.parity, report)
    figures["parity"] = log.record("parity", inputs, layout.parity, **peak.figures())
    return report


def _finish(config: RunConfig, layout: RunLayout, bases: MergeBases, onto: BaseWeights, outtype: str,
            quants: list[str], figures: dict, report: dict, merged_hash: str, started: float) -> int:
    kinds = [(kind, layout.gguf(kind)) for kind in [outtype, *quants]]
    if config.convert.base_quant:
        kinds.append((f"base-{config.convert.base_quant}", layout.base_gguf(config.convert.base_quant)))
    artifacts = {kind: {"file": path.name, "bytes": path.stat().st_size, "sha256": figures[kind]["sha256"],
                        "file_type": gguf_export.gguf_metadata(path).get("general.file_type")}
                 for kind, path in kinds}
    metadata = gguf_export.gguf_metadata(layout.gguf(outtype))
    body = {
        "config": config_as_dict(config),
        "inputs": {"adapter": str(layout.adapter), "adapter_tree_sha256": sha256_tree(layout.adapter),
                   "base_model": config.model.id, "base_dir": str(onto.dir), "merged_tree_sha256": merged_hash},
        "merge_base": bases.written_label(config.convert.merge_base),
        "merged_onto": onto.description,
        "artifacts": artifacts,
        "steps": figures,
        "gguf_metadata": {key: metadata.get(key) for key in (
            "general.name", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token", "general.sampling.temp",
            "general.sampling.top_p")},
        "chat_template_embedded": bool(metadata.get("tokenizer.chat_template")),
        "parity": {"passed": report["passed"], "failures": report["failures"]},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if not report["passed"]:
        # No manifest: serve/ refuses a GGUF folder whose parity failed.
        (layout.gguf_dir / "manifest.json").unlink(missing_ok=True)
        atomic_write_json(layout.gguf_dir / "failed-manifest.json", body)
        console.print(f"[red]parity check failed[/]: {'; '.join(report['failures'])} (details in {layout.parity})")
        return FAILED_PARITY_EXIT
    write_manifest(layout.gguf_dir, "convert", body)
    console.print(f"[green]convert done[/] in {body['wall_seconds']} s: {layout.gguf_dir}")
    return 0
