"""Single-node ablations on the trained MLP beside its gradient x activation edges (issue 11).

An edge on the trained model is gradient x activation: e_m(x) = delta_k(x) . p_m(x), where
p_m(x) (hidden,) is node m's contribution to the hidden pre-activations z(x) = W_in a(x) + b_in
and delta_k(x) = w_out[k] * 1[z > 0] the gradient of output k with respect to them. That is
exact for a linear network. The trained MLP's hidden units are ReLUs, so removing a node can
switch units on or off, and the edge then misstates what the node does to the output.

Steps (`contributions`, `disagreement_terms`):
1. Contribution p_m(x) = sum_c coef[x, c] dirs[c] over the node's directions c:
   - a dictionary atom D_m: coef g_m(x), direction W_in D_m (removing g_m D_m from a);
   - a hidden neuron h: coef W_in[h] . a, direction the unit vector e_h (its input, not its bias);
   - an spd node: for each member subcomponent c, coef g_c(x) (V_c . a), direction U_c;
   - an oracle `mixed` node (a true feature): coef its amount in a(x), direction W_in f, the same
     removal core/causal.py ablates on the planted model (an animal's c_i f_i; an attribute's
     projection (f'_j . a) f'_j).
2. Ablation effect on the output: A_m(x) = y_k(x) - y_k(x without p_m)
   = w_out[k] . (ReLU(z) - ReLU(z - p_m)) (the output bias cancels).
3. Pairs (x, m): on each input the circuit fires on, the nodes the local rule keeps (the
   edges whose |e| cover the fraction tau of the input's total |edge|, the edges the local count
   counts), with e != 0.
4. Disagreement = sum over pairs |e - A| / sum over pairs |A|: 0 when removing a kept node flips
   no hidden unit (and, for `mixed`, when the least-squares refit of its edges is exact). Pooled
   over the circuits of a family by summing numerators and denominators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basisgraph.core.completion import dense_planted
from basisgraph.core.counts import cover_counts, round_sig
from basisgraph.core.study import Study

__all__ = ["Contributions", "dictionary_coefficients", "mixed_features", "contributions",
           "kept_pairs", "ablation_effects", "disagreement_terms", "disagreement", "RULE"]

RULE = ("sum |edge - ablation effect| / sum |ablation effect| on the trained output, over the "
        "inputs where the circuit fires and the nodes the local rule keeps on each")


@dataclass(frozen=True)
class Contributions:
    """What each node adds to the hidden pre-activations: p_m(x) = sum_{c in m} coef[x, c] dirs[c]."""

    coef: np.ndarray  # (n, C) per-input coefficient of each direction
    dirs: np.ndarray  # (C, hidden) directions in hidden pre-activation space
    members: list[list[int]] | None  # node -> its directions; None: node m is direction m


def dictionary_coefficients(study: Study, ns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients g(x) and atoms D of a dictionary node set.  -> (n, M), (M, d)"""
    data, enc = study.data, study.enc
    coef = np.zeros((len(rows), ns.size))
    atoms = np.zeros((ns.size, data.acts.shape[1]))
    for b in ns.blocks:
        if getattr(b, "encoder", None) is not None:  # a learned dictionary (SAE)
            c = b.encoder(data, rows)
        elif b.planted:
            c = dense_planted(b, enc.res[rows], data.animal_idx[rows], data.animal_mag[rows])
        else:
            c = data.acts[rows] @ b.q
        coef[:, b.start:b.start + b.size] = b.scale * c
        atoms[b.start:b.start + b.size] = b.atoms
    return coef, atoms


def mixed_features(study: Study, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circuit k's planted recipe: each feature's amount in a(x) and its direction.  -> (n, S), (S, d)

    An animal's amount is its magnitude where it is active; an attribute's is f'_j . a, so that
    amount times direction is what ablating the feature removes (core/causal.py's rule)."""
    model, data = study.model, study.data
    picked, _ = study.recipes[model.circuits[k].id]
    dirs = np.concatenate([model.animal_dirs, model.attr_dirs])[picked]  # (S, d)
    n_animals = model.config.animals
    h = np.zeros((len(rows), len(picked)))
    for p, node in enumerate(picked):
        if node < n_animals:
            h[:, p] = np.sum(np.where(data.animal_idx[rows] == node, data.animal_mag[rows], 0.0), 1)
        else:
            h[:, p] = data.acts[rows] @ model.attr_dirs[node - n_animals]
    return h, dirs


def contributions(run, study: Study, node_sets: dict, groups: list[list[int]], g_in: np.ndarray,
                  basis: str, k: int, rows: np.ndarray) -> Contributions:
    """Step 1 for one node set on the rows `rows` of `study`'s data (table.trained_edges' nodes)."""
    x = study.data.acts[rows]  # (n, d)
    w_in = run.target.w_in.numpy().astype(np.float64)  # (hidden, d)
    if basis == "hidden":
        return Contributions(x @ w_in.T, np.eye(len(w_in)), None)
    if basis == "spd":
        U = run.dec.U[0].detach().numpy().astype(np.float64)  # (hidden, C)
        V = run.dec.V[0].detach().numpy().astype(np.float64)  # (C, d)
        return Contributions(g_in[rows] * (x @ V.T), U.T, [list(g) for g in groups])
    if basis == "mixed":
        h, dirs = mixed_features(study, k, rows)
        return Contributions(h, dirs @ w_in.T, None)
    coef, atoms = dictionary_coefficients(study, node_sets[basis], rows)
    return Contributions(coef, atoms @ w_in.T, None)


def kept_pairs(edges: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: (row, node) index pairs of the edges the local rule keeps.  (n, nodes) -> (P,), (P,)"""
    absv = np.abs(edges)
    _, thr = cover_counts(absv, tau)
    keep = (absv.astype(np.float32) >= thr[:, None]) & (absv > 0)  # the counts' own comparison
    return np.nonzero(keep)


def _pair_contributions(c: Contributions, r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """p_m(x_r) for each pair.  -> (P, hidden)"""
    if c.members is None:
        return c.coef[r, m][:, None] * c.dirs[m]
    out = np.zeros((len(r), c.dirs.shape[1]))
    for node in np.unique(m):
        sel = np.flatnonzero(m == node)
        mem = c.members[int(node)]
        out[sel] = c.coef[np.ix_(r[sel], mem)] @ c.dirs[mem]
    return out


def ablation_effects(z: np.ndarray, w_out_k: np.ndarray, c: Contributions,
                     r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Step 2 for pairs (r, m): y_k(x_r) - y_k(x_r without node m).  z (n, hidden) -> (P,)"""
    p = _pair_contributions(c, r, m)  # (P, hidden)
    zr = z[r]
    return (np.maximum(zr, 0.0) - np.maximum(zr - p, 0.0)) @ w_out_k


def disagreement_terms(edges: np.ndarray, c: Contributions, z: np.ndarray, w_out_k: np.ndarray,
                       tau: float) -> dict:
    """Steps 2-4 for one node set and circuit: numerator, denominator and sizes of the ratio.
    edges (n, nodes) on the rows of z (n, hidden); w_out_k (hidden,)."""
    r, m = kept_pairs(edges, tau)
    a = ablation_effects(z, w_out_k, c, r, m) if len(r) else np.zeros(0)
    e = edges[r, m]
    return {"diff": float(np.abs(e - a).sum()), "ablation": float(np.abs(a).sum()),
            "edges": float(np.abs(e).sum()), "pairs": len(r)}


def disagreement(terms: list[dict]) -> dict:
    """Step 4, pooled over `terms` (one per circuit): the ratio and what it was taken over."""
    diff = sum(t["diff"] for t in terms)
    abl = sum(t["ablation"] for t in terms)
    return {"disagreement": round_sig(diff / abl, 4) if abl > 0 else None,
            "ablation_abs": round_sig(abl, 4), "edge_abs": round_sig(sum(t["edges"] for t in terms), 4),
            "pairs": int(sum(t["pairs"] for t in terms))}
