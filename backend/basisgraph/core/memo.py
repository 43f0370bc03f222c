"""A least-recently-used cache bounded in bytes rather than entries, and a byte count of the
numpy arrays an object holds, so a cache of studies or response bodies has a known ceiling
whatever the configurations asked for."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["ByteLRU", "nbytes"]

V = TypeVar("V")


def nbytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by the numpy arrays (and bytes objects) reachable from `obj` through
    dataclass fields, dicts, lists and tuples; each array counted once. Python object overhead
    is left out: the arrays dominate every cached object here."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes) if obj.base is None or id(obj.base) not in seen else 0
    if isinstance(obj, bytes | bytearray):
        return len(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(nbytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return sum(nbytes(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(nbytes(v, seen) for v in obj)
    return 0


class ByteLRU(Generic[V]):
    """A thread-safe LRU map whose values' sizes (given by `size`) sum to at most `budget`.

    A value larger than the whole budget is not stored. Eviction drops the least recently
    used entries first.
    """

    def __init__(self, budget: int, size: Callable[[V], int] = nbytes):
        self.budget = int(budget)  # bytes
        self._size = size
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under `key` (marked as just used), or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V) -> None:
        """Store `value`, evicting least recently used entries to stay within the budget."""
        size = self._size(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= old[1]
            if size > self.budget:
                return
            self._items[key] = (value, size)
            self._used += size
            while self._used > self.budget:
                _, (_, dropped) = self._items.popitem(last=False)
                self._used -= dropped

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._used = 0

    def stats(self) -> dict[str, int]:
        """Entries, bytes used and the budget."""
        with self._lock:
            return {"entries": len(self._items), "bytes": self._used, "budget": self.budget}

    def __len__(self) -> int:
        return len(self._items)
