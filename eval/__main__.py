"""python -m eval <command> ...

run      --config FILE [--endpoint URL --model NAME --label L] [key=value ...]
         generate (starting the serve stage on the run's GGUF when no endpoint is given), score, report
score    --generations FILE --out DIR        rescore saved generations, no model needed
compare  RUN_DIR [RUN_DIR ...] [--out DIR]   one report over several eval folders
demo     --config FILE                       base vs tuned q8_0 vs tuned q4_k_m, then compare
tasks    --config FILE [key=value ...]       each configured task: source, item count, answer choices
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.config import load_config
from common.errors import UserError, exit_on_user_error

COMMANDS = ("run", "score", "compare", "demo", "tasks")


def _score(generations: Path, out: Path) -> int:
    from eval.generate import read_generations
    from eval.report import write_run_report
    from eval.run import build_report, score_generations, write_scores

    if not generations.is_file():
        raise UserError(f"generations file not found: {generations}")
    records = read_generations(generations)
    if not records:
        raise UserError(f"{generations} holds no generations")
    rows = score_generations(records, lambda text: round(1.3 * len(text.split())))
    out.mkdir(parents=True, exist_ok=True)
    write_scores(out, rows)
    report = build_report(out.name, "(rescored from file)", "-", rows, {"source": str(generations),
                                                                      "token_counting": "estimate (words x 1.3)"})
    overall = report["overall"]
    report.update({key: overall.get(key) for key in ("accuracy", "no_answer_rate", "truncation_rate",
                                                     "format_compliance")})
    report["counts"] = {"items": overall["n"], "generations": overall["generations"], "correct": overall["correct"],
                        "format_compliant": overall["format_compliant"]}
    write_run_report(out, out.name, report)
    print(f"scored {len(rows)} generations: accuracy {overall['accuracy']}, -> {out}")
    return 0


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        raise UserError(f"unknown command {argv[0] if argv else '(none)'}; use one of {', '.join(COMMANDS)}")
    command, rest = argv[0], argv[1:]
    parser = argparse.ArgumentParser(prog=f"python -m eval {command}")
    if command == "score":
        parser.add_argument("--generations", type=Path, required=True)
        parser.add_argument("--out", type=Path, required=True)
        args = parser.parse_args(rest)
        return _score(args.generations, args.out)
    if command == "compare":
        parser.add_argument("runs", nargs="+", type=Path)
        parser.add_argument("--out", type=Path, default=None)
        args = parser.parse_args(rest)
        for folder in args.runs:
            if not (folder / "report.json").is_file() or not (folder / "scores.jsonl").is_file():
                raise UserError(f"{folder} is not a finished eval folder (no report.json and scores.jsonl)")
        from eval.report import write_comparison

        out = args.out or args.runs[0].parent / "compare"
        write_comparison(args.runs, out)
        print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
        return 0
    parser.add_argument("--config", required=True)
    if command == "run":
        parser.add_argument("--endpoint", default=None, help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
        parser.add_argument("--model", default=None)
        parser.add_argument("--label", default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(rest)
    config = load_config(args.config, args.overrides)
    if command == "tasks":
        from eval.task_table import print_task_table

        print_task_table(config)
        return 0
    if command == "demo":
        from eval.demo import run_demo

        run_demo(config, args.config, args.overrides)
        return 0
    if config.eval.against_base and not (args.endpoint or config.eval.endpoint or config.serve.gguf):
        from eval.demo import run_against_base

        run_against_base(config, args.config, args.overrides, [config.serve.quant])
        return 0
    from eval.run import run_eval

    run_eval(config, args.config, args.overrides, endpoint=args.endpoint, model=args.model, label=args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
