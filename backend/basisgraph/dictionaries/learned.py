"""A per-circuit view that needs no ground truth: each circuit read over learned atoms.

`mixed` is an oracle: it decomposes a circuit's read direction over the *true* feature
directions and uses their true activations. This view does the same with what a practitioner
has: the decoder atoms of learned dictionaries (e.g. the union of a width-d and a width-N SAE)
and their codes.

Steps of `learned_view`:
1. Stack the atoms (unit rows) of the given sources into one union.  (atoms, d_model)
   `node_set_sources` leaves out atoms whose code is zero on every input of the dataset: a
   dead latent's edges would always be zero, and anyone can see that without ground truth.
2. For each circuit, orthogonal matching pursuit (`sparse_read`): take the candidate with the
   largest |candidate . residual| (the lowest index on a tie, so the result is deterministic),
   refit every picked weight by least squares, stop once the residual is at most tol of the
   target's norm or after max_atoms picks. What is decomposed is `fit`:
   read: the read direction r over the unit atoms (geometry alone, like the oracle);
   input: the reader's input r . a(x) on its firing inputs over the atoms' code columns (the
   fewest learned features whose activity rebuilds what the circuit reads; a dictionary that
   splits one feature into several near-parallel latents needs all of them here, while the
   read fit picks one and leaves the others' share to the error node).
3. On the inputs where the circuit fires, the edge from picked atom m is e_m(x) = w_m g_m(x),
   with g_m the atom's learned code; the error node holds r . a - sum_m e_m (the part of r the
   atoms leave out, and the codes' reconstruction error). Counting is the table's rule
   (counts.cover_counts): local = median over firing inputs of the fewest edges covering tau
   of |attribution|, global = the same on the mean |edge| over the dataset, error share =
   median of |error| / (sum |edges| + |error|).
4. Beside each circuit, the oracle's (`mixed`) counts; per family the medians of both and how
   many firing circuits are within one edge of the oracle, per view, and how many of those
   also leave at most ERROR_SLACK more of the attribution in the error node than the oracle
   does (a count of zero edges matches a small oracle count but explains nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from basisgraph.config import ConfigError
from basisgraph.core.bases import NodeSet
from basisgraph.core.counts import FAMILIES, circuit_stats, cover_counts, round_sig
from basisgraph.core.study import Study
from basisgraph.fmt import format_count

__all__ = ["Source", "node_set_sources", "sparse_read", "learned_view", "format_learned", "LEARNED_LABEL", "TOL", "MAX_ATOMS",
           "FITS"]

TOL = 0.1  # default: the picked atoms rebuild the read direction to 10% of its norm
MAX_ATOMS = 32  # at most this many atoms per circuit, whatever the tolerance
ERROR_SLACK = 0.1  # error share above the oracle's that still counts as explaining the circuit
LEARNED_LABEL = "learned: sparsest decomposition over learned atoms (no ground truth)"


@dataclass(frozen=True)
class Source:
    """One learned dictionary as this view needs it."""

    id: str  # e.g. "sae:relu:20"
    atoms: np.ndarray  # (size, d_model) unit decoder rows
    codes: Callable[[np.ndarray], np.ndarray]  # dataset rows (n,) -> coefficients (n, size)
    labels: tuple[str, ...]  # one per atom, for display only (never used to choose atoms)
    index: np.ndarray  # (size,) each atom's node index in its dictionary


ROWS = 4096  # dataset rows encoded at once when looking for dead atoms


def node_set_sources(study: Study, sets: Sequence[NodeSet]) -> list[Source]:
    """Sources from learned node sets of `study` (one encoder block each, e.g. sae_node_set),
    without the atoms that never fire on the dataset."""
    out = []
    for ns in sets:
        (b,) = ns.blocks
        n = len(study.data.acts)
        fired = np.zeros(b.size, bool)
        for s in range(0, n, ROWS):
            fired |= np.any(b.encoder(study.data, np.arange(s, min(n, s + ROWS))) != 0, axis=0)
        live = np.flatnonzero(fired)

        def codes(rows: np.ndarray, b=b, live=live) -> np.ndarray:
            return b.scale * b.encoder(study.data, rows)[:, live]  # (n, live)

        out.append(Source(ns.id, b.atoms[live], codes, tuple(ns.node_labels[j] for j in live), live))
    return out


def sparse_read(atoms: np.ndarray, read: np.ndarray, tol: float = TOL,
                max_atoms: int = MAX_ATOMS) -> tuple[np.ndarray, np.ndarray, float]:
    """Orthogonal matching pursuit of `read` over unit `atoms` to a relative tolerance.

    (atoms, d), (d,) -> picked indices (s,), weights (s,), relative miss ||r - w D|| / ||r||.
    """
    norm = float(np.linalg.norm(read))
    picked: list[int] = []
    w = np.zeros(0)
    left = read.copy()
    miss = 1.0 if norm > 0 else 0.0
    while miss > tol and len(picked) < min(max_atoms, len(atoms)):
        scores = np.abs(atoms @ left)  # (atoms,)
        scores[picked] = -1.0
        picked.append(int(np.argmax(scores)))  # first index among equals
        sub = atoms[picked]  # (s, d)
        w = np.linalg.lstsq(sub.T, read, rcond=None)[0]
        left = read - w @ sub
        miss = float(np.linalg.norm(left)) / norm
    return np.array(picked, dtype=int), w, miss


def _median(xs: list) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.median(vals)) if vals else None


def _input_read(sources: Sequence[Source], rows: np.ndarray, target: np.ndarray, tol: float,
                max_atoms: int) -> tuple[np.ndarray, np.ndarray, float]:
    """OMP of a reader's input over the code columns of its firing inputs (the `input` fit).

    rows (n,), target (n,) -> picked union indices, weights (per unit of code), relative miss.
    """
    codes = np.concatenate([s.codes(rows) for s in sources], axis=1)  # (n, atoms)
    norms = np.linalg.norm(codes, axis=0)  # (atoms,)
    live = np.flatnonzero(norms > 0)  # atoms silent on every firing input cannot help
    if not len(live) or not len(rows):
        return np.zeros(0, dtype=int), np.zeros(0), 1.0 if np.any(target) else 0.0
    picked, w, miss = sparse_read((codes[:, live] / norms[live]).T, target, tol, max_atoms)
    return live[picked], w / norms[live[picked]], miss


FITS = ("read", "input")
MAX_CODES = 50_000_000  # largest (firing inputs x atoms) code matrix the input fit builds


def learned_view(study: Study, sources: Sequence[Source], tol: float = TOL,
                 max_atoms: int = MAX_ATOMS, fit: str = "read") -> dict:
    """The learned per-circuit view of `study` over the union of `sources`, with the oracle's
    counts beside it (JSON-ready). `fit` is read or input (module docstring, step 2)."""
    if fit not in FITS:
        raise ConfigError("learned_fit", fit, "one of " + ", ".join(FITS))
    atoms = np.concatenate([s.atoms for s in sources])  # (atoms, d_model)
    if fit == "input" and study.config.samples * len(atoms) > MAX_CODES:
        raise ConfigError("learned_fit", fit, f"read when samples x atoms exceeds {MAX_CODES}")
    owner = np.concatenate([np.full(len(s.atoms), k) for k, s in enumerate(sources)])
    start = np.cumsum([0] + [len(s.atoms) for s in sources])
    tau, n = study.config.coverage, max(study.config.samples, 1)
    acts = study.data.acts
    circuits = []
    for k, c in enumerate(study.model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)
        total = acts[rows] @ c.read  # (firing inputs,) r . a
        if fit == "read":
            picked, w, miss = sparse_read(atoms, c.read, tol, max_atoms)
        else:
            picked, w, miss = _input_read(sources, rows, total, tol, max_atoms)
        h = np.zeros((len(rows), len(picked)))  # (firing inputs, picked) learned codes
        for src in set(owner[picked].tolist()):
            cols = np.flatnonzero(owner[picked] == src)
            h[:, cols] = sources[src].codes(rows)[:, picked[cols] - start[src]]
        edges = h * w  # (firing inputs, picked)
        err = np.abs(total - edges.sum(axis=1))
        absv = np.abs(edges)
        oracle = circuit_stats(study, "mixed", k, signed=False)
        entry = {"id": c.id, "family": c.family, "atoms": len(picked), "miss": round_sig(miss, 4),
                 "support": [{"node": f"{sources[owner[j]].id}/{sources[owner[j]].index[j - start[owner[j]]]}",
                              "label": sources[owner[j]].labels[j - start[owner[j]]],
                              "weight": round_sig(float(wj), 4)} for j, wj in zip(picked, w)],
                 "local_edges": None, "global_edges": None, "error_share": None,
                 "oracle_local_edges": round_sig(oracle.local_edges),
                 "oracle_global_edges": oracle.global_edges,
                 "oracle_error_share": round_sig(oracle.error_share, 4, 1e-9)}
        if len(rows):
            entry["local_edges"] = round_sig(float(np.median(cover_counts(absv, tau)[0])))
            entry["global_edges"] = int(cover_counts(absv.sum(axis=0)[None, :] / n, tau)[0][0])
            entry["error_share"] = round_sig(float(np.median(
                err / np.maximum(absv.sum(axis=1) + err, 1e-300))), 4, 1e-9)
        circuits.append(entry)
    return {"id": "learned", "label": LEARNED_LABEL, "oracle": None,
            "sources": [s.id for s in sources], "atoms": len(atoms), "fit": fit, "tol": tol,
            "max_atoms": max_atoms, "cells": _cells(circuits), "circuits": circuits}


def _within(c: dict, view: str) -> bool:
    return abs(c[f"{view}_edges"] - c[f"oracle_{view}_edges"]) <= 1


def _explains(c: dict) -> bool:
    return c["error_share"] <= (c["oracle_error_share"] or 0.0) + ERROR_SLACK


def _cells(circuits: list[dict]) -> list[dict]:
    """Per family: medians of the learned and oracle counts, and circuits within one edge."""
    out = []
    for fam in FAMILIES:
        cs = [c for c in circuits if c["family"] == fam]
        fire = [c for c in cs if c["local_edges"] is not None and c["oracle_local_edges"] is not None]
        cell = {"family": fam, "circuits": len(cs), "firing": len(fire)}
        for key in ("atoms", "local_edges", "global_edges", "error_share", "oracle_local_edges",
                    "oracle_global_edges", "oracle_error_share"):
            cell[f"{key}_median"] = round_sig(_median([c[key] for c in cs]), 6)
        for view in ("local", "global"):
            cell[f"within_1_{view}"] = sum(_within(c, view) for c in fire)
            cell[f"within_1_explained_{view}"] = sum(_within(c, view) and _explains(c) for c in fire)
        out.append(cell)
    return out


def format_learned(view: dict) -> str:
    """The learned view beside the oracle, as text (one row per family, then the totals)."""
    num = format_count
    lines = [f"{view['label']}: OMP of each circuit's {view['fit']} over {view['atoms']} atoms of "
             f"{', '.join(view['sources'])} to tol {view['tol']:g} (at most {view['max_atoms']} "
             "atoms); not the oracle",
             f"{'family':<11}{'atoms':>7}{'learned l / g':>16}{'error':>8}{'oracle l / g':>15}"
             f"{'error':>8}{'within 1 of oracle (l, g)':>28}"]
    fire = 0
    within = {"local": 0, "global": 0}
    explained = {"local": 0, "global": 0}
    for c in view["cells"]:
        fire += c["firing"]
        for v in within:
            within[v] += c[f"within_1_{v}"]
            explained[v] += c[f"within_1_explained_{v}"]
        lines.append(f"{c['family']:<11}{num(c['atoms_median']):>7}"
                     f"{num(c['local_edges_median']) + ' / ' + num(c['global_edges_median']):>16}"
                     f"{_share(c['error_share_median']):>8}"
                     f"{num(c['oracle_local_edges_median']) + ' / ' + num(c['oracle_global_edges_median']):>15}"
                     f"{_share(c['oracle_error_share_median']):>8}"
                     f"{str(c['within_1_local']) + ', ' + str(c['within_1_global']) + ' of ' + str(c['firing']):>28}")
    lines.append(f"all families: {within['local']} (local) and {within['global']} (global) of "
                 f"{fire} firing circuits within one edge of the oracle; {explained['local']} and "
                 f"{explained['global']} of them also with an error share at most "
                 f"{ERROR_SLACK:g} above the oracle's")
    return "\n".join(lines)


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
