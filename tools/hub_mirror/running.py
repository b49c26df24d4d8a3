"""Run the mirror: on a socket bound here (so port 0 means a free port known before serving, and a busy
port is a user error, not a traceback), in the foreground for the CLI or in a thread for tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from common.errors import UserError
from tools.hub_mirror.index import HashProgress
from tools.hub_mirror.repos import MirrorRepo
from tools.hub_mirror.server import HubMirrorApp


def open_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    # as uvicorn binds: a port whose last connections are still in TIME_WAIT is free to listen on
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, "
                        f"or --port 0 for any free one") from None
    return listener


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def mirror_server(app: HubMirrorApp, configure_logging: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        app, lifespan="off", access_log=False, log_level="warning",
        # log_config=None leaves the logging of a host process (pytest, a pipeline stage) as it is
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def prepare(root: str | Path, host: str, port: int,
            progress: HashProgress | None = None) -> tuple[HubMirrorApp, socket.socket, list[MirrorRepo]]:
    """Check the root, bind (a busy port fails at once), then bring the app's index up to date, which
    may take a while the first time."""
    app = HubMirrorApp(root)
    listener = open_listener(host, port)
    try:
        repos = [repo for repo, _ in app.index.build(progress)]
    except BaseException:
        listener.close()
        raise
    return app, listener, repos


@contextlib.contextmanager
def running_mirror(root: str | Path, host: str = "127.0.0.1",
                   startup_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve `root` from a background thread on a free port of `host`; yields the URL for HF_ENDPOINT."""
    app, listener, _ = prepare(root, host, 0)
    server = mirror_server(app, configure_logging=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="hub-mirror",
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the hub mirror was not serving within {startup_timeout_s:.0f} s")
            time.sleep(0.02)
        yield url_of(listener)
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout_s)
        listener.close()
