"""python -m serve [serve|chat|check] --config FILE [key=value ...]

serve  (default) OpenAI-compatible server: llama.cpp over the run's GGUF, or vLLM (serve.backend)
chat   terminal chat on the GGUF, reasoning shown apart from the answer
check  start the server, ask it one question through the openai client, stop it (make demo)
"""

from __future__ import annotations

import argparse
import sys

from common.config import load_config
from common.errors import exit_on_user_error

COMMANDS = ("serve", "chat", "check")


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else "serve"
    rest = argv[1:] if argv and argv[0] in COMMANDS else argv
    parser = argparse.ArgumentParser(prog=f"python -m serve {command}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    if command == "chat":
        parser.add_argument("--hide-reasoning", action="store_true", help="fold the thinking into one line")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. serve.port=8080")
    args = parser.parse_args(rest)
    config = load_config(args.config, args.overrides)
    if command == "chat":
        from serve.chat import run_chat

        return run_chat(config, hide_reasoning=args.hide_reasoning)
    if command == "check":
        from serve.check import run_check

        return run_check(config, args.config, args.overrides)
    if config.serve.backend == "vllm":
        from serve.vllm_backend import run_vllm

        return run_vllm(config)
    from serve.local import run_llama_cpp

    return run_llama_cpp(config)


if __name__ == "__main__":
    sys.exit(main())
