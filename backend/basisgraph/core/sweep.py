"""The alpha sweep: edge counts of the union dictionary as its animal weight goes from 0 to 1.

Steps:
1. Build (or reuse) the study of the configuration; alpha does not change the model or data,
   so one study serves every point.
2. For each alpha on an even grid, form the union node set alpha·c + (1 - alpha)·c'
   (alpha = 0 is the attribute basis padded with silent animal nodes, alpha = 1 the reverse).
3. Count every circuit's edges with the same rule as the table and take the family medians.
The sweep answers whether some weighting between the two dictionaries makes both circuit
families simple at once. (It does not: each end favours one family.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from basisgraph.config import Config, ConfigError
from basisgraph.core.bases import union_node_set
from basisgraph.core.counts import FAMILIES, VERSION, circuit_stats, round_sig
from basisgraph.core.study import get_study

__all__ = ["alpha_sweep", "MAX_STEPS"]

MAX_STEPS = 21  # grid points at most (0, 0.05, ..., 1)


def alpha_sweep(cfg: Config, steps: int = 11) -> dict:
    """Family medians of local and global edges and own share for alpha on an even grid."""
    if not 2 <= int(steps) <= MAX_STEPS:
        raise ConfigError("steps", steps, f"an integer from 2 to {MAX_STEPS}")
    study = get_study(cfg.model_copy(update={"alpha": 0.5}))
    alphas = [round(float(a), 6) for a in np.linspace(0.0, 1.0, int(steps))]
    points = []
    for alpha in alphas:
        ns = union_node_set(study.node_sets, alpha)
        view = replace(study, node_sets={**study.node_sets, ns.id: ns})
        stats = [circuit_stats(view, ns.id, k) for k in range(len(study.model.circuits))]
        for fam in FAMILIES:
            st = [s for s, c in zip(stats, study.model.circuits) if c.family == fam]
            points.append({
                "alpha": alpha, "family": fam,
                "local_edges_median": _median([s.local_edges for s in st]),
                "global_edges_median": _median([s.global_edges for s in st]),
                "own_share_median": _median([s.own_share for s in st], 4)})
    return {"version": VERSION, "config": cfg.as_json(), "families": list(FAMILIES),
            "alphas": alphas, "points": points}


def _median(xs: list, sig: int = 6) -> float | None:
    vals = [x for x in xs if x is not None]
    return round_sig(float(np.median(vals)), sig) if vals else None
