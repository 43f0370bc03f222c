"""Sweeps: the union dictionary's counts across alpha, and every node set's counts across samples.

Steps of `alpha_sweep`:
1. Build (or reuse) the study of the configuration; alpha does not change the model or data,
   so one study serves every point.
2. For each alpha on an even grid, form the union node set alpha·c + (1 - alpha)·c'
   (alpha = 0 is the attribute basis padded with silent animal nodes, alpha = 1 the reverse).
3. Count every circuit's edges with the same rule as the table and take the family medians.
The sweep answers whether some weighting between the two dictionaries makes both circuit
families simple at once. (It does not: each end favours one family.)

Steps of `samples_sweep` (global counts grow with the dataset: more inputs reach more nodes):
1. The grid is SAMPLES_GRID (doubling from 500), cut at `max_samples`, at the configuration's
   data limit (samples x d_model) and, with a budget, at the cost model's admission of the
   whole sweep (the sum of one table per point); asking beyond a cut is a ConfigError naming
   `max_samples` and the largest value allowed.
2. One `table` per grid point, the configuration otherwise unchanged, so every point is exactly
   that table's cells: each node set's and family's local and global medians and error share.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from basisgraph.config import MAX_DATA, Config, ConfigError
from basisgraph.core.bases import union_node_set
from basisgraph.core.cost import Budget, admit, predict
from basisgraph.core.counts import FAMILIES, VERSION, circuit_stats, round_sig, table
from basisgraph.core.study import get_study

__all__ = ["alpha_sweep", "MAX_STEPS", "SAMPLES_GRID", "samples_grid", "samples_sweep"]

MAX_STEPS = 21  # grid points at most (0, 0.05, ..., 1)
# Dataset sizes of the samples sweep: doubling, so the points are evenly spaced on a log axis,
# up to Config's largest `samples`.
SAMPLES_GRID = (500, 1000, 2000, 4000, 8000, 16000, 20000)


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


def samples_grid(cfg: Config, max_samples: int | None = None, budget: Budget | None = None) -> list[int]:
    """The grid points of the samples sweep for `cfg` (see the module's steps).

    Without `max_samples` the grid runs as far as the data limit and the budget allow; with it,
    a value past either is a ConfigError naming `max_samples`."""
    lo, hi = SAMPLES_GRID[0], SAMPLES_GRID[-1]
    if max_samples is not None and not (isinstance(max_samples, int) and lo <= max_samples <= hi):
        raise ConfigError("max_samples", max_samples, f"an integer from {lo} to {hi}")
    data_cap = MAX_DATA // cfg.d_model
    grid, seconds = [], 0.0
    for s in SAMPLES_GRID:
        if max_samples is not None and s > max_samples:
            break
        if s > data_cap:
            if max_samples is not None:
                raise ConfigError("max_samples", max_samples,
                                  f"an integer from {lo} to {min(hi, data_cap)} "
                                  f"(samples x (attributes + random_dims) is at most {MAX_DATA})")
            break
        cost = predict(cfg.model_copy(update={"samples": s}))
        seconds += cost.seconds
        if budget is not None and (seconds > budget.seconds or cost.bytes > budget.bytes):
            if not grid:  # not even the first point fits: name the size field to lower
                admit(cfg.model_copy(update={"samples": s}), budget)
            if max_samples is not None:
                raise ConfigError("max_samples", max_samples, (
                    f"an integer from {lo} to {grid[-1]} with the other values as given (the sweep "
                    f"up to {s} is predicted at {seconds:.1f} s; a request may take {budget.seconds:g} s)"))
            break
        grid.append(s)
    return grid


def samples_sweep(cfg: Config, grid: tuple[int, ...] | list[int]) -> dict:
    """Every node set's family medians at each `samples` of `grid` (one `table` per point)."""
    if not grid or any(s not in SAMPLES_GRID for s in grid):
        raise ConfigError("max_samples", list(grid), f"points of {list(SAMPLES_GRID)}")
    points, bases = [], None
    for s in grid:
        t = table(cfg.model_copy(update={"samples": int(s)}))
        bases = bases or [{"id": b["id"], "label": b["label"], **({"oracle": b["oracle"]} if "oracle" in b else {})}
                          for b in t["bases"]]
        points += [{"samples": int(s), "basis": c["basis"], "family": c["family"],
                    "global_edges_median": c["global_edges_median"],
                    "local_edges_median": c["local_edges_median"],
                    "error_share_median": c["error_share_median"]} for c in t["cells"]]
    return {"version": VERSION, "config": cfg.as_json(), "families": list(FAMILIES), "bases": bases,
            "samples": [int(s) for s in grid], "points": points}
