"""python -m train [sft|grpo|report] --config FILE [key=value ...]

sft (the default) trains the adapter; grpo continues it with GRPO; report writes the data report
(runs/<name>/data-report/) from the tokenizer alone, without training."""

from __future__ import annotations

import argparse
import sys

from common.config import load_config
from common.errors import exit_on_user_error
from common.quiet import quiet_known_warnings

MODES = ("sft", "grpo", "report")


def parse_args(argv: list[str]) -> argparse.Namespace:
    mode = argv[0] if argv and argv[0] in MODES else "sft"
    rest = argv[1:] if argv and argv[0] in MODES else argv
    parser = argparse.ArgumentParser(prog="python -m train [sft|grpo|report]", description=__doc__)
    parser.add_argument("--config", required=True, help="run config YAML (configs/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_steps=10")
    args = parser.parse_args(rest)
    args.mode = mode
    return args


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config, args.overrides)
    quiet_known_warnings()
    if args.mode == "report":
        from train.data_report import write_data_report
        from train.model import load_tokenizer_only

        write_data_report(config, load_tokenizer_only(config))
    elif args.mode == "grpo":
        from train.grpo import run_grpo

        run_grpo(config)
    else:
        from train.sft import run_sft

        run_sft(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
