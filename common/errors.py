"""Errors a user can cause end as one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

USER_ERROR_EXIT = 2

F = TypeVar("F", bound=Callable[..., int | None])


class UserError(Exception):
    """A problem the user can fix (bad config, missing file, unreachable endpoint, full disk)."""


def exit_on_user_error(main: F) -> F:
    """Wrap a stage's `main` so a UserError prints one line and exits 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
