"""The tuned model against its untuned base through the llama.cpp server, on the same questions,
then one comparison report: `python -m eval demo` (the end of `make demo`: tuned q8_0 and
q4_k_m) and `python -m eval run` without an endpoint (the served quantization, eval.against_base)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.config import RunConfig
from common.errors import UserError
from common.layout import RunLayout
from eval.report import pct, write_comparison
from eval.run import run_eval


def run_demo(config: RunConfig, config_file: str, overrides: list[str]) -> Path:
    tuned = [q for q in config.convert.quant_types if q in ("q8_0", "q4_k_m")] or config.convert.quant_types[:1]
    return run_against_base(config, config_file, overrides, tuned)


def run_against_base(config: RunConfig, config_file: str, overrides: list[str], tuned: list[str]) -> Path:
    layout = RunLayout.for_run(config.runs_dir, config.name)
    base_quant = config.convert.base_quant
    if base_quant is None or not layout.base_gguf(base_quant).is_file():
        raise UserError("evaluating against the untuned base needs its GGUF: set convert.base_quant and run convert "
                        "(or eval.against_base=false)")
    plan = [(f"base-{base_quant}", [f"serve.gguf={layout.base_gguf(base_quant)}"])]
    plan += [(f"tuned-{quant}", [f"serve.quant={quant}"]) for quant in tuned]
    folders = []
    for label, extra in plan:
        folders.append(run_eval(config, config_file, [*overrides, *extra], label=label))
    out = layout.eval_root / "compare"
    comparison = write_comparison(folders, out)
    console = Console()
    table = Table(title=f"eval of {config.name}: {comparison['runs'][0]['report']['overall']['n']} questions, strict scoring")
    for column in ("run", "accuracy [95% CI]", "format compliance [95% CI]", "no answer", "truncated"):
        table.add_column(column)
    for run in comparison["runs"]:
        s = run["report"]["overall"]
        table.add_row(run["label"], f"{pct(s['accuracy'])} [{pct(s['accuracy_ci95'][0])}, {pct(s['accuracy_ci95'][1])}]",
                      f"{pct(s['format_compliance'])} [{pct(s['format_compliance_ci95'][0])}, "
                      f"{pct(s['format_compliance_ci95'][1])}]", pct(s["no_answer_rate"]), pct(s["truncation_rate"]))
    console.print(table)
    for test in comparison["tests"]:
        if test["first"].startswith("base") and test["metric"] == "format":
            console.print(f"format compliance, {test['first']} vs {test['second']}: McNemar p = {test['p_value']:.4g} "
                          f"({test['only_second']} questions compliant only when tuned, {test['only_first']} only in base)")
    console.print(f"report: {out / 'report.md'} and {out / 'report.html'}")
    return out
