"""`python -m train report`: what the train stage would make of the configured data, before any
GPU hour. Only the tokenizer is loaded. Written to runs/<name>/data-report/ (report.html,
lengths.png, summary.json), all three or none."""

from __future__ import annotations

import json
from pathlib import Path

from common.artifacts import staged_dir
from common.config import RunConfig, config_as_dict
from common.errors import UserError
from common.layout import RunLayout
from train.data import REASON_WORDS, prepare_sft_data
from train.data_summary import projection, summary_line
from train.examples import RECORD

LENGTHS = ("prompt_tokens", "reasoning_tokens", "answer_tokens")
LONGEST = 10


def _stats(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(ordered), "min": ordered[0], "median": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1]}


def _example_rows(prepared) -> list[dict]:
    """Every example of the configured source (train and validation parts, over-long ones too)."""
    rows = []
    for name in ("train", "validation"):
        part = prepared.parts.get(name)
        if part is None or not len(part.examples):
            continue
        columns = part.examples.select_columns([RECORD, "turn", "question", "too_long", *LENGTHS]).to_dict()
        for index in range(len(part.examples)):
            rows.append({"part": name, **{key: values[index] for key, values in columns.items()}})
    for row in rows:
        row["total_tokens"] = sum(row[key] for key in LENGTHS)
        row["record"] = row.pop(RECORD)
    return rows


def _marked_example(prepared, tokenizer) -> dict | None:
    """One training example as text: the prompt (not trained) and the completion (trained); a
    later turn of a conversation where there is one, since it shows what earlier turns become."""
    kept = prepared.parts["train"].kept
    if not len(kept):
        return None
    records = kept[RECORD]
    index = next((i for i in range(1, len(records)) if records[i] == records[i - 1]), 0)
    example = kept[index]
    mask = example["completion_mask"]
    start = mask.index(1)
    ids = example["input_ids"]
    return {"record": example[RECORD], "turn": example["turn"], "prompt": tokenizer.decode(ids[:start]),
            "completion": tokenizer.decode(ids[start:]), "prompt_tokens": start, "trained_tokens": len(ids) - start}


def build_report(config: RunConfig, tokenizer) -> tuple[dict, list[dict], UserError | None]:
    prepared = prepare_sft_data(config.data, tokenizer, config.model.max_seq_length, strict=False)
    plan = projection(config, prepared)
    rows = _example_rows(prepared)
    drops = {}
    for name, part in prepared.parts.items():
        for reason, examples in part.drops.items():
            drops.setdefault(name, {})[reason] = {"count": part.counts[f"{name}_dropped_{reason}"],
                                                  "label": REASON_WORDS[reason], "examples": examples}
    summary = {
        "name": config.name, "config_file": config.source_file, "model": config.model.id,
        "max_seq_length": config.model.max_seq_length, "sources": prepared.sources,
        "format_detected": prepared.format_detected, "usable": prepared.unusable is None,
        "summary_line": summary_line(prepared, plan), "counts": prepared.counts, "drops": drops,
        "warnings": prepared.warnings, "lengths": {key: _stats([row[key] for row in rows])
                                                   for key in (*LENGTHS, "total_tokens")},
        "longest": sorted(rows, key=lambda row: -row["total_tokens"])[:LONGEST],
        "projection": plan, "example": _marked_example(prepared, tokenizer),
        "config": config_as_dict(config),
    }
    return summary, rows, prepared.unusable


def write_data_report(config: RunConfig, tokenizer) -> Path:
    """Write the report; raises the UserError of data with nothing usable only once it is written."""
    from train.data_report_page import lengths_png, report_html

    summary, rows, unusable = build_report(config, tokenizer)
    png = lengths_png(rows, config.model.max_seq_length)
    folder = RunLayout.for_run(config.runs_dir, config.name).data_report
    with staged_dir(folder) as staging:
        (staging / "lengths.png").write_bytes(png)
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        (staging / "report.html").write_text(report_html(summary, png), encoding="utf-8")
    print(summary["summary_line"])
    for part, reasons in summary["drops"].items():
        for reason in reasons.values():
            first = reason["examples"][0]
            print(f"  {part}: {reason['label']} {reason['count']:,}, e.g. record {first['record']}: {first['detail']}")
    print(f"data report: {folder / 'report.html'}")
    if unusable is not None:
        raise unusable
    return folder
