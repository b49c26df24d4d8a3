"""Tables from benchmark result JSON files (the same tables on CPU and on the GPU host)."""

from __future__ import annotations

RECIPES = {"trl": "(1) transformers+PEFT+TRL, padding, b2 ga4", "unsloth": "(2) Unsloth notebook, b2 ga4, no packing",
           "stage": "(3) this train stage, defaults", "stage-bf16": "(4) this train stage, bf16 LoRA"}


def fmt(value, spec=",.0f"):
    return "-" if value is None else format(value, spec)


def train_table(results: list[dict]) -> str:
    lines = ["| recipe | real tokens/s | peak GPU GiB | micro-batch x accum | epoch of en (h) | of bound |",
             "|---|---|---|---|---|---|"]
    for r in results:
        if "skipped" in r or "error" in r:
            lines.append(f"| {RECIPES[r['recipe']]} | {r.get('skipped') or 'error: ' + r['error'][-120:]} | | | | |")
            continue
        lines.append(f"| {RECIPES[r['recipe']]} | {fmt(r['real_tokens_per_s'])} | {fmt(r.get('peak_gpu_gib'), '.1f')} | "
                     f"{r.get('micro_batch')} x {r.get('gradient_accumulation')} | {fmt(r.get('epoch_hours'), '.2f')} | "
                     f"{fmt(r.get('fraction_of_bound'), '.0%') if r.get('fraction_of_bound') else '-'} |")
    return "\n".join(lines)


def convert_table(steps: dict) -> str:
    lines = ["| step | wall s | peak RAM GiB |", "|---|---|---|"]
    for name, figures in steps.items():
        if isinstance(figures, dict) and "seconds" in figures:
            lines.append(f"| {name} | {figures['seconds']:.1f} | {figures.get('peak_rss_gib', '-')} |")
    return "\n".join(lines)


def serve_table(results: list[dict]) -> str:
    lines = ["| GGUF, placement | tokens | pp tokens/s (server) | request tokens/s: library | same loop | server "
             "| server overhead vs library | vs same loop |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        placement = "all layers on GPU" if r["gpu_layers"] else f"CPU, {r['threads']} threads"
        for length in r["lengths"]:
            if "skipped" in length:
                lines.append(f"| {r['gguf']}, {placement} | {length['tokens']} | not timed: {length['skipped']} |||||")
                continue
            rates = " | ".join(fmt(length[path]["tokens_per_s"], ",.1f") for path in ("library", "same_loop", "server"))
            lines.append(f"| {r['gguf']}, {placement} | {length['tokens']} | {fmt(length['server']['pp_tokens_per_s'])} | "
                         f"{rates} | {length['server_overhead']:+.1%} | {length['serving_overhead']:+.1%} |")
    return "\n".join(lines)
