"""r1med VERB [--config FILE] [key=value ...]   (`r1med VERB --help` for a verb's options)

train     LoRA/QLoRA SFT on the configured data            -> runs/<name>/adapter/
grpo      GRPO on verifiable multiple-choice questions      -> runs/<name>-grpo/adapter/
report    the training data as training would see it        -> runs/<name>/data-report/
convert   merge, GGUF export, quantization, parity ladder   -> runs/<name>/merged/, gguf/
serve     the OpenAI-compatible server (llama.cpp or vLLM)
chat      terminal chat on the run's GGUF
check     start the server, ask one question, stop it
eval      run | score | compare | demo | tasks               -> runs/<name>/eval/
bench     the benchmarks (BENCHMARKS.md)
"""

from __future__ import annotations

import importlib
import sys

# verb -> (the stage's entry module, the arguments it is given before the user's)
VERBS = {
    "train": ("train.__main__", ["sft"]),
    "grpo": ("train.__main__", ["grpo"]),
    "report": ("train.__main__", ["report"]),
    "convert": ("convert.__main__", []),
    "serve": ("serve.__main__", ["serve"]),
    "chat": ("serve.__main__", ["chat"]),
    "check": ("serve.__main__", ["check"]),
    "eval": ("eval.__main__", []),
    "bench": ("bench.__main__", []),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}; one of {', '.join(VERBS)} (r1med --help)", file=sys.stderr)
        return 2
    module, leading = VERBS[verb]
    # stages are imported only when their verb runs: no stage imports another, and this does not either
    return importlib.import_module(module).main([*leading, *rest])


if __name__ == "__main__":
    sys.exit(main())
