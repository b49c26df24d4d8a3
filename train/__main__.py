"""python -m train --config FILE [key=value ...]   (SFT; `python -m train grpo ...` for GRPO)"""

from __future__ import annotations

import argparse
import sys

from common.config import load_config
from common.errors import exit_on_user_error
from common.quiet import quiet_known_warnings

MODES = ("sft", "grpo")


def parse_args(argv: list[str]) -> argparse.Namespace:
    mode = argv[0] if argv and argv[0] in MODES else "sft"
    rest = argv[1:] if argv and argv[0] in MODES else argv
    parser = argparse.ArgumentParser(prog="python -m train [sft|grpo]", description=__doc__)
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
    if args.mode == "grpo":
        from train.grpo import run_grpo

        run_grpo(config)
    else:
        from train.sft import run_sft

        run_sft(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
