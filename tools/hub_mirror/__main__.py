"""python -m tools.hub_mirror [serve|index|fill] --root DIR

serve  serve DIR as a Hugging Face hub on 127.0.0.1 (point HF_ENDPOINT at the printed URL)
index  hash DIR's repos now (only new or changed files), so that serving starts without waiting
fill   write the repos the default config names into DIR, with synthetic content in the real
       layouts, at --size tiny (a CPU rehearsal) or 8b (random weights of the real shape)

DIR holds models/<org>/<name>/ and datasets/<org>/<name>/, each a plain folder of the repo's files.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from common.errors import exit_on_user_error
from tools.hub_mirror.index import LARGE_FILE_BYTES, HashProgress
from tools.hub_mirror.repos import build_root_index
from tools.hub_mirror.running import mirror_server, prepare, url_of

console = Console(stderr=True)


@contextmanager
def hash_progress() -> Iterator[HashProgress]:
    """A bar per large file being hashed; small files hash too fast to be worth one."""
    columns = (TextColumn("hashing {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:

        def started(path: str, size: int) -> Callable[[int], None]:
            if size < LARGE_FILE_BYTES:
                return lambda _: None
            task = progress.add_task(path, total=size)
            return lambda done: progress.advance(task, done)

        yield started


def _log_to_stderr(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("tools.hub_mirror")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(root: str, host: str, port: int) -> int:
    with hash_progress() as progress:
        app, listener, repos = prepare(root, host, port, progress)
    url, root_path = url_of(listener), app.root
    if not _is_loopback(host):
        console.print(f"[bold red]warning[/]: listening on {host}; the mirror has no authentication, so "
                      f"anyone who can reach this machine can download every repo in {root_path}")
    if not repos:
        console.print(f"[yellow]note[/]: no repos found; expected {root_path}/models/<org>/<name>/ "
                      f"or {root_path}/datasets/<org>/<name>/")
    print(f"hub mirror at {url} serving {len(repos)} repos from {root_path}", flush=True)
    print(f"export HF_ENDPOINT={url}", flush=True)
    mirror_server(app, configure_logging=True).run(sockets=[listener])
    return 0


def index(root: str) -> int:
    with hash_progress() as progress:
        indexed = build_root_index(root, progress)
    for repo, snapshot in indexed:  # the commit names the content: equal shas on two sites, equal files
        print(f"{repo.kind}/{repo.repo_id}: {len(snapshot.files)} files, {snapshot.total_size / 1e9:.2f} GB, "
              f"main at {snapshot.commit}")
    print(f"indexed {len(indexed)} repos under {root}")
    return 0


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.hub_mirror", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve DIR as a hub")
    serve_parser.add_argument("--root", required=True)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    index_parser = commands.add_parser("index", help="hash DIR's repos ahead of serving")
    index_parser.add_argument("--root", required=True)
    index_parser.add_argument("--verbose", action="store_true", help="log every file hashed")
    fill_parser = commands.add_parser("fill", help="write the default config's repos into DIR")
    fill_parser.add_argument("--root", required=True)
    fill_parser.add_argument("--size", choices=("tiny", "8b"), default="tiny")
    fill_parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to quantize the 4-bit mirror")
    fill_parser.add_argument("--layers", type=int, default=None, help="8b: fewer decoder layers than 32, same width")
    args = parser.parse_args(argv)
    _log_to_stderr(getattr(args, "verbose", False))
    if args.command == "serve":
        return serve(args.root, args.host, args.port)
    if args.command == "fill":
        from pathlib import Path

        from tools.hub_mirror.fill import fill

        for repo in fill(Path(args.root), args.size, args.device, args.layers):
            print(f"wrote {repo}")
        return index(args.root)
    return index(args.root)


if __name__ == "__main__":
    sys.exit(main())
