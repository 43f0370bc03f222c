"""Products shared across circuits and node sets, each computed once and cached.

A table asks for the same few products many times: the projections atoms @ r of a block's atoms
on each circuit's read direction, the coordinates a @ Q of every input in an axis block, and
the totals r . a. Each is computed once over the whole dataset (one pass over the operands)
and gathered by row after, under a lock so table threads share the cache. Cached entries hold
weak references to their operands and are dropped with them; the cache is bounded in bytes.

The module also lets glibc keep freed temporaries (see _reuse_freed_memory).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import weakref
from collections import OrderedDict

import numpy as np

__all__ = ["projection", "project_all", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "PROJ_BATCH"]

MMAP_THRESHOLD = 32 << 20  # glibc: blocks up to this size come from the heap, not fresh mmaps
TRIM_THRESHOLD = 256 << 20  # glibc: freed heap kept up to this size instead of returned


def _reuse_freed_memory() -> None:
    """Let glibc reuse freed memory for the many same-sized temporaries of a table.

    By default glibc hands blocks of a few MB back to the system on free and maps fresh,
    zeroed pages for the next one; the page faults then cost about a third of a default
    table. This raises the two thresholds once per process (no effect on any number, and
    nothing happens off glibc).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


if sys.platform.startswith("linux"):
    _reuse_freed_memory()


_PROJ: OrderedDict = OrderedDict()  # (id(a), id(b)) -> (a, b, a @ b)
_PROJ_BYTES = 256 << 20  # bound on the cached products
_LOCK = threading.Lock()


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, computed once per (a, b) pair while both arrays live (read-only result)."""
    key = (id(a), id(b))
    with _LOCK:
        hit = _PROJ.get(key)
        if hit is not None and hit[0]() is a and hit[1]() is b:
            _PROJ.move_to_end(key)
            return hit[2]
    out = a @ b
    out.flags.writeable = False
    with _LOCK:
        _PROJ[key] = (weakref.ref(a), weakref.ref(b), out)
        while len(_PROJ) > 1 and sum(v[2].nbytes for v in _PROJ.values()) > _PROJ_BYTES:
            _PROJ.popitem(last=False)
    return out


def projection(atoms: np.ndarray, read: np.ndarray) -> np.ndarray:
    """atoms @ read, computed once per (atoms, read) pair and shared by every node set whose
    block reuses those atoms (animal, half, unions).  (size, d), (d,) -> (size,)"""
    return _product(atoms, read)


PROJ_BATCH = 4_000_000  # atoms (size x d) from which projections are taken for all reads at once


def project_all(atoms: np.ndarray, reads: list[np.ndarray]) -> None:
    """Cache atoms @ read for many reads with one matrix product (one pass over the atoms).

    Only for large atom arrays, where reading them once per circuit dominates; small ones
    keep the per-read product.  (size, d), [(d,)] -> None
    """
    if atoms.size < PROJ_BATCH or not reads:
        return
    with _LOCK:
        todo = []
        for r in reads:
            hit = _PROJ.get((id(atoms), id(r)))
            if hit is None or hit[0]() is not atoms or hit[1]() is not r:
                todo.append(r)
    if not todo:
        return
    prods = atoms @ np.stack(todo, axis=1)  # (size, reads)
    with _LOCK:
        for j, r in enumerate(todo):
            col = np.ascontiguousarray(prods[:, j])
            col.flags.writeable = False
            _PROJ[(id(atoms), id(r))] = (weakref.ref(atoms), weakref.ref(r), col)
        while len(_PROJ) > 1 and sum(v[2].nbytes for v in _PROJ.values()) > _PROJ_BYTES:
            _PROJ.popitem(last=False)


def _totals(acts: np.ndarray, read: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """r . a of the given rows, from one product over the whole dataset.  -> (n,)"""
    return _product(acts, read)[rows]


_EYE: dict[int, tuple[weakref.ref, bool]] = {}  # id(q) -> (q, q is the identity)


def _coords(acts: np.ndarray, q: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(acts @ q)[rows], the product taken once over every row of `acts` and cached, so the
    circuits of a study share it. For the identity (the neuron basis) that product is
    acts + 0.0 to the bit: each output adds one exact product x * 1 to exact zeros, in
    whatever order, and a -0.0 input comes out +0.0.  -> (n, size)"""
    with _LOCK:
        ref, eye = _EYE.get(id(q), (None, False))
        if ref is None or ref() is not q:
            for key in [k for k, (r, _) in _EYE.items() if r() is None]:
                del _EYE[key]
            eye = q.ndim == 2 and q.shape[0] == q.shape[1] and np.array_equal(q, np.eye(len(q)))
            _EYE[id(q)] = (weakref.ref(q), eye)
    sub = acts if rows is None else acts[rows]
    if eye and np.isfinite(sub).all():
        return sub + 0.0
    if rows is None:
        return acts @ q
    return _product(acts, q)[rows]
