"""python -m convert --config FILE [key=value ...]

Merge runs/<name>/adapter into runs/<name>/merged, convert it to GGUF with llama.cpp's own
converter, quantize, write an Ollama Modelfile, and check with the parity ladder that each
artifact behaves like the one before it (exit 3 when it does not)."""

from __future__ import annotations

import argparse
import sys

from common.config import load_config
from common.errors import exit_on_user_error
from common.quiet import quiet_known_warnings


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. convert.quant_types=[q4_k_m]")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config, args.overrides)
    quiet_known_warnings()
    from convert.run import run_convert

    return run_convert(config)


if __name__ == "__main__":
    sys.exit(main())
