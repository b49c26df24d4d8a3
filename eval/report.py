"""Reports: per run (report.json, report.md) and across runs (compare/report.md, report.html)."""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import time
from pathlib import Path

from common.artifacts import atomic_write_json, atomic_write_text
from eval.scoring import mcnemar


def pct(value, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def interval(bounds) -> str:
    return "-" if not bounds else f"[{100 * bounds[0]:.1f}, {100 * bounds[1]:.1f}]"


def num(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


METRIC_ROWS = [
    ("accuracy (strict)", lambda s: f"{pct(s.get('accuracy'))} {interval(s.get('accuracy_ci95'))}"),
    ("format compliance", lambda s: f"{pct(s.get('format_compliance'))} {interval(s.get('format_compliance_ci95'))}"),
    ("no answer", lambda s: pct(s.get("no_answer_rate"))),
    ("truncated", lambda s: pct(s.get("truncation_rate"))),
    ("think closed", lambda s: pct(s.get("think_closed_rate"))),
    ("empty-think bypass", lambda s: pct(s.get("empty_think_rate"))),
    ("reasoning tokens mean / median", lambda s: f"{num(s.get('reasoning_tokens_mean'), 0)} / "
                                                 f"{num(s.get('reasoning_tokens_median'), 0)}"),
    ("latency p50 / p95 (s)", lambda s: f"{num(s.get('latency_s_p50'), 2)} / {num(s.get('latency_s_p95'), 2)}"),
    ("generation tokens/s", lambda s: num(s.get("tokens_per_s"))),
    ("items / generations", lambda s: f"{s.get('n')} / {s.get('generations')}"),
]


def run_markdown(label: str, report: dict) -> str:
    summary = report["overall"]
    lines = [f"# Evaluation: {label}", "", f"Endpoint `{report['endpoint']}`, model `{report['model']}`, "
             f"{report['written_at']}. Accuracy is strict: no answer and truncated outputs count as wrong; "
             "intervals are 95% Wilson intervals.", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {render(summary)} |" for name, render in METRIC_ROWS]
    for extra in ("pass_at_1", "token_f1", "rouge_l"):
        if extra in summary:
            lines.append(f"| {extra} | {num(summary[extra], 3)} |")
    for key in summary:
        if key.startswith("maj_at_"):
            lines.append(f"| {key} | {pct(summary[key])} |")
    sources = report.get("sources") or {}
    if any(sources.values()):
        lines += ["", "## Sources", "", "| task | items | read from |", "|---|---|---|"]
        lines += [f"| {task} | {report['per_task'][task]['n']} | {'; '.join(where) or '-'} |"
                  for task, where in sources.items()]
    lines += ["", "## Slices", ""]
    for slice_name, groups in report["slices"].items():
        lines += [f"### {slice_name}", "", "| group | n | accuracy [95% CI] | format compliance | truncated |",
                  "|---|---|---|---|---|"]
        lines += [f"| {group} | {s['n']} | {pct(s.get('accuracy'))} {interval(s.get('accuracy_ci95'))} | "
                  f"{pct(s.get('format_compliance'))} | {pct(s.get('truncation_rate'))} |"
                  for group, s in groups.items()]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_run_report(folder: Path, label: str, report: dict) -> None:
    atomic_write_json(folder / "report.json", report)
    atomic_write_text(folder / "report.md", run_markdown(label, report))


# --- comparison across runs -----------------------------------------------------------------

def load_run(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    scores = [json.loads(line) for line in (folder / "scores.jsonl").read_text().splitlines() if line.strip()]
    return {"label": report.get("label", folder.name), "report": report, "scores": scores}


def paired_tests(runs: list[dict]) -> list[dict]:
    tests = []
    for first, second in itertools.combinations(runs, 2):
        for metric in ("correct", "format"):
            def outcome(run, metric=metric):
                rows = [r for r in run["scores"] if r["sample"] == 0]
                if metric == "correct":
                    return {r["id"]: bool(r["correct"]) for r in rows if r["correct"] is not None}
                return {r["id"]: r["think_closed"] and not r["truncated"] and r["prediction"] is not None for r in rows}
            result = mcnemar(outcome(first), outcome(second))
            tests.append({"first": first["label"], "second": second["label"], "metric": metric, **result})
    return tests


def compare_markdown(runs: list[dict], tests: list[dict]) -> str:
    header = "| metric | " + " | ".join(run["label"] for run in runs) + " |"
    lines = ["# Comparison", "", f"{time.strftime('%Y-%m-%d %H:%M')}. Strict accuracy (no answer and truncated "
             "count as wrong) with 95% Wilson intervals; McNemar exact tests on the questions both runs answered.",
             "", header, "|---" * (len(runs) + 1) + "|"]
    lines += ["| " + name + " | " + " | ".join(render(run["report"]["overall"]) for run in runs) + " |"
              for name, render in METRIC_ROWS]
    lines += ["", "## Paired tests (McNemar, exact)", "", "| first | second | metric | items | only first | only second | p |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {t['first']} | {t['second']} | {t['metric']} | {t['items']} | {t['only_first']} | "
              f"{t['only_second']} | {t['p_value']:.4f} |" for t in tests]
    return "\n".join(lines) + "\n"


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(runs: list[dict]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [run["label"] for run in runs]
    plots = {}
    for key, title in (("accuracy", "Strict accuracy"), ("format_compliance", "Format compliance")):
        figure, axis = plt.subplots(figsize=(6, 3.2))
        values = [run["report"]["overall"].get(key) or 0 for run in runs]
        bounds = [run["report"]["overall"].get(f"{key}_ci95") or [v, v] for run, v in zip(runs, values, strict=True)]
        errors = [[v - b[0] for v, b in zip(values, bounds, strict=True)],
                  [b[1] - v for v, b in zip(values, bounds, strict=True)]]
        axis.bar(labels, [100 * v for v in values], yerr=[[100 * e for e in errors[0]], [100 * e for e in errors[1]]],
                 capsize=6, color="#4a7ab5")
        axis.set_ylabel("% (95% CI)")
        axis.set_ylim(0, 105)
        axis.set_title(title)
        plots[key] = _figure_png(figure)
        plt.close(figure)
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.boxplot([[r["reasoning_tokens"] for r in run["scores"]] or [0] for run in runs], tick_labels=labels)
    axis.set_ylabel("reasoning tokens")
    axis.set_title("Reasoning length per answer")
    plots["reasoning_length"] = _figure_png(figure)
    plt.close(figure)
    return plots


def compare_html(runs: list[dict], tests: list[dict]) -> str:
    plots = _plots(runs)
    esc = html.escape
    head = "".join(f"<th>{esc(run['label'])}</th>" for run in runs)
    body = "".join("<tr><td>" + esc(name) + "</td>" + "".join(f"<td>{esc(render(run['report']['overall']))}</td>"
                                                                for run in runs) + "</tr>"
                   for name, render in METRIC_ROWS)
    test_rows = "".join(f"<tr><td>{esc(t['first'])}</td><td>{esc(t['second'])}</td><td>{t['metric']}</td>"
                        f"<td>{t['items']}</td><td>{t['only_first']}</td><td>{t['only_second']}</td>"
                        f"<td>{t['p_value']:.4f}</td></tr>" for t in tests)
    slices = ""
    for slice_name in runs[0]["report"]["slices"]:
        groups = sorted({g for run in runs for g in run["report"]["slices"].get(slice_name, {})})
        rows = "".join("<tr><td>" + esc(group) + "</td>" + "".join(
            "<td>" + esc(pct(run["report"]["slices"].get(slice_name, {}).get(group, {}).get("accuracy"))) + " / "
            + esc(pct(run["report"]["slices"].get(slice_name, {}).get(group, {}).get("format_compliance"))) + "</td>"
            for run in runs) + "</tr>" for group in groups)
        slices += f"<h3>{esc(slice_name)}</h3><table><tr><th>group</th>{head}</tr>{rows}</table>"
    images = "".join(f'<figure><img id="plot-{name}" alt="{name} plot" src="data:image/png;base64,{data}"></figure>'
                     for name, data in plots.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation comparison</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:0 1em 1em 0}}</style></head><body>
<h1>Evaluation comparison</h1>
<p>{esc(time.strftime('%Y-%m-%d %H:%M'))}. Strict accuracy: no answer and truncated outputs count as wrong.
Intervals are 95% Wilson intervals; paired tests are exact McNemar tests on the questions both runs answered.</p>
<h2>Runs</h2><table><tr><th>metric</th>{head}</tr>{body}</table>
<h2>Plots</h2>{images}
<h2>Paired tests</h2><table><tr><th>first</th><th>second</th><th>metric</th><th>items</th><th>only first right</th>
<th>only second right</th><th>p</th></tr>{test_rows}</table>
<h2>Slices (accuracy / format compliance)</h2>{slices}
</body></html>
"""


def write_comparison(folders: list[Path], out: Path) -> dict:
    runs = [load_run(folder) for folder in folders]
    tests = paired_tests(runs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.md", compare_markdown(runs, tests))
    atomic_write_text(out / "report.html", compare_html(runs, tests))
    atomic_write_json(out / "comparison.json", {"runs": [{"label": r["label"], "overall": r["report"]["overall"]}
                                                         for r in runs], "paired_tests": tests})
    return {"runs": runs, "tests": tests}
