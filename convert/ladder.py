"""The parity ladder over one run's artifacts: which models are scored, in what order, against
which gates, and the table printed at the end (the scoring itself is convert/parity.py)."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.config import ParitySection
from common.errors import UserError
from common.layout import HELDOUT_FILE, RunLayout
from convert import parity
from convert.base_weights import BaseWeights


@dataclass
class LadderInputs:
    layout: RunLayout
    settings: ParitySection
    trained_base: BaseWeights  # what the adapter was trained against: the reference (a) carries it
    original_base: BaseWeights | None  # a QLoRA adapter's 16-bit original; None for a 16-bit adapter
    written_label: str  # which of the two the merged model was built on: "dequantized" or "original"
    gguf_kinds: list[str]  # 16-bit kind first, then the quantized ones
    threads: int | None


def _parity_dtype(merged: Path, device: str):
    """float32 wherever the model fits: llama.cpp computes in float32, and a bfloat16 reference
    flips the argmax of near-flat predictions (BENCHMARKS.md, parity ladder). bfloat16 only on a
    GPU too small for float32."""
    import torch

    if device != "cuda":
        return torch.float32
    weight_bytes = sum(f.stat().st_size for f in merged.glob("*.safetensors"))  # written in 16 bits
    free, _ = torch.cuda.mem_get_info()
    return torch.float32 if weight_bytes * 2 * 1.15 < free else torch.bfloat16


def run_ladder(inputs: LadderInputs, console: Console) -> dict:
    """Score each form on the held-out rows, compare each with the one before and with (a), score
    the merge onto the other base, check tokens and the chat prompt, and gate."""
    from transformers import AutoTokenizer

    layout, settings = inputs.layout, inputs.settings
    tokenizer = AutoTokenizer.from_pretrained(layout.merged)
    samples = parity.load_heldout(layout.adapter / HELDOUT_FILE, settings.prompts)
    if not samples:
        raise UserError(f"{layout.adapter / HELDOUT_FILE} has no rows: train with a validation split")
    items = [parity.encode(tokenizer, sample, settings.max_tokens) for sample in samples]
    scorer = _Scorer(inputs, items)
    steps, reference = _score_ladder(_rungs(inputs, scorer), items, console)
    merge_bases = _other_merge_base(inputs, scorer, items, steps, reference)

    full = layout.gguf(inputs.gguf_kinds[0])
    mismatches = parity.tokenization_mismatches(tokenizer, full, samples)
    chat = parity.chat_prompt_check(full, [sample.question for sample in samples[:4]], tokenizer)
    failures = gate_failures("merged vs base+adapter", steps[1]["vs_previous"], settings.merged_min_top1,
                             settings.merged_max_kl)
    failures += gate_failures(f"{inputs.gguf_kinds[0]} GGUF vs merged", steps[2]["vs_previous"],
                              settings.f16_min_top1, settings.f16_max_kl)
    if mismatches:
        failures.append(f"tokenization differs between PyTorch and the GGUF on {len(mismatches)} text(s)")
    if not chat.get("identical"):
        failures.append(f"chat prompt: {chat.get('reason')}")
    return {
        "samples": len(items),
        "tokens_scored": int(sum(len(item.ids) - item.prompt_len for item in items)),
        "scored_positions": "positions predicting the held-out completion (think block and answer)",
        "torch_dtype": str(scorer.dtype).removeprefix("torch."),
        "merge_base": inputs.written_label,
        "reference_base": inputs.trained_base.description,
        "thresholds": settings.model_dump(),
        "steps": steps,
        "merge_bases": merge_bases,
        "tokenization": {"identical": not mismatches, "texts_checked": 2 * len(samples), "mismatches": mismatches},
        "chat_prompt": chat,
        "failures": failures,
        "passed": not failures,
    }


class _Scorer:
    """Log-probabilities of the held-out completions under a PyTorch model (loaded, scored, freed)
    or a GGUF in llama.cpp."""

    def __init__(self, inputs: LadderInputs, items: list) -> None:
        import torch

        self.inputs, self.items = inputs, items
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dtype = _parity_dtype(inputs.layout.merged, self.device)

    def torch(self, load):
        import torch

        model = load(self.dtype, self.device)
        scores = parity.torch_scores(model, self.items)
        del model
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
        return scores

    def gguf(self, path: Path):
        gpu_layers = -1 if self.device == "cuda" else 0
        return parity.llama_cpp_scores(path, self.items, self.inputs.threads, gpu_layers,
                                       self.inputs.layout.gguf_dir / "parity-llama.log")


def _rungs(inputs: LadderInputs, scorer: _Scorer) -> list[tuple[str, str, object]]:
    """(label, artifact, score) for (a) base+adapter, (b) merged, (c) the 16-bit GGUF, (d) each quant."""
    from transformers import AutoModelForCausalLM

    from convert.reference import base_with_adapter

    layout = inputs.layout
    rungs = [("a: base+adapter (torch)", "adapter",
              lambda: scorer.torch(lambda dtype, device: base_with_adapter(inputs.trained_base, layout.adapter,
                                                                           dtype, device))),
             ("b: merged (torch)", "merged",
              lambda: scorer.torch(lambda dtype, device: AutoModelForCausalLM.from_pretrained(
                  layout.merged, dtype=dtype, device_map={"": device}).eval()))]
    for kind in inputs.gguf_kinds:
        path = layout.gguf(kind)
        label = f"c: {kind} GGUF (llama.cpp)" if kind == inputs.gguf_kinds[0] else f"d: {kind} GGUF"
        rungs.append((label, path.name, lambda path=path: scorer.gguf(path)))
    return rungs


def _score_ladder(rungs: list, items: list, console: Console) -> tuple[list[dict], parity.Scores]:
    steps, reference, previous = [], None, None
    with console.status("parity ladder") as status:
        for label, artifact, score in rungs:
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
    return steps, reference


def _other_merge_base(inputs: LadderInputs, scorer: _Scorer, items: list, steps: list[dict],
                      reference: parity.Scores) -> dict | None:
    """A QLoRA adapter can be merged onto either base: the one not written is scored in memory."""
    from convert.reference import merged_in_memory

    if inputs.original_base is None:
        return None
    bases = {"dequantized": inputs.trained_base, "original": inputs.original_base}
    other_label = "original" if inputs.written_label == "dequantized" else "dequantized"
    other = parity.Scores(scorer.torch(lambda dtype, device: merged_in_memory(bases[other_label], inputs.layout.adapter,
                                                                               dtype, device)), items)
    return {"written": inputs.written_label,
            "vs_a": {inputs.written_label: steps[1]["vs_previous"], other_label: parity.compare(reference, other)},
            "bases": {label: base.description for label, base in bases.items()}}


def gate_failures(label: str, comparison: dict, min_top1: float, max_kl: float) -> list[str]:
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


def print_ladder(report: dict, console: Console) -> None:
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
    if report.get("reference_base"):
        console.print(f"reference (a): {report['reference_base']}")
    bases = report.get("merge_bases")
    if bases:
        other = next(label for label in bases["vs_a"] if label != bases["written"])
        console.print(f"merged onto the {other} base instead: top-1 vs a "
                      f"{bases['vs_a'][other]['top1_agreement']:.4f}, KL vs a {bases['vs_a'][other]['mean_kl']:.5f}")
    console.print(f"tokenization identical: {report['tokenization']['identical']} "
                  f"({report['tokenization']['texts_checked']} texts); chat prompt identical: "
                  f"{report['chat_prompt'].get('identical')}")
