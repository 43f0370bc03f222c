"""The byte-bounded LRU cache and the byte count of cached objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basisgraph.config import Config
from basisgraph.core import study as study_mod
from basisgraph.core.memo import ByteLRU, nbytes


@dataclass(frozen=True)
class _Pair:
    a: np.ndarray
    b: dict


def test_nbytes_counts_each_array_once():
    x = np.zeros(100)  # 800 bytes
    pair = _Pair(x, {"same": x, "other": np.zeros(10, np.float32), "text": "ignored"})
    assert nbytes(pair) == 800 + 40
    assert nbytes([b"abc", (np.zeros(2),)]) == 3 + 16


def test_lru_evicts_the_least_recently_used_to_stay_in_budget():
    cache: ByteLRU[bytes] = ByteLRU(10, size=len)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")  # 12 bytes > 10: b goes
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    assert cache.stats() == {"entries": 2, "bytes": 8, "budget": 10}
    cache.put("huge", b"x" * 11)  # larger than the whole budget: not stored, nothing evicted
    assert cache.get("huge") is None and len(cache) == 2
    cache.put("a", b"12")  # replacing a value frees the old size
    assert cache.stats()["bytes"] == 6


def test_study_cache_is_bounded_in_bytes(monkeypatch):
    small: ByteLRU = ByteLRU(1)
    monkeypatch.setattr(study_mod, "_STUDIES", small)
    small.budget = 3 * nbytes(study_mod.build_study(Config(preset="bunny", seed=9101))) // 2
    for seed in (9101, 9102, 9103):
        study_mod.get_study(Config(preset="bunny", seed=seed))
        assert small.stats()["bytes"] <= small.budget
    assert len(small) == 1  # room for one bunny study, not three
