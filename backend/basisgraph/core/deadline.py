"""Cooperative deadlines: a long computation checks, between steps, whether its caller has given
up, and stops instead of burning CPU for an answer nobody will read.

The web layer runs each computation under `until(t)`; the core calls `check()` between
(node set, circuit) pairs and between chunks of inputs. Outside `until` nothing ever expires, so
the CLI and notebooks are unaffected. The deadline is per thread; `current()` lets code that
fans out to its own threads carry it along.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["DeadlineExceeded", "until", "check", "current"]

_LOCAL = threading.local()


class DeadlineExceeded(RuntimeError):
    """The computation ran past the deadline its caller set."""


def current() -> float | None:
    """This thread's deadline (a `time.monotonic()` value), or None."""
    return getattr(_LOCAL, "deadline", None)


@contextlib.contextmanager
def until(deadline: float | None) -> Iterator[None]:
    """Run the block under `deadline` (monotonic seconds; None: no limit). Nested blocks keep
    the earlier of the two deadlines."""
    before = current()
    if deadline is not None and before is not None:
        deadline = min(deadline, before)
    _LOCAL.deadline = deadline if deadline is not None else before
    try:
        yield
    finally:
        _LOCAL.deadline = before


def check() -> None:
    """Raise DeadlineExceeded when this thread's deadline has passed."""
    deadline = current()
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("the computation ran past its deadline")
