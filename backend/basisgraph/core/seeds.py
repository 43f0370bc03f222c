"""Uncertainty: the table over several seeds, with each cell's median and range.

Every number of one table comes from one seed: one draw of the model, its circuits and its
data. Steps of `table_across_seeds`:
1. Build the table at seeds s, s + 1, ..., s + n - 1 (s = the configured seed), nothing else
   changed.
2. Return the table of seed s itself, with every cell given `across_seeds`: for its local and
   global counts and its error share, the median over the seeds and the smallest and largest
   value (seeds where no circuit of the family fires are left out).
The single-seed numbers stay where they were, so a client that ignores the new key sees the
table of the configured seed.
"""

from __future__ import annotations

import numpy as np

from basisgraph.config import Config, ConfigError
from basisgraph.core.counts import round_sig, table

__all__ = ["MAX_SEEDS", "table_across_seeds", "check_seeds"]

MAX_SEEDS = 9  # each seed builds a whole study: bounded to keep a request within seconds
KEYS = {"local_edges": "local_edges_median", "global_edges": "global_edges_median",
        "error_share": "error_share_median"}


def check_seeds(seeds: object) -> int:
    """`seeds` as an int in 1..MAX_SEEDS, or ConfigError naming the field."""
    allowed = f"an integer from 1 to {MAX_SEEDS}"
    try:
        n = int(str(seeds))
    except ValueError:
        raise ConfigError("seeds", seeds, allowed) from None
    if not 1 <= n <= MAX_SEEDS:
        raise ConfigError("seeds", seeds, allowed)
    return n


def _spread(values: list[float | None]) -> dict | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": round_sig(float(np.median(vals))), "min": min(vals), "max": max(vals)}


def table_across_seeds(cfg: Config, seeds: int) -> dict:
    """`table(cfg)` with each cell's median and range over `seeds` consecutive seeds."""
    n = check_seeds(seeds)
    if cfg.seed + n - 1 > 2**32 - 1:
        raise ConfigError("seeds", seeds, "a count that keeps seed + seeds - 1 within 4294967295")
    base = table(cfg)
    if n == 1:
        return base
    others = [table(Config.model_validate({**cfg.model_dump(), "seed": cfg.seed + i}))
              for i in range(1, n)]
    cells = []
    for c in base["cells"]:
        same = [c] + [next(o for o in t["cells"] if (o["basis"], o["family"]) == (c["basis"], c["family"]))
                      for t in others]
        cells.append({**c, "across_seeds": {k: _spread([s[v] for s in same]) for k, v in KEYS.items()}})
    return {**base, "seeds": [cfg.seed + i for i in range(n)], "cells": cells}
