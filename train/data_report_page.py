"""The data report's picture (token-length histograms) and its self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io

PANELS = (("prompt_tokens", "prompt"), ("reasoning_tokens", "reasoning (think block)"),
          ("answer_tokens", "answer and turn end"), ("total_tokens", "whole example"))


def lengths_png(rows: list[dict], max_seq_length: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(PANELS), figsize=(12, 2.6))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        values = [row[key] for row in rows]
        axis.hist(values or [0], bins=30, color="#4a7ab5")
        if key == "total_tokens":
            axis.axvline(max_seq_length, color="#c0392b", linestyle="--", label="max_seq_length")
            axis.legend(fontsize=7, frameon=False, loc="upper left")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("tokens", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0].set_ylabel("examples", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    plt.close(figure)
    return buffer.getvalue()


def _table(header: list[str], rows: list[list]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _counts_table(summary: dict) -> str:
    counts = summary["counts"]
    parts = [part for part in ("train", "validation", "replay") if f"{part}_rows_in" in counts]
    keys = [("rows_in", "records read"), ("rows_kept", "records kept"), ("examples", "examples (assistant turns)"),
            ("turns_too_long", "turns over max_seq_length"), ("turns_without_reasoning", "turns without reasoning"),
            ("system_prompts", "conversations with a system prompt")]
    keys[2:2] = [(f"dropped_{reason}", f"dropped: {reason.replace('_', ' ')}")
                 for reason in ("missing_field", "bad_type", "empty", "no_assistant_turn", "duplicate", "too_long")]
    return _table(["", *parts], [[label, *(f"{counts.get(f'{part}_{key}', 0):,}" for part in parts)]
                                 for key, label in keys])


def report_html(summary: dict, png: bytes) -> str:
    esc = html.escape
    plan = summary["projection"]
    drops = [[part, reason["label"], f"{reason['count']:,}", example["record"], example["detail"]]
             for part, reasons in summary["drops"].items() for reason in reasons.values()
             for example in reason["examples"]]
    lengths = [[key.replace("_", " "), *(stats.get(name, "") for name in ("n", "min", "median", "p95", "max"))]
               for key, stats in summary["lengths"].items()]
    longest = [[row["part"], row["record"], row["turn"], row["prompt_tokens"], row["reasoning_tokens"],
                row["answer_tokens"], row["total_tokens"], "dropped: too long" if row["too_long"] else "kept",
                row["question"][:120] + ("…" if len(row["question"]) > 120 else "")] for row in summary["longest"]]
    steps = [["sequences per epoch" + (" (packed)" if plan["packed"] else ""), f"{plan['sequences_per_epoch']:,}"],
             ["micro-batch" + (" (auto: at most micro_batch_tokens / max_seq_length)" if plan["micro_batch_auto"] else ""),
              plan["micro_batch_size"]],
             ["gradient accumulation", plan["gradient_accumulation_steps"]],
             ["optimizer steps per epoch", f"{plan['steps_per_epoch']:,}"],
             ["steps in the run", f"{plan['total_steps']:,}" + (" (train.max_steps)" if plan["max_steps"] else
                                                                f" ({plan['epochs']} epochs)")],
             ["tokens per epoch", f"{plan['tokens_per_epoch']:,}"],
             ["trained tokens per epoch", f"{plan['trained_tokens_per_epoch']:,}"]]
    example = summary["example"]
    shown = ("<p>No training example is left.</p>" if example is None else
             f"<p>Record {example['record']}, turn {example['turn']}: {example['prompt_tokens']:,} prompt tokens "
             f"(grey, not trained) and <mark>{example['trained_tokens']:,} trained tokens</mark>.</p>"
             f"<pre><span class=\"prompt\">{esc(example['prompt'])}</span><mark>{esc(example['completion'])}</mark></pre>")
    warnings = "".join(f"<p class=\"warning\">{esc(line)}</p>" for line in summary["warnings"])
    image = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data report: {esc(summary['name'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 9px;text-align:left;vertical-align:top}}
pre{{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:1em}}.prompt{{color:#888}}
mark{{background:#fff3b0}}.warning{{color:#a04000}}img{{max-width:100%}}</style></head><body>
<h1>Data report: {esc(summary['name'])}</h1>
<p><code>{esc(summary['summary_line'])}</code></p>
<p>Source {esc(str(summary['sources']['train']['source']))}, tokenizer of {esc(summary['model'])},
model.max_seq_length {summary['max_seq_length']:,}. One example per assistant turn.</p>{warnings}
<h2>Records</h2>{_counts_table(summary)}
<h2>Dropped records, with examples</h2>{_table(["part", "reason", "count", "record", "why"], drops) if drops else "<p>None.</p>"}
<h2>Token lengths</h2><img id="lengths" alt="token-length histograms" src="data:image/png;base64,{image}">
{_table(["part of the example", "n", "min", "median", "p95", "max"], lengths)}
<h2>Longest examples</h2>{_table(["part", "record", "turn", "prompt", "reasoning", "answer", "total", "status", "question"], longest)}
<h2>One training example, trained tokens marked</h2>{shown}
<h2>One epoch</h2>{_table(["", ""], steps)}
</body></html>
"""
