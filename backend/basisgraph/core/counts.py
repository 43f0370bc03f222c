"""Edge counts: how many edges a circuit needs under each node set.

Steps, for every (node set, circuit):
1. Take the inputs on which the circuit fires and their feature edges (attribution.py).
2. local: per input, the fewest edges whose |weight| covers a fraction tau of that input's total
   |feature attribution| (largest first, as in cumulative-influence pruning). The circuit's
   number is the median over its active inputs.
3. global: the same rule on the mean |edge| over the whole dataset.
4. union: the distinct nodes kept by the local rule on any input.
5. own share: the signed share of the circuit's input r . a carried by its own feature's node,
   median over inputs where that feature is present (animal circuits: the animal is active).
6. error share: median of |error| / (sum of |feature edges| + |error|). The error node is shown
   but never counted as an edge.
Family numbers are medians over the family's circuits that fire at least once.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from basisgraph.config import Config
from basisgraph.core import deadline
from basisgraph.core.attribution import edge_chunks, project_all
from basisgraph.core.bases import NodeSet, basis_ids, reconstruction
from basisgraph.core.cover import cover_long
from basisgraph.core.study import Study, get_study

__all__ = [
    "CircuitStats", "descending", "cover_counts", "circuit_stats", "table", "round_sig", "basis_summary",
    "node_set_summary", "VERSION", "ORACLE",
]

VERSION = 1
ORACLE = "oracle: uses the true features"  # what the mixed view is (version-2 bodies say so)
FAMILIES = ("animal", "attribute", "composite")
TOL = 1e-9  # relative slack so float round-off never adds an edge
ROUNDOFF = 1e-9  # shares and errors below this are round-off, reported as 0
LONG_ROW = 2048  # rows at least this long skip the full sort (cover.py)
THREADS = 2  # worker threads for large tables
THREADED_ANIMALS = 5000  # node sets at least this large are counted on threads


def round_sig(x: float | None, sig: int = 6, floor: float = 0.0) -> float | None:
    """Round to `sig` significant digits, so JSON is identical across machines.

    Magnitudes below `floor` are round-off (their digits depend on the maths library) and
    become 0.
    """
    if x is None or not np.isfinite(x):
        return None
    if abs(x) <= floor:
        return 0.0
    return float(f"{x:.{sig}g}")


def descending(absvals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted descending (float32) and their running sums (float64).

    (n, L) -> (n, L), (n, L). Sorting float32 halves the cost; summing in float64 keeps tau = 1
    exact; both are plain IEEE operations, so every machine gets the same counts.
    """
    srt = np.sort(np.asarray(absvals, dtype=np.float32), axis=1)[:, ::-1]
    # Accumulate all rows side by side (one vector add per column): the very additions of a
    # row-wise float64 cumsum, without its one-element-at-a-time loop.
    csum = srt.T.astype(np.float64, order="C")  # (L, n)
    np.cumsum(csum, axis=0, out=csum)
    return srt, csum.T


def cover_counts(absvals: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Fewest entries per row covering tau of the row's sum, and the smallest kept value.

    (n, L) -> counts (n,), thresholds (n,). A row of zeros needs 0 entries. Long rows take an
    exact threshold search (cover.py) that gives the same numbers as sorting them.
    """
    if absvals.ndim == 2 and absvals.shape[1] >= LONG_ROW:
        return cover_long(absvals, tau, TOL, lambda rows: _cover_sorted(rows, tau))
    return _cover_sorted(absvals, tau)


def _cover_sorted(absvals: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    srt, csum = descending(absvals)
    total = csum[:, -1:] if srt.shape[1] else np.zeros((len(srt), 1))
    need = tau * total * (1 - TOL)
    counts = np.sum(csum.T < need.T, axis=0) + 1  # csum.T is the contiguous (L, n) array
    counts = np.where(total[:, 0] > 0, np.minimum(counts, srt.shape[1]), 0)
    thr = np.full(len(srt), np.inf, dtype=np.float32)
    has = counts > 0
    thr[has] = srt[np.flatnonzero(has), counts[has] - 1]
    return counts, thr


@dataclass(frozen=True)
class CircuitStats:
    """Counts of one circuit under one node set."""

    local_edges: float | None  # median over active inputs
    global_edges: int | None
    union_nodes: int | None
    own_share: float | None
    error_share: float | None
    mean_abs: np.ndarray  # (nodes,) mean |edge| over the dataset
    mean_signed: np.ndarray | None  # (nodes,) mean signed edge over the dataset


def _own_rows(study: Study, k: int, rows: np.ndarray) -> np.ndarray:
    c = study.model.circuits[k]
    if c.family != "animal":
        return np.ones(len(rows), bool)
    i = study.model.animal_names.index(c.id.split(":", 1)[1])
    return np.any(study.data.animal_idx[rows] == i, axis=1)


def circuit_stats(study: Study, basis: str, k: int, signed: bool = True) -> CircuitStats:
    """Local, global, union and own-share numbers of circuit k under one node set.

    `signed=False` skips the mean signed edges (mean_signed is then None), as the table does.
    """
    ns = study.node_sets[basis]
    circuit = study.model.circuits[k]
    rows = np.flatnonzero(study.pre[:, k] > 0)
    size, tau = ns.size, study.config.coverage
    mean_abs, mean_signed = np.zeros(size), (np.zeros(size) if signed else None)
    kept = np.zeros(size, bool)
    own = ns.index(circuit.own) if circuit.own else None
    locals_, owns, errs = [], [], []
    buf = None  # |edges| of full-layout chunks, reused
    deadline.check()
    for ch in edge_chunks(study.model, ns, study.enc, circuit, rows, study.recipes[circuit.id],
                          reuse=True):
        if ch.cols is None:
            if buf is None or len(buf) < len(ch.vals):
                buf = np.empty_like(ch.vals)
            absv = np.abs(ch.vals, out=buf[:len(ch.vals)])
        else:
            absv = np.abs(ch.vals)
        abs32 = absv.astype(np.float32)
        counts, thr = cover_counts(abs32, tau)
        locals_.append(counts)
        keep = abs32 >= thr[:, None]
        err = ch.total - ch.vals.sum(axis=1)
        errs.append(np.abs(err) / np.maximum(absv.sum(axis=1) + np.abs(err), 1e-300))
        if ch.cols is None:
            mean_abs += absv.sum(axis=0)
            if signed:
                mean_signed += ch.vals.sum(axis=0)
            kept |= keep.any(axis=0)
            own_vals = ch.vals[:, own] if own is not None else None
        else:
            if mean_abs.any():
                np.add.at(mean_abs, ch.cols, absv)
            else:  # the same additions, in the same order, starting from the same zeros
                mean_abs = np.bincount(ch.cols.ravel(), absv.ravel(), size).astype(float)
            if signed:
                np.add.at(mean_signed, ch.cols, ch.vals)
            kept[ch.cols[keep]] = True
            own_vals = np.sum(np.where(ch.cols == own, ch.vals, 0.0), 1) if own is not None else None
        if own_vals is not None:
            sel = _own_rows(study, k, ch.rows) & (np.abs(ch.total) > 0)
            owns.append(own_vals[sel] / ch.total[sel])
    n = max(study.config.samples, 1)
    mean_abs /= n
    if signed:
        mean_signed /= n
    if not len(rows):
        return CircuitStats(None, None, None, None, None, mean_abs, mean_signed)
    g_count = int(cover_counts(mean_abs[None, :], tau)[0][0])
    own_all = np.concatenate(owns) if owns else np.zeros(0)
    return CircuitStats(
        _median_of(np.concatenate(locals_)), g_count, int(kept.sum()),
        _median_of(own_all) if len(own_all) else None,
        _median_of(np.concatenate(errs)), mean_abs, mean_signed)


def _median_of(x: np.ndarray) -> float:
    """float(np.median(x)) of a non-empty 1-D array, to the bit, without its overhead:
    the middle value, or the float64 mean (a + b) / 2 of the middle two."""
    s = np.sort(x)
    n = len(s)
    if s.dtype.kind == "f" and np.isnan(s[-1]):
        return float("nan")
    if n % 2:
        return float(s[n // 2])
    return (float(s[n // 2 - 1]) + float(s[n // 2])) / 2


def _median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.median(vals)) if vals else None


def basis_summary(study: Study, basis: str) -> dict:
    """Id, label, size and reconstruction numbers of one node set (medians over inputs).

    The planted node sets' summaries are cached per configuration; any other node set of
    `study` (a trained SAE's, say, from `table(..., extra=...)`) is summarised directly.
    """
    if basis in basis_ids(study.config):
        return _basis_summary(study.config, basis)
    return node_set_summary(study, study.node_set(basis))


@lru_cache(maxsize=256)
def _basis_summary(cfg: Config, basis: str) -> dict:
    study = get_study(cfg)
    return node_set_summary(study, study.node_sets[basis])


def node_set_summary(study: Study, ns: NodeSet) -> dict:
    """`basis_summary` of a node set on `study`'s dataset, uncached."""
    acts = study.data.acts
    recon = reconstruction(study.model, ns, study.data)
    norm = np.maximum(np.linalg.norm(acts, axis=1), 1e-300)
    err = np.linalg.norm(recon - acts, axis=1) / norm
    ratio = np.linalg.norm(recon, axis=1) / norm
    out = {"id": ns.id, "label": ns.label, "description": ns.description, "atoms": ns.size,
           "is_dictionary": ns.is_dictionary,
           "reconstruction_error": round_sig(float(np.median(err)), 4, ROUNDOFF),
           "reconstruction_error_max": round_sig(float(err.max()), 4, ROUNDOFF),
           "reconstruction_norm_ratio": round_sig(float(np.median(ratio)), 6)}
    if not study.config.legacy:  # added with link version 2
        out["oracle"] = ORACLE if ns.id == "mixed" else None
    return out


def _all_stats(study: Study, bases: list[str]) -> dict[str, list[CircuitStats]]:
    """circuit_stats of every (node set, circuit), on a few threads when the model is large.

    Each pair is computed on its own, so the threads change no number; numpy releases the GIL
    in the long-row work that dominates there.
    """
    jobs = [(b, k) for b in bases for k in range(len(study.model.circuits))]
    reads = [c.read for c in study.model.circuits]
    for atoms in {id(b.atoms): b.atoms for ns in map(study.node_set, bases) for b in ns.blocks
                  if b.encoder is None}.values():
        project_all(atoms, reads)  # one pass over large atoms for every circuit
    workers = min(THREADS, os.cpu_count() or 1)
    if workers > 1 and study.config.animals >= THREADED_ANIMALS:
        limit = deadline.current()  # the pool's threads stop at the caller's deadline too

        def one(job: tuple[str, int]) -> CircuitStats:
            with deadline.until(limit):
                return circuit_stats(study, *job, signed=False)

        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(one, jobs))
    else:
        done = [circuit_stats(study, b, k, signed=False) for b, k in jobs]
    out: dict[str, list[CircuitStats]] = {b: [] for b in bases}
    for (b, _), st in zip(jobs, done):
        out[b].append(st)
    return out


def table(cfg: Config | Study, extra: dict[str, NodeSet] | None = None,
          only: list[str] | None = None) -> dict:
    """The side-by-side edge-count table (the JSON contract of `table --json`).

    `extra` appends node sets (id -> NodeSet, e.g. trained SAEs) after the study's own, counted
    by the same rule; `only` restricts the table to those node-set ids.
    """
    study = cfg if isinstance(cfg, Study) else get_study(cfg)
    if extra:
        study = replace(study, node_sets={**study.node_sets, **extra})
    model = study.model
    bases = [b for b in study.node_sets if only is None or b in only]
    per = _all_stats(study, bases)
    circuits = []
    for k, c in enumerate(model.circuits):
        stats = {b: {"local_edges": round_sig(per[b][k].local_edges),
                     "global_edges": per[b][k].global_edges,
                     "union_nodes": per[b][k].union_nodes,
                     "own_share": round_sig(per[b][k].own_share, 4),
                     "error_share": round_sig(per[b][k].error_share, 4, ROUNDOFF)} for b in bases}
        entry = {"id": c.id, "family": c.family, "label": c.label,
                 "active_inputs": int(np.sum(study.pre[:, k] > 0)), "stats": stats}
        if not study.config.legacy:  # how many supports fit the read direction exactly
            entry["mixed_exact_fits"] = study.recipe_fits.get(c.id, {}).get("exact_fits")
        circuits.append(entry)
    cells = []
    for b in bases:
        for fam in FAMILIES:
            ks = [k for k, c in enumerate(model.circuits) if c.family == fam]
            st = [per[b][k] for k in ks]
            cells.append({
                "basis": b, "family": fam, "circuits": len(ks),
                "local_edges_median": round_sig(_median([s.local_edges for s in st])),
                "global_edges_median": round_sig(_median([s.global_edges for s in st])),
                "union_nodes_median": round_sig(_median([s.union_nodes for s in st])),
                "own_share_median": round_sig(_median([s.own_share for s in st]), 4),
                "error_share_median": round_sig(_median([s.error_share for s in st]), 4, ROUNDOFF)})
    return {"version": VERSION, "config": study.config.as_json(), "families": list(FAMILIES),
            "bases": [basis_summary(study, b) for b in bases], "cells": cells,
            "circuits": circuits}
