"""Reading features off an SPD of the trained MLP: significant subcomponents, labels, recovery.

Read-out (`readout`):
1. Causal importances g (the lower-leaky hard sigmoid clipped to [0, 1]) of every subcomponent
   on the study's dataset.
2. Significant subcomponents: causally important (g > 0.5) on at least one input and with a
   weight norm ||U_c|| ||V_c|| of at least 1% of the matrix's Frobenius norm.
3. Clusters: significant subcomponents of one matrix whose important-input sets overlap with
   Jaccard >= 0.9 are merged (union-find), so a dense multi-rank mechanism shows as one node.
4. Labels: each significant W_in read direction V_c is matched to its nearest true direction
   (animals, attributes and random dims) by |cosine|.
5. Recovery: an animal or attribute circuit's read direction r is recovered when some
   significant W_in subcomponent has |cos(V_c, r)| > 0.9. For a cluster of rank > 1 the cosine
   between r and its projection on the cluster's span is reported as well (uninformative when
   the span is the whole space, which is said). The same test on the MLP's own W_in rows is
   the baseline (`neuron_rows_recovered`).
6. L0: mean number of subcomponents per input with g > 0, per matrix; faithfulness: relative
   Frobenius error ||W - U V|| / ||W|| per matrix, and output errors of the unmasked sum, of
   the model masked by g, and with stochastic masks, as fractions of the target's variance.

The edge counts on the trained model (the `spd` node set beside the others, `trained_table`) are
in table.py.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from basisgraph.core.counts import FAMILIES, round_sig
from basisgraph.core.study import Study, get_study
from basisgraph.decomposition.spd import SPDRun

__all__ = [
    "Readout",
    "readout",
    "importances",
    "RECOVERY_COS",
    "IMPORTANT",
]

RECOVERY_COS = 0.9  # |cosine| at which a read direction counts as recovered
IMPORTANT = 0.5  # importance above which a subcomponent counts as active on an input
NORM_FLOOR = 0.01  # weight-norm floor of a significant subcomponent (fraction of ||W||_F)
CLUSTER_JACCARD = 0.9  # overlap of important-input sets at which subcomponents merge


def importances(run: SPDRun, acts: np.ndarray) -> list[np.ndarray]:
    """Causal importances in [0, 1] of every subcomponent.  (n, d) -> [(n, C_in), (n, C_out)]"""
    with torch.no_grad():
        lower, _ = run.dec.importances(run.target, torch.tensor(acts, dtype=torch.float32),
                                       run.spd.leak)
    return [g.clamp(0.0, 1.0).numpy().astype(np.float64) for g in lower]


def _clusters(on: np.ndarray, members: np.ndarray) -> list[list[int]]:
    """Union-find over members whose boolean columns of `on` overlap with Jaccard >= 0.9."""
    parent = {int(m): int(m) for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cols = on[:, members].astype(np.float64)  # (n, m)
    inter = cols.T @ cols
    sizes = np.diag(inter)
    union = sizes[:, None] + sizes[None, :] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            if jac[i, j] >= CLUSTER_JACCARD:
                parent[find(int(members[i]))] = find(int(members[j]))
    groups: dict[int, list[int]] = {}
    for m in members:
        groups.setdefault(find(int(m)), []).append(int(m))
    return sorted(groups.values(), key=lambda g: g[0])


class Readout(dict):
    """The read-out as a JSON-ready dict, plus the arrays the node set needs (attributes)."""


def readout(run: SPDRun, study: Study | None = None) -> Readout:
    """Significant subcomponents, clusters, labels, recovery, L0 and faithfulness (see module)."""
    study = study or get_study(run.config)
    model, acts = study.model, study.data.acts
    g = importances(run, acts)
    on = [gi > IMPORTANT for gi in g]
    U = [u.detach().numpy().astype(np.float64) for u in run.dec.U]
    V = [v.detach().numpy().astype(np.float64) for v in run.dec.V]
    W = [w.numpy().astype(np.float64) for w in run.target.weights]
    layers = []
    sig_sets, cluster_sets = [], []
    for layer in range(len(U)):
        norms = np.linalg.norm(U[layer], axis=0) * np.linalg.norm(V[layer], axis=1)  # (C,)
        sig = np.flatnonzero(on[layer].any(axis=0) & (norms >= NORM_FLOOR * np.linalg.norm(W[layer])))
        clusters = _clusters(on[layer], sig) if len(sig) else []
        sig_sets.append(sig)
        cluster_sets.append(clusters)
        layers.append({
            "matrix": ["W_in", "W_out"][layer], "components": int(U[layer].shape[1]),
            "significant": len(sig), "clusters": len(clusters),
            "multi_rank_clusters": [{"size": len(c), "members": c,
                                     "active_fraction": round(float(on[layer][:, c].any(1).mean()), 4)}
                                    for c in clusters if len(c) > 1],
            "l0_mean": round(float((g[layer] > 0).sum(1).mean()), 3),
            "l0_mean_above_half": round(float(on[layer].sum(1).mean()), 3),
            "faithfulness_rel": round_sig(float(np.linalg.norm(W[layer] - U[layer] @ V[layer])
                                                / np.linalg.norm(W[layer])), 4),
        })
    # Labels of W_in read directions.
    names = [f"animal:{n}" for n in model.animal_names] + [
        ("attribute:" if j < model.config.attributes else "dim:") + n
        for j, n in enumerate(model.axis_names)]
    dirs = np.concatenate([model.animal_dirs, model.axis_dirs])  # (animals + d_model, d_model)
    vin = V[0] / np.maximum(np.linalg.norm(V[0], axis=1, keepdims=True), 1e-30)  # (C_in, d)
    cos = vin @ dirs.T  # (C_in, animals + d_model)
    labels = []
    for c in sig_sets[0]:
        j = int(np.argmax(np.abs(cos[c])))
        labels.append({"component": int(c), "label": names[j], "cos": round(float(cos[c, j]), 4),
                       "norm": round(float(np.linalg.norm(U[0][:, c]) * np.linalg.norm(V[0][c])), 4),
                       "active_fraction": round(float(on[0][:, c].mean()), 4)})
    # Recovery of circuit read directions.
    recovery: dict[str, dict] = {}
    per_circuit = []
    sig_in = sig_sets[0]
    spans = [(c, np.linalg.qr(vin[c].T)[0]) for c in cluster_sets[0] if len(c) > 1]
    for circuit in model.circuits:
        r = circuit.read / np.linalg.norm(circuit.read)
        best = float(np.max(np.abs(vin[sig_in] @ r))) if len(sig_in) else 0.0
        best_c = int(sig_in[np.argmax(np.abs(vin[sig_in] @ r))]) if len(sig_in) else None
        span = max((float(np.linalg.norm(q.T @ r)) for _, q in spans), default=None)
        per_circuit.append({"id": circuit.id, "family": circuit.family, "best_cos": round(best, 4),
                            "best_component": best_c,
                            "span_cos": None if span is None else round(span, 4),
                            "recovered": best > RECOVERY_COS})
    # Control: the same test on the trained MLP's own W_in rows (the hidden neurons).
    rows_in = W[0] / np.maximum(np.linalg.norm(W[0], axis=1, keepdims=True), 1e-30)  # (hidden, d)
    for p, circuit in zip(per_circuit, model.circuits):
        r = circuit.read / np.linalg.norm(circuit.read)
        p["neuron_best_cos"] = round(float(np.max(np.abs(rows_in @ r))), 4)
    for fam in FAMILIES:
        rows = [p for p in per_circuit if p["family"] == fam]
        if rows:
            recovery[fam] = {"circuits": len(rows),
                             "recovered": sum(p["recovered"] for p in rows),
                             "fraction": round(sum(p["recovered"] for p in rows) / len(rows), 4),
                             "median_best_cos": round(float(np.median([p["best_cos"] for p in rows])), 4),
                             "neuron_rows_recovered": sum(p["neuron_best_cos"] > RECOVERY_COS for p in rows)}
    out = Readout(
        config=run.config.model_dump(), train=_asdict(run.train), spd=_asdict(run.spd),
        fit=run.trained.fit, layers=layers, labels=labels, recovery=recovery,
        circuits=per_circuit, faithfulness=_output_faithfulness(run, acts, g),
        full_rank_span=bool(any(len(c) >= model.config.d_model for c in cluster_sets[0])),
        seconds={"train": round(run.trained.seconds, 1), "decompose": round(run.seconds, 1)},
        cached={"train": run.trained.cached, "decompose": run.cached})
    out.clusters = cluster_sets[0]  # type: ignore[attr-defined]
    out.g_in = g[0]  # type: ignore[attr-defined]
    return out


def _asdict(obj) -> dict:
    return asdict(obj)


def _output_faithfulness(run: SPDRun, acts: np.ndarray, g: list[np.ndarray]) -> dict:
    """Output errors, as fractions of the target output's total variance."""
    x = torch.tensor(acts, dtype=torch.float32)
    gen = torch.Generator().manual_seed(run.spd.seed + 1)
    with torch.no_grad():
        ref = run.target(x)
        var = float(((ref - ref.mean(0)) ** 2).sum())
        ones = [torch.ones(len(x), u.shape[1]) for u in run.dec.U]
        gi = [torch.tensor(a, dtype=torch.float32) for a in g]
        rnd = [a + (1 - a) * torch.rand(a.shape, generator=gen) for a in gi]
        res = {}
        for name, masks in (("unmasked", ones), ("importance_masked", gi), ("stochastic", rnd)):
            out = run.dec.forward_masked(run.target, x, masks)
            res[name] = round_sig(float(((out - ref) ** 2).sum()) / max(var, 1e-30), 4)
    return res
