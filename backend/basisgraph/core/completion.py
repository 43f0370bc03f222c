"""Sparse completion: the fewest animals that rebuild each feature axis exactly.

The animal dictionary cannot carry an overlay ("cute" on a bunny) with the planted animal
coefficients alone, so its encoder completes them. With `residual = sparse` the completion of a
residual z (in feature coordinates) is sum_j z_j * code_j, where code_j writes the feature axis
e_j as a combination of as few animal directions as orthogonal matching pursuit (OMP) finds.

Steps of `sparse_codes` (every axis at once, deterministic):
1. Candidates: every animal, or for very large models (animals x d^2 above POOL_WORK) the union
   of the POOL animals leaning most on each axis (|F_ij| largest), which still spans the space.
2. OMP: start from r_j = e_j; pick the candidate with the largest |f_i . r_j| (first index on
   ties), orthogonalise it against the picked ones (twice, Gram-Schmidt) and take its part out
   of r_j. Stop an axis once |r_j| <= TOL or min(animals, d) atoms are picked.
3. Refit each axis's weights on its picked atoms by least squares.
When the animals span the space (animals >= d, random directions) every exact completion needs
d atoms, so OMP reaches the fewest possible; what it adds is which d, chosen greedily so that a
few best-aligned animals carry most of the weight. With fewer animals than dimensions the
leftover is what no animal combination can carry (the same as the minimum-norm completion's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basisgraph.core.blas import one_blas_thread

__all__ = ["SparseCodes", "sparse_codes", "merge_entries", "completed_coefs", "dense_planted", "TOL"]

TOL = 1e-12  # an axis counts as rebuilt once |e_j - code_j F| <= TOL (|e_j| = 1)
POOL_WORK = 2 * 10**9  # animals * d^2 from which the candidates are pooled per axis
BASIS_BYTES = 32 << 20  # the axes pursued together keep their orthonormal bases within this
POOL = 4  # animals per axis in the pooled candidate set (their union spans the space)


@dataclass(frozen=True)
class SparseCodes:
    """Each feature axis written over a few animals: e_j ~ sum_p weights[j, p] F[cols[j, p]]."""

    cols: np.ndarray  # (d, P) animal index of each code entry (padding repeats a picked one)
    weights: np.ndarray  # (d, P) weight of each entry (padding has weight 0)
    sizes: np.ndarray  # (d,) atoms in each code
    rebuilt: np.ndarray  # (d, d) code_j F: row j is what the code rebuilds of axis j


def _candidates(feat: np.ndarray) -> np.ndarray:
    """Indices of the animals OMP may pick.  (animals, d) -> (m,)"""
    n, d = feat.shape
    if n * d * d <= POOL_WORK or n <= POOL * d:
        return np.arange(n)
    # Rows of the transpose are contiguous, which makes the partition several times faster.
    top = np.argpartition(-np.abs(feat.T), POOL - 1, axis=1)[:, :POOL]  # (d, POOL)
    return np.unique(top)


def sparse_codes(feat: np.ndarray) -> SparseCodes:
    """OMP codes of every feature axis over the animal directions.  feat: (animals, d)"""
    with one_blas_thread():  # hundreds of small products: threads cost more than they save
        return _sparse_codes(feat)


def _sparse_codes(feat: np.ndarray) -> SparseCodes:
    d = feat.shape[1]
    cand = _candidates(feat)  # (m,)
    atoms = feat[cand]  # (m, d)
    steps = min(len(cand), d)
    atoms_t = np.ascontiguousarray(atoms.T)  # (d, m)
    picked = np.zeros((d, steps), dtype=int)  # positions in cand
    sizes = np.zeros(d, dtype=int)
    chunk = max(1, BASIS_BYTES // (8 * max(steps, 1) * max(d, 1)))  # axes whose bases fit at once
    for lo in range(0, d, chunk):
        axes = np.arange(lo, min(d, lo + chunk))
        picked[axes], sizes[axes] = _pursue(atoms, atoms_t, axes, steps)
    width = int(sizes.max()) if d else 0
    cols = np.zeros((d, width), dtype=int)
    weights = np.zeros((d, width))
    rebuilt = np.zeros((d, d))
    for j in range(d):
        sup = cand[picked[j, : sizes[j]]]  # (size,)
        w = np.linalg.lstsq(feat[sup].T, np.eye(d)[j], rcond=None)[0]  # (size,)
        cols[j, : len(sup)], cols[j, len(sup):] = sup, sup[0]
        weights[j, : len(sup)] = w
        rebuilt[j] = w @ feat[sup]
    return SparseCodes(cols, weights, sizes, rebuilt)


def _pursue(atoms: np.ndarray, atoms_t: np.ndarray, axes: np.ndarray,
            steps: int) -> tuple[np.ndarray, np.ndarray]:
    """OMP for the feature axes `axes` at once.  -> picked positions (axes, steps), sizes (axes,)"""
    d, n = atoms.shape[1], len(axes)
    resid = np.eye(d)[axes]  # (axes, d) r_j
    basis = np.zeros((n, steps, d))  # (axes, picked, d) orthonormal span of the picked atoms
    picked = np.zeros((n, steps), dtype=int)
    sizes = np.zeros(n, dtype=int)
    rows = np.arange(n)
    # Every axis takes a step each round; an axis that is already rebuilt stops counting atoms.
    for s in range(steps):
        live = np.linalg.norm(resid, axis=1) > TOL  # (axes,)
        if not live.any():
            break
        scores = np.abs(resid @ atoms_t)  # (axes, m)
        scores[rows[:, None], picked[:, :s]] = -1.0
        best = np.argmax(scores, axis=1)  # (axes,) first index on ties
        picked[:, s] = best
        sizes[live] = s + 1
        v = atoms[best]  # (axes, d)
        b = basis[:, :s]  # (axes, s, d)
        for _ in range(2):  # Gram-Schmidt twice keeps the basis orthonormal to round-off
            # Batched matmul rather than einsum: it goes through BLAS, about 3x faster here.
            v = v - (np.matmul(b, v[:, :, None])[:, :, 0][:, None, :] @ b)[:, 0, :]
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
        basis[:, s] = v
        resid -= v * np.sum(v * resid, axis=1, keepdims=True)
    return picked, sizes


def merge_entries(row: np.ndarray, col: np.ndarray, val: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum entries that share (row, col) and lay them out as padded rows.

    row, col, val: (E,) with row in [0, n) -> vals (n, L), cols (n, L), each row's distinct
    columns in increasing order; padding has value 0 and repeats column 0.
    """
    if not len(row):
        return np.zeros((n, 0)), np.zeros((n, 0), dtype=int)
    width = int(col.max()) + 1
    keys, inv = np.unique(row.astype(np.int64) * width + col, return_inverse=True)  # (U,)
    sums = np.bincount(inv.ravel(), val, len(keys))  # (U,)
    r, c = keys // width, keys % width
    counts = np.bincount(r, minlength=n)  # (n,)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])  # (n,)
    pos = np.arange(len(keys)) - start[r]  # place within the row
    vals = np.zeros((n, int(counts.max())))
    cols = np.zeros((n, int(counts.max())), dtype=int)
    vals[r, pos], cols[r, pos] = sums, c
    return vals, cols


def completed_coefs(codes: SparseCodes, idx: np.ndarray, mag: np.ndarray, res_rows,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Planted animal coefficients plus the sparse completion of each row's residual.

    idx, mag: (n, k) planted animals and magnitudes; res_rows: (n, d) scipy sparse residual in
    feature coordinates -> coefficient values (n, L) and animal columns (n, L).
    """
    n, k = idx.shape
    coo = res_rows.tocoo()
    width = codes.cols.shape[1]
    row = np.concatenate([np.repeat(np.arange(n), k), np.repeat(coo.row, width)])
    col = np.concatenate([idx.ravel(), codes.cols[coo.col].ravel()])
    val = np.concatenate([mag.ravel(), (coo.data[:, None] * codes.weights[coo.col]).ravel()])
    return merge_entries(row, col, val, n)


def dense_planted(block, res_rows, idx: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """Dense coefficients of a planted (animal) block under its residual policy, unscaled.

    block: a bases.Block with planted=True; res_rows: (n, d) scipy sparse residual in feature
    coordinates; idx, mag: (n, k) planted animals -> (n, size). For checks and small batches.
    """
    n = len(idx)
    if block.residual == "minnorm":
        coef = np.asarray(res_rows @ block.q)  # (n, size) minimum-norm correction
    else:
        coef = np.zeros((n, block.size))
        if block.residual == "sparse":
            coo = res_rows.tocoo()
            np.add.at(coef, (coo.row[:, None], block.codes.cols[coo.col]),
                      coo.data[:, None] * block.codes.weights[coo.col])
    np.add.at(coef, (np.arange(n)[:, None], idx), mag)
    return coef
