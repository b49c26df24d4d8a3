"""Write the offline data set under data/ from the hand-written knowledge base.

    python -m tools.offline_data            # writes data/*.jsonl and data/README.md
    python -m tools.offline_data --check    # exit 1 if a file differs from what it would write

Run from the repository root. Deterministic (random.Random with a fixed seed; PyYAML reads the
knowledge base, data/knowledge/conditions.yaml). Every row is synthetic, composed from the
knowledge base and the package's templates; nothing is copied from any data set, and nothing
here is clinical advice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build
from .knowledge import KnowledgeBaseError

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data"), help="output folder (default: data/ in the repository)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        files = build()
    except KnowledgeBaseError as error:
        print(error, file=sys.stderr)
        return 1
    if args.check:
        for name, text in files.items():
            path = out / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                state = "missing" if not path.is_file() else "differs"
                print(f"{path} {state} from the generator; run: python -m tools.offline_data --out {out}")
                return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
