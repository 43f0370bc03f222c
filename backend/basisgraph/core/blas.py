"""One BLAS thread for loops of small products (a process-wide setting, restored after).

OpenBLAS splits even a 50 x 1000 product over every core. In a loop of hundreds of such
products (the sparse completion's matching pursuit) the threads cost more than they save, and
far more on a busy machine: the completion of the `wide` preset takes about 0.2 s of CPU on one
thread and over 1 s on two. `one_blas_thread()` sets the count to 1 through the library's own
entry points (found by name in the loaded OpenBLAS; nothing happens if there is none) and puts
it back when the last user leaves. No number changes: the products are the same operations.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np  # noqa: F401  (loads the BLAS library this module looks for)

__all__ = ["one_blas_thread"]

_NAMES = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
          ("openblas_get_num_threads", "openblas_set_num_threads")]
_LOCK = threading.Lock()
_STATE = {"depth": 0, "saved": None}


@lru_cache(maxsize=1)
def _entry_points():
    """(get, set) of the loaded OpenBLAS, or None."""
    try:
        maps = open("/proc/self/maps").read()  # noqa: SIM115 - read once, closed by the GC
    except OSError:
        return None
    for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, put in _NAMES:
            if hasattr(lib, get) and hasattr(lib, put):
                return getattr(lib, get), getattr(lib, put)
    return None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with one BLAS thread (nested and concurrent uses share one restore)."""
    fns = _entry_points()
    if fns is None:
        yield
        return
    get, put = fns
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["saved"] = int(get())
            put(1)
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                put(_STATE["saved"])
