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
animal block carries a minimum-norm correction need the full layout; a sparse completion adds
its few animals to the compact row (merged with the planted ones).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from basisgraph.core.bases import NodeSet, residual
from basisgraph.core.completion import completed_coefs
from basisgraph.core.model import Circuit, Data, PlantedModel
from basisgraph.core.products import _LOCK, _coords, _totals, project_all, projection

__all__ = ["EdgeRows", "Encoding", "encode", "pre_activations", "edge_chunks", "edge_vectors",
           "projection", "project_all"]

CHUNK_ELEMS = 2_000_000  # bound on one full-layout chunk: rows x nodes
FULL_AXES = True  # node sets of coordinates only take the full layout (the same numbers)


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


def _compact(ns: NodeSet, enc: Encoding, read: np.ndarray, rows: np.ndarray,
             complete: bool = False):
    """Compact edges of `rows`; `complete` adds sparse completions (rows with a residual)."""
    data = enc.data
    vals, cols = [], []
    for b in ns.blocks:
        proj = projection(b.atoms, read)  # (size,)
        if b.encoder is not None:  # learned dictionary: its own encoder's coefficients
            vals.append(b.scale * b.encoder(data, rows) * proj)  # (n, size)
            cols.append(np.broadcast_to(b.start + np.arange(b.size), (len(rows), b.size)))
        elif b.planted and complete and b.residual == "sparse":
            coef, col = completed_coefs(b.codes, data.animal_idx[rows], data.animal_mag[rows],
                                        enc.res[rows])  # (n, L), (n, L)
            vals.append(b.scale * coef * proj[col])
            cols.append(b.start + col)
        elif b.planted:
            idx = data.animal_idx[rows]  # (n, k)
            vals.append(b.scale * data.animal_mag[rows] * proj[idx])
            cols.append(b.start + idx)
        else:
            vals.append(b.scale * _coords(data.acts, b.q, rows) * proj)  # (n, size)
            cols.append(np.broadcast_to(b.start + np.arange(b.size), (len(rows), b.size)))
    return np.concatenate(vals, axis=1), np.concatenate(cols, axis=1)


def _full(ns: NodeSet, enc: Encoding, read: np.ndarray, rows: np.ndarray,
          projs: list[np.ndarray] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Full-layout edges of `rows`.  -> (n, nodes)

    Written in place, block by block, with the very operations (and so the very bits) of
    out = zeros; out[:, block] = scale * coef * proj. `projs` are the blocks' atoms @ read and
    `out` a buffer of at least n rows to reuse, both optional.
    """
    data = enc.data
    n = len(rows)
    out = np.empty((n, ns.size)) if out is None else out[:n]  # (n, nodes)
    if sum(b.size for b in ns.blocks) != ns.size:
        out[:] = 0.0
    for bi, b in enumerate(ns.blocks):
        proj = projection(b.atoms, read) if projs is None else projs[bi]  # (size,)
        dst = out[:, b.start:b.start + b.size]  # (n, size) view
        if b.encoder is not None:
            dst[:] = b.scale * b.encoder(data, rows) * proj  # learned encoder
            continue
        if not b.planted:  # coordinates: scale * coords, then * proj, in place
            coords = _coords(data.acts, b.q, rows)  # (n, size)
            if b.scale != 1.0:
                np.multiply(coords, b.scale, out=dst)
            else:
                np.copyto(dst, coords)
            np.multiply(dst, proj, out=dst)
            continue
        if b.residual != "minnorm":  # planted, plus the sparse completion if any
            dst[:] = 0.0
            np.add.at(dst, (np.arange(n)[:, None], data.animal_idx[rows]), data.animal_mag[rows])
            if b.residual == "sparse":
                coo = enc.res[rows].tocoo()
                np.add.at(dst, (coo.row[:, None], b.codes.cols[coo.col]),
                          coo.data[:, None] * b.codes.weights[coo.col])
            np.multiply(dst, b.scale * proj, out=dst)
            continue
        coefs = _planted_coefs(enc, b.q, rows)  # (n, size) or None
        if coefs is not None:
            dst[:] = coefs
        else:
            _correction(enc, b.q, rows, dst)  # min-norm correction, O(nnz size)
            np.add.at(dst, (np.arange(n)[:, None], data.animal_idx[rows]), data.animal_mag[rows])
        if b.scale != 1.0:  # scale * coef, then * proj, as in the expression above
            np.multiply(dst, b.scale, out=dst)
        np.multiply(dst, proj, out=dst)
    return out


COEF_BYTES = 64 << 20  # planted coefficient rows of every overlay input kept up to this size
_COEF: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, np.ndarray, np.ndarray]] = {}


def _planted_coefs(enc: Encoding, q: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Animal coefficients (planted plus min-norm correction) of overlay rows, or None.

    They do not depend on the circuit, so when they fit in COEF_BYTES they are computed once
    for every row that needs them, by the very operations _full uses, and gathered after.
    -> (n, animals)
    """
    key = (id(enc), id(q))
    with _LOCK:
        hit = _COEF.get(key)
    if hit is None or hit[0]() is not enc or hit[1]() is not q:
        every = np.flatnonzero(enc.needs_full)  # (m,)
        if len(every) * q.shape[1] * 8 > COEF_BYTES:
            return None
        coefs = np.empty((len(every), q.shape[1]))  # (m, animals)
        _correction(enc, q, every, coefs)
        np.add.at(coefs, (np.arange(len(every))[:, None], enc.data.animal_idx[every]),
                  enc.data.animal_mag[every])
        pos = np.full(len(enc.needs_full), -1)
        pos[every] = np.arange(len(every))
        hit = (weakref.ref(enc), weakref.ref(q), pos, coefs)
        with _LOCK:
            for k in [k for k, v in _COEF.items() if v[0]() is None or v[1]() is None]:
                del _COEF[k]
            _COEF[key] = hit
    at = hit[2][rows]  # (n,)
    return None if len(at) and at.min() < 0 else hit[3][at]


def _correction(enc: Encoding, q: np.ndarray, rows: np.ndarray, dst: np.ndarray) -> None:
    """dst = res[rows] @ q, as scipy computes it (0 + r q_j for a one-entry row).  (n, size)"""
    res = enc.res
    lo = res.indptr[rows]  # (n,) first entry of each row
    nnz = res.indptr[rows + 1] - lo  # (n,)
    if q.shape[1] < 8192 and np.all(nnz == 1):  # short rows, one entry each: vectorised
        cols = res.indices[lo]
        np.multiply(q[cols], res.data[lo][:, None], out=dst)
        fix = np.flatnonzero(_tiny_rows(q, cols))
        if len(fix):  # 0 + x turns a -0.0 product into +0.0, as the sparse product does
            dst[fix] = dst[fix] + 0.0
        return
    for i, row in enumerate(rows):
        if nnz[i] == 1:
            j = res.indices[lo[i]]
            np.multiply(q[j], res.data[lo[i]], out=dst[i])
            if _tiny_rows(q, np.array([j]))[0]:
                np.add(dst[i], 0.0, out=dst[i])
        elif nnz[i] == 0:
            dst[i] = 0.0
        else:
            dst[i] = np.asarray(res[[row]] @ q)[0]


_TINY: dict[int, tuple[weakref.ref, np.ndarray]] = {}  # id(q) -> (q, rows with tiny entries)


def _tiny_rows(q: np.ndarray, js: np.ndarray) -> np.ndarray:
    """Whether rows js of q hold an entry whose product with r could be a signed zero.  (m,)"""
    with _LOCK:
        ref, flags = _TINY.get(id(q), (None, None))
        if ref is None or ref() is not q:
            for key in [k for k, (r, _) in _TINY.items() if r() is None]:
                del _TINY[key]
            flags = np.full(len(q), -1, dtype=np.int8)  # (rows of q,) -1: not looked at yet
            _TINY[id(q)] = (weakref.ref(q), flags)
    for j in np.unique(js[flags[js] < 0]):
        flags[j] = np.abs(q[j]).min() < 1e-250
    return flags[js] == 1


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
                rows: np.ndarray, recipe: tuple[np.ndarray, np.ndarray] | None = None, *,
                full: bool = False, reuse: bool = False) -> Iterator[EdgeRows]:
    """Edges into `circuit` on the given (active) input rows, in bounded chunks.

    `recipe` is the circuit's mixed decomposition (needed only for the mixed view). With
    `full=True` every chunk uses the full layout, whatever the encoding. With `reuse=True`
    full-layout chunks share one buffer: use each chunk before asking for the next.
    """
    acts = enc.data.acts
    if not ns.is_dictionary:
        vals, cols = _mixed(model, enc, recipe, rows)
        if full:
            dense = np.zeros((len(rows), ns.size))
            dense[np.arange(len(rows))[:, None], cols] = vals
            yield EdgeRows(rows, dense, None, _totals(acts, circuit.read, rows))
        else:
            yield EdgeRows(rows, vals, cols, _totals(acts, circuit.read, rows))
        return
    has_planted = any(b.dense_completion for b in ns.blocks)
    # Coordinates alone (neuron, attribute basis) fill every node: the full layout is as small.
    dense = FULL_AXES and all(not b.planted and b.encoder is None for b in ns.blocks)
    wide = enc.needs_full[rows] & has_planted if not (full or dense) else np.ones(len(rows), bool)
    thin = rows[~wide]
    sparse_done = any(b.planted and b.residual == "sparse" for b in ns.blocks)
    if sparse_done and len(thin):  # rows with a residual get their completion's animals
        done = thin[enc.needs_full[thin]]
        thin = thin[~enc.needs_full[thin]]
        if len(done):
            vals, cols = _compact(ns, enc, circuit.read, done, complete=True)
            yield EdgeRows(done, vals, cols, _totals(acts, circuit.read, done))
    if len(thin):
        vals, cols = _compact(ns, enc, circuit.read, thin)
        yield EdgeRows(thin, vals, cols, _totals(acts, circuit.read, thin))
    step = max(1, CHUNK_ELEMS // max(ns.size, 1))
    fat = rows[wide]
    projs = [projection(b.atoms, circuit.read) for b in ns.blocks]  # (size,) per block
    buf = np.empty((min(step, len(fat)), ns.size)) if reuse and len(fat) else None
    for s in range(0, len(fat), step):
        part = fat[s:s + step]
        yield EdgeRows(part, _full(ns, enc, circuit.read, part, projs, buf), None,
                       _totals(acts, circuit.read, part))


def edge_vectors(model: PlantedModel, ns: NodeSet, enc: Encoding, circuit: Circuit,
                 rows: np.ndarray, recipe=None) -> tuple[np.ndarray, np.ndarray]:
    """Dense edges and totals for a few rows, in row order.  -> (n, nodes), (n,)"""
    chunks = list(edge_chunks(model, ns, enc, circuit, rows, recipe, full=True))
    return (np.concatenate([c.vals for c in chunks]), np.concatenate([c.total for c in chunks]))
