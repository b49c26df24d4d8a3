"""convert/: adapter -> merged safetensors -> f16 GGUF -> quantized GGUFs, Modelfile, parity."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.artifacts import (
    atomic_write_json,
    atomic_write_text,
    read_manifest,
    require_free_disk,
    sha256_file,
    sha256_tree,
    staged_dir,
    staged_file,
    write_manifest,
)
from common.config import RunConfig, config_as_dict
from common.errors import UserError
from common.hub import resolve_model_dir
from common.layout import HELDOUT_FILE, LLAMA_CPP_PYTHON_VERSION, RunLayout
from common.reasoning import user_turn
from convert import gguf_export, parity
from convert.merge import base_weight_files, copy_model_files, merge_adapter
from convert.modelfile import render_modelfile
from convert.steps import PeakMemory, StepLog, digest

# GGUF bytes per merged-model byte (bf16 safetensors), for the free-disk check.
SIZE_FACTOR = {"f16": 1.0, "bf16": 1.0, "q8_0": 0.54, "q6_k": 0.42, "q5_k_m": 0.36, "q4_k_m": 0.31}
FAILED_PARITY_EXIT = 3

console = Console(width=max(Console().width, 120))


class ParityFailure(Exception):
    """An artifact does not behave like the one before it beyond the stated tolerance."""


def _check_adapter(config: RunConfig, layout: RunLayout) -> dict:
    manifest = read_manifest(layout.adapter, "train", "run `make train` first (or the training was interrupted)")
    trained_on = manifest.get("base_model", {}).get("id")
    if trained_on != config.model.id:
        raise UserError(f"the adapter in {layout.adapter} was trained on {trained_on!r}, "
                        f"but the config's model.id is {config.model.id!r}")
    return manifest


def _base_fingerprint(base_dir: Path, revision: str | None) -> dict:
    files = base_weight_files(base_dir)
    return {"revision": revision, "config": (base_dir / "config.json").read_text(),
            "weights": {p.name: p.stat().st_size for p in files}}


def run_convert(config: RunConfig) -> int:
    layout = RunLayout.for_run(config.runs_dir, config.name)
    adapter_manifest = _check_adapter(config, layout)
    base_dir = resolve_model_dir(config.model.id, config.model.revision)
    runtime_version = gguf_export.check_runtime_version()
    gguf_export.converter_script()
    quants = [q for q in config.convert.quant_types if q not in ("f16", "bf16")]
    outtype = "bf16" if "bf16" in config.convert.quant_types else "f16"
    sampling = {"temperature": config.sampling.temperature, "top_p": config.sampling.top_p}
    trained_4bit = bool(adapter_manifest.get("adapter", {}).get("trained_on_4bit_base"))
    onto_dequantized = trained_4bit and config.convert.merge_base == "dequantized"
    merge_base = "dequantized-4bit" if onto_dequantized else "original"

    base_bytes = sum(p.stat().st_size for p in base_weight_files(base_dir))
    # only what is not on disk yet: a re-run that skips finished steps writes nothing new
    pending = [(1.0, layout.merged), (SIZE_FACTOR[outtype], layout.gguf(outtype))]
    pending += [(SIZE_FACTOR[q], layout.gguf(q)) for q in quants]
    needed = base_bytes * sum(factor for factor, path in pending if not path.exists())
    require_free_disk(layout.root, int(needed), "the merged model and GGUF files")
    layout.gguf_dir.mkdir(parents=True, exist_ok=True)
    steps = StepLog(layout.gguf_dir / "steps.json")
    figures: dict[str, dict] = {}
    started = time.perf_counter()

    # 1. merge
    adapter_hash = sha256_tree(layout.adapter)
    merge_inputs = digest(adapter_hash, _base_fingerprint(base_dir, config.model.revision),
                          onto_dequantized, config.convert.merge_dtype, sampling)
    if steps.is_current("merge", merge_inputs, layout.merged):
        console.print(f"[dim]merge: unchanged, kept {layout.merged}[/]")
        figures["merge"] = {**steps.records["merge"], "skipped": True}
    else:
        with PeakMemory() as peak, staged_dir(layout.merged) as staging:
            merged = merge_adapter(base_dir, layout.adapter, staging, config.convert.merge_dtype, onto_dequantized)
            copy_model_files(base_dir, layout.adapter, staging, config.convert.merge_dtype, sampling)
            write_manifest(staging, "merge", {"base_model": str(base_dir), "adapter": str(layout.adapter),
                                              "merge_base": merge_base,
                                              **merged})
        figures["merge"] = steps.record("merge", merge_inputs, layout.merged, **peak.figures(), **merged)
        console.print(f"merge: {merged['merged_tensors']} weights updated, {merged['shards']} shard(s), "
                      f"{peak.seconds:.1f} s, peak RAM {peak.peak / 2**30:.1f} GiB")
    merged_hash = sha256_tree(layout.merged)

    # 2. GGUF at 16 bits, by llama.cpp's converter
    full = layout.gguf(outtype)
    convert_inputs = digest(merged_hash, LLAMA_CPP_PYTHON_VERSION, outtype, config.name, sampling)
    if steps.is_current(outtype, convert_inputs, full):
        console.print(f"[dim]{outtype}: unchanged, kept {full.name}[/]")
        figures[outtype] = {**steps.records[outtype], "skipped": True}
    else:
        with PeakMemory() as peak, staged_file(full) as staging:
            gguf_export.convert_to_gguf(layout.merged, staging, outtype, config.name, sampling,
                                        layout.gguf_dir / "convert.log")
        figures[outtype] = steps.record(outtype, convert_inputs, full, sha256=sha256_file(full), **peak.figures())
        console.print(f"{outtype}: {full.name} {full.stat().st_size / 2**20:,.0f} MiB in {peak.seconds:.1f} s, "
                      f"peak RAM {peak.peak / 2**30:.1f} GiB")

    # 3. quantized GGUFs, in-process
    for quant in quants:
        target = layout.gguf(quant)
        quant_inputs = digest(figures[outtype]["sha256"], quant, runtime_version)
        if steps.is_current(quant, quant_inputs, target):
            console.print(f"[dim]{quant}: unchanged, kept {target.name}[/]")
            figures[quant] = {**steps.records[quant], "skipped": True}
            continue
        with PeakMemory() as peak, staged_file(target) as staging:
            gguf_export.quantize(full, staging, quant, config.convert.threads, layout.gguf_dir / "quantize.log")
        figures[quant] = steps.record(quant, quant_inputs, target, sha256=sha256_file(target), **peak.figures())
        console.print(f"{quant}: {target.name} {target.stat().st_size / 2**20:,.0f} MiB in {peak.seconds:.1f} s")

    # 3b. the untuned base, for evaluating base against tuned in the same runtime
    if config.convert.base_quant:
        figures.update(_export_base(config, layout, base_dir, steps, sampling, runtime_version))

    # 4. Ollama Modelfile for the served quantization
    served = config.serve.quant if config.serve.quant in config.convert.quant_types else (quants or [outtype])[-1]
    atomic_write_text(layout.modelfile, render_modelfile(layout.gguf(served).name, sampling["temperature"],
                                                         sampling["top_p"], config.serve.n_ctx))

    # 5. parity ladder: scored again when anything it compares or gates on changed, or it failed
    ladder_hashes = {kind: figures[kind]["sha256"] for kind in [outtype, *quants]}
    parity_inputs = digest(adapter_hash, merged_hash, ladder_hashes, config.convert.parity.model_dump(),
                           trained_4bit, onto_dequantized, runtime_version, parity.DECIDED_MARGIN)
    report = _kept_parity(steps, parity_inputs, layout.parity)
    if report is not None:
        console.print(f"[dim]parity: unchanged, kept {layout.parity.name}[/]")
        figures["parity"] = {**steps.records["parity"], "skipped": True}
    else:
        with PeakMemory() as peak:
            report = run_parity(config, layout, base_dir, trained_4bit, onto_dequantized, outtype, quants)
        atomic_write_json(layout.parity, report)
        figures["parity"] = steps.record("parity", parity_inputs, layout.parity, **peak.figures())
    print_parity(report)

    artifacts = {}
    kinds = [(kind, layout.gguf(kind)) for kind in [outtype, *quants]]
    if config.convert.base_quant:
        kinds.append((f"base-{config.convert.base_quant}", layout.base_gguf(config.convert.base_quant)))
    for kind, path in kinds:
        artifacts[kind] = {"file": path.name, "bytes": path.stat().st_size, "sha256": figures[kind]["sha256"],
                           "file_type": gguf_export.gguf_metadata(path).get("general.file_type")}
    metadata = gguf_export.gguf_metadata(full)
    body = {
        "config": config_as_dict(config),
        "inputs": {"adapter": str(layout.adapter), "adapter_tree_sha256": sha256_tree(layout.adapter),
                   "base_model": config.model.id, "base_dir": str(base_dir), "merged_tree_sha256": merged_hash},
        "merge_base": merge_base,
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


def _kept_parity(steps: StepLog, inputs: str, path: Path) -> dict | None:
    """The last run's passing report, if its inputs are these."""
    if not steps.is_current("parity", inputs, path):
        return None
    report = json.loads(path.read_text())
    return report if report.get("passed") else None


def _export_base(config: RunConfig, layout: RunLayout, base_dir: Path, steps: StepLog, sampling: dict,
                 runtime_version: str) -> dict:
    quant = config.convert.base_quant
    target = layout.base_gguf(quant)
    step = f"base-{quant}"
    inputs = digest(_base_fingerprint(base_dir, config.model.revision), quant, runtime_version, sampling)
    if steps.is_current(step, inputs, target):
        console.print(f"[dim]{step}: unchanged, kept {target.name}[/]")
        return {step: {**steps.records[step], "skipped": True}}
    log = layout.gguf_dir / "convert-base.log"
    with PeakMemory() as peak, staged_file(target) as staging:
        if quant in gguf_export.CONVERTER_OUTTYPES:  # the converter writes f16, bf16 and q8_0 itself
            gguf_export.convert_to_gguf(base_dir, staging, quant, f"{config.name}-base", sampling, log)
        else:
            full = staging.with_name(staging.name + ".f16")
            try:
                gguf_export.convert_to_gguf(base_dir, full, "f16", f"{config.name}-base", sampling, log)
                gguf_export.quantize(full, staging, quant, config.convert.threads, layout.gguf_dir / "quantize.log")
            finally:
                full.unlink(missing_ok=True)
    console.print(f"{step}: {target.name} {target.stat().st_size / 2**20:,.0f} MiB in {peak.seconds:.1f} s")
    return {step: steps.record(step, inputs, target, sha256=sha256_file(target), **peak.figures())}


def _load_reference_model(base_dir: Path, adapter_dir: Path, trained_4bit: bool, device: str, dtype):
    """(a): the base with the adapter applied by PEFT; for a QLoRA adapter the base weights it was
    trained against (NF4 round trip) carry the adapter, as the 4-bit layers did in training."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, device_map={"": device})
    if trained_4bit:
        from convert.merge import nf4_round_trip

        targets = set(json.loads((adapter_dir / "adapter_config.json").read_text())["target_modules"])
        for name, module in model.named_modules():
            if name.split(".")[-1] in targets and hasattr(module, "weight"):
                module.weight.data = nf4_round_trip(module.weight.data, device).to(device=device, dtype=dtype)
    return PeftModel.from_pretrained(model, adapter_dir).eval()


def _parity_dtype(merged: Path, device: str):
    """float32 wherever the model fits: llama.cpp computes in float32, and a bfloat16 reference
    flips the argmax of near-flat predictions (on the 8B-shaped random model, bf16 torch vs the
    f16 GGUF agreed on 85% of top-1 tokens at a KL of 0.003). bfloat16 only on a GPU too small."""
    import torch

    if device != "cuda":
        return torch.float32
    weight_bytes = sum(f.stat().st_size for f in merged.glob("*.safetensors"))  # written in 16 bits
    free, _ = torch.cuda.mem_get_info()
    return torch.float32 if weight_bytes * 2 * 1.15 < free else torch.bfloat16


def run_parity(config: RunConfig, layout: RunLayout, base_dir: Path, trained_4bit: bool, onto_dequantized: bool,
               outtype: str, quants: list[str]) -> dict:
    import gc

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = config.convert.parity
    tokenizer = AutoTokenizer.from_pretrained(layout.merged)
    samples = parity.load_heldout(layout.adapter / HELDOUT_FILE, settings.prompts)
    if not samples:
        raise UserError(f"{layout.adapter / HELDOUT_FILE} has no rows: train with a validation split")
    items = [parity.encode(tokenizer, sample, settings.max_tokens) for sample in samples]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = _parity_dtype(layout.merged, device)
    gpu_layers = -1 if device == "cuda" else 0

    def torch_step(load):
        model = load()
        scores = parity.torch_scores(model, items)
        del model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        return scores

    ladder = [("a: base+adapter (torch)", "adapter",
               lambda: torch_step(lambda: _load_reference_model(base_dir, layout.adapter, trained_4bit, device, dtype))),
              ("b: merged (torch)", "merged",
               lambda: torch_step(lambda: AutoModelForCausalLM.from_pretrained(
                   layout.merged, dtype=dtype, device_map={"": device}).eval()))]
    for kind in [outtype, *quants]:
        path = layout.gguf(kind)
        label = f"c: {kind} GGUF (llama.cpp)" if kind == outtype else f"d: {kind} GGUF"
        ladder.append((label, path.name,
                       lambda path=path: parity.llama_cpp_scores(path, items, config.convert.threads, gpu_layers,
                                                                 layout.gguf_dir / "parity-llama.log")))

    steps, reference, previous = [], None, None
    with console.status("parity ladder") as status:
        for label, artifact, score in ladder:
            status.update(f"parity: scoring {label}")
            scores = parity.Scores(score(), items)
            row = {"step": label, "artifact": artifact, "perplexity": scores.perplexity()}
            if previous is not None:
                row["vs_previous"] = parity.compare(previous, scores)
                row["vs_a"] = row["vs_previous"] if previous is reference else parity.compare(reference, scores)
            steps.append(row)
            reference = reference if reference is not None else scores
            if previous is not None and previous is not reference:
                previous._probs = None  # free what the next step no longer needs
            previous = scores

    merge_bases = None
    if trained_4bit:
        # A QLoRA adapter can be merged onto either base; score the one not written, in memory.
        from convert.merge import merge_in_memory

        def other_merge():
            model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, device_map={"": device}).eval()
            merge_in_memory(model, layout.adapter, onto_dequantized=not onto_dequantized)
            return model

        other = parity.Scores(torch_step(other_merge), items)
        written, other_base = ("dequantized", "original") if onto_dequantized else ("original", "dequantized")
        merge_bases = {"written": written, "vs_a": {written: steps[1]["vs_previous"],
                                                    other_base: parity.compare(reference, other)}}

    full = layout.gguf(outtype)
    mismatches = parity.tokenization_mismatches(tokenizer, full, samples)
    chat = parity.chat_prompt_check(full, [user_turn(sample.prompt) for sample in samples[:4]])
    failures = []
    merged_row, f16_row = steps[1], steps[2]
    failures += _gate("merged vs base+adapter", merged_row["vs_previous"], settings.merged_min_top1, settings.merged_max_kl)
    failures += _gate(f"{outtype} GGUF vs merged", f16_row["vs_previous"], settings.f16_min_top1, settings.f16_max_kl)
    if mismatches:
        failures.append(f"tokenization differs between PyTorch and the GGUF on {len(mismatches)} text(s)")
    if not chat.get("identical"):
        failures.append(f"chat prompt: {chat.get('reason')}")
    return {
        "samples": len(items),
        "tokens_scored": int(sum(len(item.ids) - item.prompt_len for item in items)),
        "scored_positions": "positions predicting the held-out completion (think block and answer)",
        "torch_dtype": str(dtype).removeprefix("torch."),
        "merge_base": "dequantized-4bit" if onto_dequantized else "original",
        "thresholds": settings.model_dump(),
        "steps": steps,
        "merge_bases": merge_bases,
        "tokenization": {"identical": not mismatches, "texts_checked": 2 * len(samples), "mismatches": mismatches},
        "chat_prompt": chat,
        "failures": failures,
        "passed": not failures,
    }


def _gate(label: str, comparison: dict, min_top1: float, max_kl: float) -> list[str]:
    """Top-1 agreement is held to `min_top1` on decided positions (parity.DECIDED_MARGIN); the
    mean KL over all positions to `max_kl`."""
    failures = []
    top1 = comparison["decided_top1_agreement"]
    if top1 is not None and top1 < min_top1:
        failures.append(f"{label} top-1 agreement {top1:.4f} < {min_top1} "
                        f"(on {comparison['decided_positions']} decided positions)")
    if comparison["mean_kl"] > max_kl:
        failures.append(f"{label} mean KL {comparison['mean_kl']:.5f} > {max_kl}")
    return failures


def _decided(comparison: dict | None) -> str:
    if not comparison or comparison["decided_top1_agreement"] is None:
        return "-"
    return f"{comparison['decided_top1_agreement']:.4f} of {comparison['decided_positions']}"


def print_parity(report: dict) -> None:
    table = Table(title=f"parity ladder ({report['samples']} held-out rows, {report['tokens_scored']} tokens)")
    for column in ("step", "top-1 vs prev", "decided", "KL vs prev", "top-1 vs a", "KL vs a", "|Δlogp| vs a", "ppl"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for row in report["steps"]:
        prev, ref = row.get("vs_previous"), row.get("vs_a")
        table.add_row(
            row["step"],
            f"{prev['top1_agreement']:.4f}" if prev else "-", _decided(prev),
            f"{prev['mean_kl']:.5f}" if prev else "-",
            f"{ref['top1_agreement']:.4f}" if ref else "-", f"{ref['mean_kl']:.5f}" if ref else "-",
            f"{ref['mean_abs_dlogp']:.4f}" if ref else "-", f"{row['perplexity']:.3f}",
        )
    console.print(table)
    console.print(f"tokenization identical: {report['tokenization']['identical']} "
                  f"({report['tokenization']['texts_checked']} texts); chat prompt identical: "
                  f"{report['chat_prompt'].get('identical')}")
