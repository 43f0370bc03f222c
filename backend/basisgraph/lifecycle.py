"""Child processes that end with their parent: the compute workers and the training worker both
ask the kernel to kill them when the process that started them dies, so a SIGKILLed server
never leaves a worker behind."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # prctl option: the signal sent when the parent (thread) exits


def die_with_parent() -> None:
    """On Linux, have this process receive SIGKILL when its parent dies; elsewhere do nothing
    (the callers also watch a pipe from the parent)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
