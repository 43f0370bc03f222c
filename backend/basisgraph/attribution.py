"""Attribution edges from a node set's nodes into one circuit.

Steps:
1. A circuit y = ReLU(r . a - b) is active on input x when r . a(x) - b > 0; there the gradient
   of y with respect to a is r, elsewhere it is zero and every edge vanishes.
2. For a dictionary node m with coefficient g_m(x) and atom D_m the edge is
   e_m(x) = g_m(x) (r . D_m). The projections r . D_m are computed once per block.
3. In the mixed view the circuit's read direction is r = sum_m w_m u_m over true features u_m,
   and the edge is e_m(x) = w_m h_m(x) with h_m the feature's true activation.
4. The error node takes what the nodes leave: r . a(x) - sum_m e_m(x). For an exact dictionary
   it is zero (completeness); in the mixed view it holds the interference the readers ignore.

Edges come in two layouts, so the sparse animal coefficients are never densified needlessly:
*compact* rows list a few (value, node) pairs, *full* rows hold every node. Only inputs whose
animal block carries a minimum-norm correction need the full layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .bases import NodeSet, residual
from .model import Circuit, Data, PlantedModel

__all__ = ["EdgeRows", "Encoding", "encode", "pre_activations", "edge_chunks", "edge_vectors"]

CHUNK_ELEMS = 2_000_000  # bound on one full-layout chunk: rows x nodes


@dataclass(frozen=True)
class Encoding:
    """What every node set needs from a dataset, computed once."""

    data: Data
    res: sparse.csr_matrix  # (samples, d_model) planted residual in feature coordinates
    needs_full: np.ndarray  # (samples,) bool: the min-norm correction is non-zero


@dataclass(frozen=True)
class EdgeRows:
    """Edges of a batch of inputs into one circuit."""

    rows: np.ndarray  # (n,) input indices
    vals: np.ndarray  # (n, L) signed edge weights
    cols: np.ndarray | None  # (n, L) node indices; None means L is the whole node set
    total: np.ndarray  # (n,) r . a: all edges plus the error node


def encode(model: PlantedModel, data: Data) -> Encoding:
    """Precompute the residual every planted block completes."""
    res = residual(model, data) @ model.axis_dirs.T  # an overlay is one entry here
    res[np.abs(res) < 1e-12] = 0.0
    return Encoding(data, sparse.csr_matrix(res), np.any(res != 0.0, axis=1))


def pre_activations(model: PlantedModel, acts: np.ndarray) -> np.ndarray:
    """r_k . a - b_k for every circuit.  (samples, d_model) -> (samples, circuits)"""
    reads = np.stack([c.read for c in model.circuits])  # (circuits, d_model)
    bias = np.array([c.bias for c in model.circuits])  # (circuits,)
    return acts @ reads.T - bias


def _compact(ns: NodeSet, enc: Encoding, read: np.ndarray, rows: np.ndarray):
    data = enc.data
    vals, cols = [], []
    for b in ns.blocks:
        proj = b.atoms @ read  # (size,)
        if b.encoder is not None:  # learned dictionary: its own encoder's coefficients
            vals.append(b.scale * b.encoder(data, rows) * proj)  # (n, size)
            cols.append(np.broadcast_to(b.start + np.arange(b.size), (len(rows), b.size)))
        elif b.planted:
            idx = data.animal_idx[rows]  # (n, k)
            vals.append(b.scale * data.animal_mag[rows] * proj[idx])
            cols.append(b.start + idx)
        else:
            vals.append(b.scale * (data.acts[rows] @ b.q) * proj)  # (n, size)
            cols.append(np.broadcast_to(b.start + np.arange(b.size), (len(rows), b.size)))
    return np.concatenate(vals, axis=1), np.concatenate(cols, axis=1)


def _full(ns: NodeSet, enc: Encoding, read: np.ndarray, rows: np.ndarray) -> np.ndarray:
    data = enc.data
    out = np.zeros((len(rows), ns.size))  # (n, nodes)
    for b in ns.blocks:
        proj = b.atoms @ read  # (size,)
        if b.encoder is not None:
            coef = b.encoder(data, rows)  # (n, size) learned encoder
        elif b.planted:
            coef = np.asarray(enc.res[rows] @ b.q)  # (n, size) min-norm correction, O(nnz size)
            np.add.at(coef, (np.arange(len(rows))[:, None], data.animal_idx[rows]),
                      data.animal_mag[rows])
        else:
            coef = data.acts[rows] @ b.q  # (n, size) coordinates
        out[:, b.start:b.start + b.size] = b.scale * coef * proj
    return out


def _mixed(model: PlantedModel, enc: Encoding, recipe: tuple[np.ndarray, np.ndarray],
           rows: np.ndarray):
    data = enc.data
    picked, weights = recipe
    n_animals = model.config.animals
    h = np.zeros((len(rows), len(picked)))  # (n, picked) true feature activations
    for p, node in enumerate(picked):
        if node < n_animals:  # planted coefficient of that animal (0 if absent)
            h[:, p] = np.sum(np.where(data.animal_idx[rows] == node, data.animal_mag[rows], 0.0), 1)
        else:  # attributes are read off linearly: f'_j . a
            h[:, p] = data.acts[rows] @ model.attr_dirs[node - n_animals]
    return h * weights, np.broadcast_to(picked, h.shape)


def edge_chunks(model: PlantedModel, ns: NodeSet, enc: Encoding, circuit: Circuit,
                rows: np.ndarray, recipe: tuple[np.ndarray, np.ndarray] | None = None,
                full: bool = False) -> Iterator[EdgeRows]:
    """Edges into `circuit` on the given (active) input rows, in bounded chunks.

    `recipe` is the circuit's mixed decomposition (needed only for the mixed view). With
    `full=True` every chunk uses the full layout, whatever the encoding.
    """
    acts = enc.data.acts
    if not ns.is_dictionary:
        vals, cols = _mixed(model, enc, recipe, rows)
        if full:
            dense = np.zeros((len(rows), ns.size))
            dense[np.arange(len(rows))[:, None], cols] = vals
            yield EdgeRows(rows, dense, None, acts[rows] @ circuit.read)
        else:
            yield EdgeRows(rows, vals, cols, acts[rows] @ circuit.read)
        return
    has_planted = any(b.planted for b in ns.blocks)
    wide = enc.needs_full[rows] & has_planted if not full else np.ones(len(rows), bool)
    thin = rows[~wide]
    if len(thin):
        vals, cols = _compact(ns, enc, circuit.read, thin)
        yield EdgeRows(thin, vals, cols, acts[thin] @ circuit.read)
    step = max(1, CHUNK_ELEMS // max(ns.size, 1))
    fat = rows[wide]
    for s in range(0, len(fat), step):
        part = fat[s:s + step]
        yield EdgeRows(part, _full(ns, enc, circuit.read, part), None, acts[part] @ circuit.read)


def edge_vectors(model: PlantedModel, ns: NodeSet, enc: Encoding, circuit: Circuit,
                 rows: np.ndarray, recipe=None) -> tuple[np.ndarray, np.ndarray]:
    """Dense edges and totals for a few rows, in row order.  -> (n, nodes), (n,)"""
    chunks = list(edge_chunks(model, ns, enc, circuit, rows, recipe, full=True))
    return (np.concatenate([c.vals for c in chunks]), np.concatenate([c.total for c in chunks]))
