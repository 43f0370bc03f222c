"""Edge counts on the trained MLP: the `spd` node set beside the dictionaries, `mixed` and `hidden`.

The `spd` node set on the trained model. The circuit output is the trained MLP's output
y_k(x) = w_out[k] . ReLU(W_in a + b_in) + b_out[k], and delta_k(x) = w_out[k] * 1[hidden > 0] is
its gradient with respect to the hidden pre-activations. For a W_in subcomponent c:
    node value   v_c(x) = g_c(x) * (V_c . a(x))             (inner activation times importance)
    edge         e_c(x) = v_c(x) * (delta_k(x) . U_c)        (value times the gradient through U_c)
    error node   err(x) = grad_a y_k(x) . a(x) - sum_c e_c(x)
Summed over all c with g = 1 the edges give delta_k . (U V) a, which equals grad_a y_k . a when
the decomposition is faithful; the error node holds what importance-masked-off subcomponents and
the faithfulness residual carry. A cluster's edge is the sum of its members' edges. This is the
rule of the dictionaries, e_m = g_m(x) (grad y_k . D_m), with U_c in hidden space as the atom.

The other node sets on the trained model use the same rule with the trained gradient
grad_a y_k(x) = delta_k(x) W_in in place of the planted read direction: dictionary edges are
g_m(x) (grad_a y_k(x) . D_m); the oracle `mixed` view keeps each circuit's planted recipe (the
true features it reads) and fits the trained gradient on those feature directions by least
squares at each input, edges w_m(x) h_m(x). A control, `hidden`, takes the trained MLP's own
hidden neurons as nodes (the trivial decomposition of W_in into its rows: value W_in[h] . a(x),
edge value * delta_k[h]). Counts use the inputs where the planted circuit fires, the same rows
as the planted table, and the same local / global / union rules.
"""

from __future__ import annotations

import numpy as np

from basisgraph.config import Config
from basisgraph.core.counts import FAMILIES, cover_counts, round_sig
from basisgraph.core.study import Study, get_study
from basisgraph.decomposition import ablation
from basisgraph.decomposition.ablation import dictionary_coefficients, mixed_features
from basisgraph.decomposition.mlp import TARGETS, TrainConfig
from basisgraph.decomposition.readout import readout
from basisgraph.decomposition.recovery import recovery_report
from basisgraph.decomposition.spd import SPDConfig, SPDRun, decompose
from basisgraph.fmt import format_count

__all__ = [
    "trained_table",
    "default_saes",
    "format_trained_table",
    "spd_edges",
    "trained_edges",
    "EXTRA_LABELS",
    "node_groups",
    "sae_node_sets",
    "target_name",
]


def _mixed_edges(study: Study, k: int, rows: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Oracle mixed edges: the circuit's planted recipe refit to the trained gradient.  (n, |S|)"""
    h, dirs = mixed_features(study, k, rows)  # (n, S), (S, d)
    w = grad @ np.linalg.pinv(dirs)  # (n, S): least-squares weights of grad on the directions
    return w * h


def spd_edges(run: SPDRun, study: Study, g_in: np.ndarray, k: int, rows: np.ndarray,
              clusters: list[list[int]]) -> np.ndarray:
    """Edges from spd nodes (clusters of W_in subcomponents) into circuit k.  (n, nodes)"""
    acts = study.data.acts[rows]
    w_in = run.target.w_in.numpy().astype(np.float64)
    b_in = run.target.b_in.numpy().astype(np.float64)
    w_out = run.target.w_out.numpy().astype(np.float64)
    U = run.dec.U[0].detach().numpy().astype(np.float64)  # (hidden, C)
    V = run.dec.V[0].detach().numpy().astype(np.float64)  # (C, d)
    delta = w_out[k] * (acts @ w_in.T + b_in > 0)  # (n, hidden)
    per = g_in[rows] * (acts @ V.T) * (delta @ U)  # (n, C)
    out = np.zeros((len(rows), len(clusters)))
    for j, members in enumerate(clusters):
        out[:, j] = per[:, members].sum(1)
    return out


def trained_edges(run: SPDRun, study: Study, node_sets: dict, groups: list[list[int]],
                  g_in: np.ndarray, basis: str, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (n, nodes) of one node set into trained output k on the rows `rows` of `study`'s
    data, and grad_a y_k . a (n,), which they add up to with the error node. `node_sets` holds
    the dictionaries; "mixed", "hidden" and "spd" (nodes `groups`, importances `g_in`) are the
    other three. The table counts these edges and the panels draw them (trained_graphs.py)."""
    x = study.data.acts[rows]  # (n, d)
    w_in = run.target.w_in.numpy().astype(np.float64)
    b_in = run.target.b_in.numpy().astype(np.float64)
    w_out = run.target.w_out.numpy().astype(np.float64)
    delta = w_out[k] * (x @ w_in.T + b_in > 0)  # (n, hidden)
    grad = delta @ w_in  # (n, d) gradient of the trained output
    total = np.sum(grad * x, axis=1)
    if basis == "mixed":
        return _mixed_edges(study, k, rows, grad), total
    if basis == "hidden":  # the MLP's neurons: value W_in[h] . a, edge value * delta[h]
        return (x @ w_in.T) * delta, total
    if basis == "spd":
        return spd_edges(run, study, g_in, k, rows, groups), total
    coef, atoms = dictionary_coefficients(study, node_sets[basis], rows)
    return coef * (grad @ atoms.T), total


EXTRA_LABELS = {"spd": "SPD subcomponents of W_in (clusters merged)",
                 "hidden": "hidden neurons of the trained MLP (control)"}


def target_name(tcfg: TrainConfig) -> str | None:
    """The mlp.TARGETS name whose shape (the fields in which the targets differ) `tcfg` has;
    None for a training that is neither. Steps, batch and seeds do not change the name."""
    names = list(TARGETS)
    shape = [f for f in TrainConfig.__dataclass_fields__
             if len({getattr(TARGETS[t], f) for t in names}) > 1]
    for name in names:
        if all(getattr(tcfg, f) == getattr(TARGETS[name], f) for f in shape):
            return name
    return None


def node_groups(run: SPDRun, clusters: list[list[int]]) -> list[list[int]]:
    """Every W_in subcomponent in exactly one node: the clusters, then singletons."""
    seen = {m for c in clusters for m in c}
    return list(clusters) + [[c] for c in range(run.spd.components_in) if c not in seen]


def _stats(edges: np.ndarray, n_samples: int, tau: float) -> dict:
    absv = np.abs(edges)
    counts, thr = cover_counts(absv, tau)
    keep = absv.astype(np.float32) >= thr[:, None]
    mean_abs = absv.sum(0) / max(n_samples, 1)
    return {"local_edges": float(np.median(counts)),
            "global_edges": int(cover_counts(mean_abs[None, :], tau)[0][0]),
            "union_nodes": int(keep.any(0).sum())}


def default_saes(cfg: Config) -> list:
    """Learned dictionaries compared by default: ReLU SAEs of width animals + attributes and of
    width attributes, and the two-level matryoshka (inner level = attributes)."""
    from basisgraph.dictionaries.sae import SAEConfig

    out = [SAEConfig(kind="relu"), SAEConfig(kind="relu", width=cfg.attributes)]
    if cfg.animals > 0:
        out.append(SAEConfig(kind="matryoshka"))
    return out


def sae_node_sets(study: Study, sae_cfgs, train: bool) -> dict:
    """Node sets of the learned dictionaries (trained now if `train`, else only cached ones)."""
    from basisgraph.dictionaries.sae import load_sae, sae_node_set, train_sae

    sets = {}
    for s in sae_cfgs:
        t = train_sae(study.config, s) if train else load_sae(study.config, s)
        if t is not None:
            sets[t.id] = sae_node_set(study, t)
    return sets


def trained_table(cfg: Config, tcfg: TrainConfig | None = None, scfg: SPDConfig | None = None,
                  *, train: bool = False, progress: bool = False, run: SPDRun | None = None,
                  sae_cfgs=None, on_progress=None, ro=None, sae_sets: dict | None = None) -> dict:
    """The edge-count table on the trained MLP, with the `spd` node set beside the others.

    Same cells as `counts.table` (local / global / union medians per basis and family), plus
    the fit and the read-out summary (no wall-clock times: one configuration, one JSON).
    Learned dictionaries (`sae_cfgs`, SAEConfigs) join the planted ones; with train=False nothing is trained: a missing MLP or decomposition
    raises NotCachedError and a missing SAE is left out. `on_progress(stage, done, total)`, if
    given, is called about 200 times per stage while the MLP trains (stage "mlp") and while
    SPD runs (stage "spd"); never when both are loaded from the cache. A caller that holds them
    already (trained_graphs.TrainedView) passes the run, its read-out `ro` and the SAE node
    sets (`sae_sets`, id -> NodeSet) instead of having them loaded and computed again.
    """
    study = get_study(cfg)
    run = run or decompose(cfg, tcfg, scfg, train=train, progress=progress, on_progress=on_progress)
    ro = ro if ro is not None else readout(run, study)
    node_sets = dict(study.node_sets)
    node_sets.update(sae_sets if sae_sets is not None else sae_node_sets(study, sae_cfgs or [], train))
    model = study.model
    tau, n = cfg.coverage, len(study.data.acts)
    hidden = int(run.target.w_in.shape[0])
    groups = node_groups(run, ro.clusters)
    dict_ids = [b for b in node_sets if node_sets[b].is_dictionary]
    bases = dict_ids + ["mixed", "hidden", "spd"]
    per: dict[str, list[dict | None]] = {b: [] for b in bases}
    abl: dict[str, list[dict | None]] = {b: [] for b in bases}  # disagreement terms per circuit
    w_in, b_in, w_out = (t.numpy().astype(np.float64) for t in (run.target.w_in, run.target.b_in,
                                                                 run.target.w_out))
    for k, _circuit in enumerate(model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)
        if not len(rows):
            for b in bases:
                per[b].append(None)
                abl[b].append(None)
            continue
        z = study.data.acts[rows] @ w_in.T + b_in  # (n, hidden)
        for b in bases:
            edges, _ = trained_edges(run, study, node_sets, groups, ro.g_in, b, k, rows)
            per[b].append(_stats(edges, n, tau))
            contrib = ablation.contributions(run, study, node_sets, groups, ro.g_in, b, k, rows)
            abl[b].append(ablation.disagreement_terms(edges, contrib, z, w_out[k], tau))
    cells = []
    for b in bases:
        for fam in FAMILIES:
            ks = [k for k, c in enumerate(model.circuits) if c.family == fam]
            st = [per[b][k] for k in ks if per[b][k] is not None]
            cells.append({"basis": b, "family": fam, "circuits": len(ks), **{
                f"{key}_median": round_sig(float(np.median([s[key] for s in st]))) if st else None
                for key in ("local_edges", "global_edges", "union_nodes")}})
    circuits = [{"id": c.id, "family": c.family, "label": c.label,
                 "active_inputs": int(np.sum(study.pre[:, k] > 0)),
                 "stats": {b: per[b][k] for b in bases},
                 "ablation": {b: None if abl[b][k] is None else ablation.disagreement([abl[b][k]])
                              for b in bases}} for k, c in enumerate(model.circuits)]
    by_family = [{"basis": b, "family": fam, **ablation.disagreement(
        [abl[b][k] for k, c in enumerate(model.circuits) if c.family == fam and abl[b][k] is not None])}
        for b in bases for fam in FAMILIES]
    summary = {key: ro[key] for key in ("fit", "layers", "recovery", "faithfulness", "full_rank_span",
                                        "seconds", "cached", "train", "spd", "labels")}
    summary["recovery_per_circuit"] = ro["circuits"]
    # The stricter tests: composites beyond the animal direction, and ablation of what is recovered.
    summary["recovery_strict"] = recovery_report(run, study, ro)
    return {"version": 1, "model": "trained", "target": target_name(run.train),
            "config": cfg.as_json(), "families": list(FAMILIES),
            "bases": [{"id": b, "label": node_sets[b].label if b in node_sets else
                       EXTRA_LABELS[b], "is_dictionary": b in dict_ids,
                       "atoms": node_sets[b].size if b in node_sets else
                       (len(groups) if b == "spd" else hidden)}
                      for b in bases],
            "cells": cells, "circuits": circuits, "readout": summary,
            "ablation": {"rule": ablation.RULE, "coverage": tau, "cells": by_family}}


def format_trained_table(t: dict) -> str:
    """The trained-model table and the read-out summary as text."""
    ro = t["readout"]
    fit = ro["fit"]["fve_per_family"]
    lines = ["trained MLP: " + ", ".join(f"{f} {v:.3f}" for f, v in fit.items())
             + "  (fraction of variance explained, held-out)"]
    for layer in ro["layers"]:
        multi = layer["multi_rank_clusters"]
        lines.append(f"{layer['matrix']}: {layer['significant']} significant of {layer['components']} "
                     f"subcomponents, {layer['clusters']} clusters"
                     + (f" (multi-rank: {', '.join(str(c['size']) for c in multi)})" if multi else "")
                     + f", L0 {layer['l0_mean']:.2f} per input, ||W - UV||/||W|| "
                     f"{layer['faithfulness_rel']}")
    rec = ro["recovery"]
    lines.append("read directions recovered at |cos| > 0.9: " + ", ".join(
        f"{f} {r['recovered']}/{r['circuits']}" for f, r in rec.items())
        + "  (W_in rows alone: " + ", ".join(
            f"{f} {r['neuron_rows_recovered']}/{r['circuits']}" for f, r in rec.items()) + ")")
    fa = ro["faithfulness"]
    lines.append(f"output error / variance: unmasked {fa['unmasked']}, masked by importance "
                 f"{fa['importance_masked']}, stochastic masks {fa['stochastic']}")
    bases = [b["id"] for b in t["bases"]]
    cells = {(c["basis"], c["family"]): c for c in t["cells"]}

    num = format_count
    width = max(12, *(len(b) + 2 for b in bases))
    lines += ["", f"edge counts on the trained MLP, local / global (coverage tau = {t['config']['coverage']})",
              "family".ljust(11) + "".join(b.rjust(width) for b in bases)]
    for fam in t["families"]:
        lines.append(fam.ljust(11) + "".join(
            f"{num(cells[(b, fam)]['local_edges_median'])} / "
            f"{num(cells[(b, fam)]['global_edges_median'])}".rjust(width) for b in bases))
    ab = {(c["basis"], c["family"]): c["disagreement"] for c in t.get("ablation", {}).get("cells", [])}
    if ab:
        lines += ["", "edges against single-node ablations: " + t["ablation"]["rule"],
                  "family".ljust(11) + "".join(b.rjust(width) for b in bases)]
        for fam in t["families"]:
            lines.append(fam.ljust(11) + "".join(
                ("-" if ab.get((b, fam)) is None else f"{ab[(b, fam)]:.2f}").rjust(width) for b in bases))
    sec = ro["seconds"]
    lines += ["", f"train {sec['train']} s{' (cached)' if ro['cached']['train'] else ''}, "
              f"decompose {sec['decompose']} s{' (cached)' if ro['cached']['decompose'] else ''}"]
    return "\n".join(lines)
