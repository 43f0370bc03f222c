"""The on-disk cache shared by trained SAEs, trained MLPs and their decompositions, and the one
place that says where it lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["NotCachedError", "cache_dir", "sae_doc"]


class NotCachedError(RuntimeError):
    """The requested trained artefact is not on disk and training was not allowed."""


def cache_dir() -> Path:
    """Root of the on-disk cache: $BASISGRAPH_CACHE or ~/.cache/basisgraph."""
    root = os.environ.get("BASISGRAPH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "basisgraph"


def sae_doc(key: str, root: str | Path | None = None) -> dict | None:
    """The cache's JSON entry of a trained SAE (configs and metrics), or None when the SAE is not
    (completely) cached. `key` is a sha256 hex digest; anything else is refused."""
    if not all(c in "0123456789abcdef" for c in key) or len(key) != 64:
        return None
    base = Path(root) if root is not None else cache_dir()
    js, pt = base / "sae" / f"{key}.json", base / "sae" / f"{key}.pt"
    if not (js.exists() and pt.exists()):
        return None
    try:
        return json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
