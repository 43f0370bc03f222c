"""The disk cache's byte budget: usage, and least-recently-used eviction.

An entry is the set of files in one folder that share a name up to its first dot (an SAE's
`<key>.pt` and `<key>.json`; `mlp-<key>.pt`; `spd-<key>.pt`). Its last use is the newest access
or modification time of its files (the kernel's atime, and explicit touches by job look-ups).

Steps of `enforce`:
1. Sum the bytes of every file under the cache (the job store included).
2. While the sum is over the budget, remove the least recently used entry, skipping the job store
   (`jobs/`), files being written (temporary names) and entries used since `keep_since`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from basisgraph.cache import cache_dir

__all__ = ["BUDGET_ENV", "DEFAULT_BUDGET", "cache_budget", "cache_usage", "enforce"]

BUDGET_ENV = "BASISGRAPH_CACHE_BYTES"
DEFAULT_BUDGET = 2 * 1024**3  # bytes: 2 GiB
_USAGE_TTL_S = 5.0  # /health asks often; the walk is repeated at most this often per cache
_usage_memo: dict[str, tuple[float, dict[str, Any]]] = {}


def cache_budget() -> int:
    """The byte budget: $BASISGRAPH_CACHE_BYTES (a whole number of bytes) or 2 GiB."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_BUDGET


def _files(root: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                out.append((path, path.stat()))
            except OSError:
                continue  # removed while walking
    return out


def _entries(root: Path, files: list[tuple[Path, os.stat_result]]) -> dict[tuple[Path, str], list]:
    """(folder, name stem) -> [(path, stat)], for the files eviction may remove."""
    groups: dict[tuple[Path, str], list] = {}
    store = root / "jobs"
    for path, st in files:
        if path.parent == store or "tmp" in path.name.split(".")[-1] or ".tmp" in path.name:
            continue
        groups.setdefault((path.parent, path.name.split(".", 1)[0]), []).append((path, st))
    return groups


def cache_usage(root: Path | None = None) -> dict[str, Any]:
    """{"bytes", "budget", "files", "path"} of the cache (for /api/v1/health); at most
    _USAGE_TTL_S old."""
    base = Path(root) if root is not None else cache_dir()
    memo = _usage_memo.get(str(base))
    if memo is not None and time.monotonic() - memo[0] < _USAGE_TTL_S:
        return memo[1]
    files = _files(base) if base.is_dir() else []
    usage = {"bytes": sum(st.st_size for _, st in files), "budget": cache_budget(),
             "files": len(files), "path": str(base)}
    _usage_memo[str(base)] = (time.monotonic(), usage)
    return usage


def enforce(root: Path | None = None, *, budget: int | None = None,
            keep_since: float = float("inf")) -> list[Path]:
    """Evict least recently used entries until the cache fits its budget; the removed files."""
    base = Path(root) if root is not None else cache_dir()
    limit = cache_budget() if budget is None else budget
    files = _files(base) if base.is_dir() else []
    used = sum(st.st_size for _, st in files)
    removed: list[Path] = []
    entries = _entries(base, files)

    def last_use(group: list) -> float:
        return max(max(st.st_atime, st.st_mtime) for _, st in group)

    for key in sorted(entries, key=lambda k: last_use(entries[k])):
        if used <= limit:
            break
        group = entries[key]
        if last_use(group) >= keep_since:
            continue  # used by the job that just ran: keep it
        # The JSON of an SAE marks a complete entry: remove it first, so a half-removed entry
        # reads as absent rather than damaged.
        for path, st in sorted(group, key=lambda f: f[0].suffix != ".json"):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            used -= st.st_size
            removed.append(path)
    _usage_memo.pop(str(base), None)
    return removed
