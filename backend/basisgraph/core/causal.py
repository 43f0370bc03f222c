"""Causal checks for a panel: each node's ablation effect beside its edge, and two scores.

Edges attribute the reader's input r . a (before its threshold), by gradient x activation.
Ablating a node asks what actually happens. Steps of `ablation_effects`:
1. A dictionary node m on input x: ablating it removes g_m(x) D_m from a(x), so r . a moves by
   exactly its edge e_m(x) (the reader is linear up to its threshold), and the output moves by
   y(x) - ReLU(r . a(x) - e_m(x) - b).
2. The mixed view's nodes are true features: ablating animal i removes c_i(x) f_i, ablating
   attribute j projects f'_j out of a(x). r . a then moves by c_i (r . f_i) or
   (f'_j . a)(r . f'_j), whether or not the circuit's recipe lists the feature.
3. Scores per node set: the kept nodes are those the local rule keeps on each input
   (coverage tau); with every other node and the error node ablated, the reader sees the sum
   of the kept edges, so the kept output fraction is sum_x ReLU(kept(x) - b) / sum_x y(x). The
   error fraction is sum_x |error(x)| / sum_x (sum_m |e_m(x)| + |error(x)|).
Effects are taken on the inputs where the circuit fires (where edges are defined) and divided by
the number of inputs, exactly as the dataset panel averages its edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basisgraph.core.attribution import Encoding, edge_chunks
from basisgraph.core.bases import NodeSet
from basisgraph.core.counts import cover_counts
from basisgraph.core.model import Circuit, PlantedModel

__all__ = ["Ablation", "ablation_effects"]

CHUNK_ELEMS = 2_000_000  # rows x nodes of one dense block of effects


@dataclass(frozen=True)
class Ablation:
    """Mean ablation effects of every node of one node set on one circuit."""

    pre: np.ndarray  # (nodes,) mean change of r . a when the node is ablated
    output: np.ndarray  # (nodes,) mean change of y = ReLU(r . a - b)
    kept_output_fraction: float | None  # output the kept edges alone reproduce (None: never fires)
    error_fraction: float | None  # share of |attribution| in the error node


def _feature_effects(model: PlantedModel, enc: Encoding, read: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Change of r . a when each true feature is ablated (mixed nodes).  -> (n, animals + attributes)"""
    data, n_animals = enc.data, model.config.animals
    out = np.zeros((len(rows), n_animals + model.config.attributes))
    proj = model.animal_dirs @ read  # (animals,)
    idx = data.animal_idx[rows]  # (n, k)
    np.add.at(out, (np.arange(len(rows))[:, None], idx), data.animal_mag[rows] * proj[idx])
    attr = model.attr_dirs  # (attributes, d)
    out[:, n_animals:] = (data.acts[rows] @ attr.T) * (attr @ read)
    return out


def ablation_effects(model: PlantedModel, ns: NodeSet, enc: Encoding, circuit: Circuit,
                     rows: np.ndarray, recipe, tau: float, n_mean: int) -> Ablation:
    """Mean ablation effects and the two scores on input `rows` (where the circuit fires)."""
    pre_sum, out_sum = np.zeros(ns.size), np.zeros(ns.size)
    y_all = kept_all = abs_all = err_all = 0.0
    step = max(1, CHUNK_ELEMS // max(ns.size, 1))
    chunks = (ch for s in range(0, len(rows), step)
              for ch in edge_chunks(model, ns, enc, circuit, rows[s:s + step], recipe, full=True))
    for ch in chunks:
        pre = ch.total - circuit.bias  # (n,)
        y = np.maximum(pre, 0.0)
        e = ch.vals  # (n, nodes) edges
        eff = e if ns.is_dictionary else _feature_effects(model, enc, circuit.read, ch.rows)
        pre_sum += eff.sum(axis=0)
        out_sum += (y[:, None] - np.maximum(pre[:, None] - eff, 0.0)).sum(axis=0)
        absv = np.abs(e).astype(np.float32)
        _, thr = cover_counts(absv, tau)
        kept = np.where(absv >= thr[:, None], e, 0.0).sum(axis=1)  # (n,)
        err = ch.total - e.sum(axis=1)
        y_all += float(y.sum())
        kept_all += float(np.maximum(kept - circuit.bias, 0.0).sum())
        abs_all += float(np.abs(e).sum() + np.abs(err).sum())
        err_all += float(np.abs(err).sum())
    n = max(n_mean, 1)
    return Ablation(pre_sum / n, out_sum / n, kept_all / y_all if y_all > 0 else None,
                    err_all / abs_all if abs_all > 0 else None)
