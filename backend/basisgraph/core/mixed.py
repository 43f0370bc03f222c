"""The mixed view's recipes: each read direction decomposed sparsely over the true features.

Steps of `mixed_recipe` (a beam-widened orthogonal matching pursuit):
1. Score every atom of the union (animal directions, then attribute directions) by
   |atom . residual|, starting from the read direction itself.  (atoms,)
2. Try the `branch` best atoms on every kept support; refit the weights by least squares.
3. Stop at the smallest support that explains the read direction to `tol`; otherwise keep the
   `branch` supports with the smallest misses and go on.
4. Ties between exact fits (only when features far outnumber dimensions) go to the least
   total |weight|; version-1 configurations first keep features present when the circuit
   fires (planted labels). `report` counts the exact fits, so a caller can say the geometry
   alone does not single one out.
For a large union the atoms are never stacked: products run over the animal and attribute
directions separately, once per level for the whole beam, and the first level once for every
circuit (mixed_scores).
"""

from __future__ import annotations

import weakref

import numpy as np

from basisgraph.core.model import PlantedModel

__all__ = ["mixed_recipe", "mixed_scores", "union_dirs"]


def mixed_recipe(model: PlantedModel, read: np.ndarray, present=None, max_atoms: int = 8,
                 tol: float = 1e-8, branch: int = 6, *,
                 first: np.ndarray | None = None,
                 report: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sparse decomposition of one read direction over animals + attributes.

    Orthogonal matching pursuit widened into a small beam: at each size the `branch` best
    aligned atoms are tried on every kept support, weights are refit by least squares, and the
    search stops at the smallest size that explains the read direction to `tol`. When several
    supports of that size fit exactly (only when features far outnumber dimensions, as in the
    bunny preset), a circuit can only be using features that are present when it fires:
    `present(node)` gives that fraction on the circuit's active inputs, supports with a feature
    present less than half the time are dropped, and the least total |weight| wins among the
    rest (the usual sparse-recovery tie-break). Returns (mixed node indices, weights).

    `first` is union @ read when the caller already has it (mixed_scores, for many circuits
    at once). A large union reads its atoms once per level for the whole beam (one matrix
    product) rather than once per support.
    """
    batched = _batched(model)
    union = None if batched else union_dirs(model)  # (animals + attributes, d)
    norm = np.linalg.norm(read)
    beams: list[tuple[int, ...]] = [()]
    nxt: list[tuple[float, tuple[int, ...], np.ndarray]] = []
    for _ in range(max_atoms):
        fits, nxt = [], []
        lefts = [read if not sup else read - _fit(model, union, sup, read)[1] for sup in beams]
        if beams == [()] and first is not None:
            products = [first]
        elif batched:
            products = list(_union_times(model, np.stack(lefts, axis=1)).T)  # (beams, atoms)
        else:
            products = [union @ left for left in lefts]
        for sup, prod in zip(beams, products):
            scores = np.abs(prod)
            scores[list(sup)] = -1.0
            for j in _top(scores, branch):
                cand = tuple(sorted((*sup, int(j))))
                w, approx = _fit(model, union, cand, read)
                miss = float(np.linalg.norm(read - approx))
                (fits if miss <= tol * norm else nxt).append((miss, cand, w))
        if report is not None and fits:
            report["exact_fits"] = len({f[1] for f in fits})
            least = min(round(float(np.abs(f[2]).sum()), 12) for f in fits)
            report["tied"] = len({f[1] for f in fits if round(float(np.abs(f[2]).sum()), 12) == least})
        if len(fits) > 1 and present is not None:
            fits = [f for f in fits if min(present(j) for j in f[1]) >= 0.5] or fits
        if fits:
            _, cand, w = min(fits, key=lambda f: (round(float(np.abs(f[2]).sum()), 12), f[1]))
            return np.array(cand, dtype=int), w
        nxt.sort(key=lambda f: (f[0], f[1]))
        beams = list(dict.fromkeys(c for _, c, _ in nxt))[:branch]
    _, cand, w = nxt[0]
    return np.array(cand, dtype=int), w


BATCH_ATOMS = 5_000_000  # union sizes (atoms x d) from which mixed scores are batched


def mixed_scores(model: PlantedModel, reads: np.ndarray) -> list[np.ndarray | None]:
    """union @ read for every read direction at once, for a large union (else Nones).

    (circuits, d) -> per circuit (animals + attributes,); pass each as mixed_recipe's `first`.
    """
    if not _batched(model) or not len(reads):
        return [None] * len(reads)
    return list(_union_times(model, reads.T).T)


def _batched(model: PlantedModel) -> bool:
    """Whether the union is large enough to be read in products without being stacked."""
    cfg = model.config
    return (cfg.animals + cfg.attributes) * cfg.d_model >= BATCH_ATOMS


def _union_times(model: PlantedModel, m: np.ndarray) -> np.ndarray:
    """union @ m without stacking the union.  (d, k) -> (animals + attributes, k)"""
    return np.concatenate([model.animal_dirs @ m, model.attr_dirs @ m])


def _union_rows(model: PlantedModel, idx) -> np.ndarray:
    """union[idx] without stacking the union.  -> (len(idx), d)"""
    n = model.config.animals
    return np.stack([model.animal_dirs[j] if j < n else model.axis_dirs[j - n] for j in idx])


_UNION: dict[int, tuple[weakref.ref, np.ndarray]] = {}  # id(model) -> (model, union dirs)


def union_dirs(model: PlantedModel) -> np.ndarray:
    """Animal then attribute directions, built once per model.  (animals + attributes, d)"""
    ref, union = _UNION.get(id(model), (None, None))
    if ref is None or ref() is not model:
        for key in [k for k, (r, _) in _UNION.items() if r() is None]:
            del _UNION[key]
        union = np.concatenate([model.animal_dirs, model.attr_dirs])
        _UNION[id(model)] = (weakref.ref(model), union)
    return union


def _top(scores: np.ndarray, branch: int) -> np.ndarray:
    """np.argsort(-scores, kind="stable")[:branch] without sorting everything."""
    neg = -scores
    if len(neg) <= 4 * branch:
        return np.argsort(neg, kind="stable")[:branch]
    kth = np.partition(neg, branch - 1)[branch - 1]  # the branch-th smallest
    cand = np.flatnonzero(neg <= kth)  # every tie of it, in index order
    return cand[np.argsort(neg[cand], kind="stable")][:branch]


def _fit(model: PlantedModel, union: np.ndarray | None, sup: tuple[int, ...], read: np.ndarray):
    sub = _union_rows(model, sup) if union is None else union[list(sup)]  # (size, d)
    w = np.linalg.lstsq(sub.T, read, rcond=None)[0]
    return w, w @ sub
