"""One attribution graph (a panel) and the model description the page needs.

Steps of `panel`:
1. Find the circuit, the node set and the input (an example, or the whole dataset).
2. Compute the edge into the circuit from every node (attribution.py); for the dataset use the
   mean signed edge for display and the mean |edge| for ranking and counting.
3. Rank nodes by |edge|; keep the top ones, fold the rest into one "+N more" node whose weight
   and |weight| are their sums, so nothing is dropped from the totals.
4. Report the edge count at the configured coverage and at every coverage 0.00 ... 1.00, so a
   client can prune live without asking again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from basisgraph.config import Config, ConfigError
from basisgraph.core.attribution import edge_vectors
from basisgraph.core.bases import NodeSet
from basisgraph.core.causal import Ablation, ablation_effects
from basisgraph.core.counts import (
    TOL,
    VERSION,
    basis_summary,
    circuit_stats,
    cover_counts,
    descending,
    round_sig,
)
from basisgraph.core.study import Study, get_study

__all__ = ["panel", "fold_nodes", "PanelNodes", "model_info", "coverage_curve", "MAX_TOP"]

MAX_TOP = 2000  # most nodes one panel lists individually
NOISE = 1e-12  # edges below this fraction of the total |attribution| are round-off


def coverage_curve(absvals: np.ndarray) -> list[int]:
    """Edge count needed for tau = 0.00, 0.01, ..., 1.00, by the same rule as cover_counts.

    (nodes,) -> 101 ints
    """
    _, csum = descending(absvals[None, :])
    total = csum[0, -1] if csum.shape[1] else 0.0
    if total <= 0:
        return [0] * 101
    taus = np.arange(101) / 100  # correctly rounded, so 90 / 100 == 0.9 exactly
    counts = np.searchsorted(csum[0], taus * total * (1 - TOL), side="left") + 1
    counts[0] = 0
    return np.minimum(counts, csum.shape[1]).astype(int).tolist()


def panel(cfg: Config, basis: str, circuit: str, input: str = "dataset", top: int = 40,
          extra: dict[str, NodeSet] | None = None) -> dict:
    """Nodes, links and edge counts of one circuit under one node set, for one input.

    `extra` adds node sets (id -> NodeSet, e.g. a trained SAE's) beside the study's own.
    """
    if not 1 <= int(top) <= MAX_TOP:
        raise ConfigError("top", top, f"an integer from 1 to {MAX_TOP}")
    study = get_study(cfg)
    if extra:
        study = replace(study, node_sets={**study.node_sets, **extra})
    ns = study.node_set(basis)
    k, c = study.circuit(circuit)
    if input == "dataset":
        st = circuit_stats(study, basis, k)
        weights, absw = st.mean_signed, st.mean_abs
        pre = study.pre[:, k]
        on = pre > 0
        total = float(np.sum(study.data.acts[on] @ c.read)) / max(len(pre), 1)
        out_val, active = float(np.mean(np.maximum(pre, 0))), float(np.mean(on))
        label = f"all {len(pre)} inputs (mean)"
    else:
        label, enc = study.example(input)
        pre = float(enc.data.acts[0] @ c.read - c.bias)
        if pre > 0:
            vec, tot = edge_vectors(study.model, ns, enc, c, np.array([0]), study.recipes[c.id])
            weights, total = vec[0], float(tot[0])
        else:
            weights, total = np.zeros(ns.size), 0.0
        absw, out_val, active = np.abs(weights), max(pre, 0.0), pre > 0
    body = fold_nodes(PanelNodes(ns.node_ids, ns.node_labels, ns.node_kinds, weights, absw, total),
                      top, cfg.coverage, f"circuit:{c.id}")
    out = {"version": VERSION, "config": cfg.as_json(),
           "basis": basis_summary(study, basis),
           "circuit": {"id": c.id, "label": c.label, "family": c.family, "node": body.pop("target")},
           "input": {"id": input, "label": label}, "active": active,
           "output": round_sig(out_val), "total": round_sig(total), **body}
    if not cfg.legacy:  # added with link version 2
        enc = study.enc if input == "dataset" else study.example(input)[1]
        rows = np.flatnonzero(study.pre[:, k] > 0) if input == "dataset" else np.flatnonzero([active])
        abl = ablation_effects(study.model, ns, enc, c, rows, study.recipes[c.id], cfg.coverage,
                               len(study.pre) if input == "dataset" else 1)
        out["causal"] = causal_block(ns, abl, out["nodes"], study.recipes[c.id][0], total)
    return out


def causal_block(ns: NodeSet, abl: Ablation, nodes: list[dict], recipe_nodes: np.ndarray,
                 total: float) -> dict:
    """Ablation effects beside each drawn node (in place) and the node set's two scores."""
    shown = np.zeros(ns.size, bool)
    for n in nodes:
        i = ns.index(n["id"])
        if i is not None:
            shown[i] = True
            n["ablation_pre"], n["ablation_output"] = round_sig(abl.pre[i]), round_sig(abl.output[i])
        elif n["kind"] == "more":  # the folded nodes, summed like their edges
            n["ablation_pre"] = round_sig(float(abl.pre[~shown].sum()))
            n["ablation_output"] = round_sig(float(abl.output[~shown].sum()))
    out = {"kept_output_fraction": round_sig(abl.kept_output_fraction, 4),
           "error_fraction": round_sig(abl.error_fraction, 4, 1e-9),
           "note": "edges attribute the reader's input r·a (before its threshold); ablating a node "
                   "moves r·a by ablation_pre and the output y by ablation_output"}
    if not ns.is_dictionary:  # features the oracle's recipe leaves out but that move r·a
        listed = set(int(i) for i in recipe_nodes)
        rest = np.array([i for i in np.argsort(-np.abs(abl.pre), kind="stable") if int(i) not in listed])
        big = rest[np.abs(abl.pre[rest]) > 0.01 * abs(total)] if len(rest) and total else rest[:0]
        out["unlisted_over_1pct"] = len(big)
        out["unlisted"] = [{"id": ns.node_ids[i], "label": ns.node_labels[i],
                            "ablation_pre": round_sig(abl.pre[i])} for i in big[:5]]
    return out


class PanelNodes(NamedTuple):
    """One panel's nodes and their edges into the circuit, before folding."""

    ids: Sequence[str]  # (nodes,) node ids
    labels: Sequence[str]  # (nodes,) display labels
    kinds: Sequence[str]  # (nodes,) animal | attribute | neuron | ...
    weights: np.ndarray  # (nodes,) signed edge (mean over inputs for the dataset panel)
    absw: np.ndarray  # (nodes,) |edge| (mean |edge| for the dataset panel)
    total: float  # the reader's input r . a the edges divide (the error node holds the rest)


def fold_nodes(p: PanelNodes, top: int, coverage: float, target: str) -> dict:
    """The drawn part of a panel from one edge per node.

    Nodes are ranked by |edge|; the top ones are kept and the rest fold into one "+N more" node
    (its weight and |weight| are their sums), and the error node holds total - sum(weights).
    Returns edge_count at `coverage`, coverage_curve, nonzero_edges, nodes, links and target.
    """
    ids, labels, kinds, weights, absw, total = p
    # Round-off from exact cancellations (e.g. orthogonal atoms) is not an edge.
    noise = absw <= NOISE * absw.sum()
    weights, absw = np.where(noise, 0.0, weights), np.where(noise, 0.0, absw)
    order = np.argsort(-absw, kind="stable")
    order = order[absw[order] > 0]
    shown, rest = order[:top], order[top:]
    nodes = [{"id": ids[i], "label": labels[i], "kind": kinds[i], "weight": round_sig(weights[i]),
              "abs": round_sig(absw[i]), "rank": r} for r, i in enumerate(int(i) for i in shown)]
    if len(rest):
        nodes.append({"id": "more", "label": f"+{len(rest)} more", "kind": "more",
                      "weight": round_sig(float(weights[rest].sum())),
                      "abs": round_sig(float(absw[rest].sum())), "rank": len(shown),
                      "count": len(rest)})
    err = total - float(weights.sum())
    err = 0.0 if abs(err) <= 1e-9 * (abs(total) + float(absw.sum())) else err
    nodes.append({"id": "error", "label": "error", "kind": "error", "weight": round_sig(err),
                  "abs": round_sig(abs(err)), "rank": None})
    # The circuit's node id is distinct from a node that shares the circuit's feature id.
    links = [{"source": n["id"], "target": target, "weight": n["weight"]}
             for n in nodes if n["weight"] not in (0.0, None) or n["kind"] == "more"]
    count = int(cover_counts(absw[None, :], coverage)[0][0]) if absw.any() else None
    return {"edge_count": count, "coverage_curve": coverage_curve(absw),
            "nonzero_edges": len(order), "nodes": nodes, "links": links, "target": target}


def model_info(cfg: Config) -> dict:
    """Names, circuits (planted recipe and mixed decomposition), examples, node sets, geometry."""
    study: Study = get_study(cfg)
    m = study.model
    mixed = study.node_sets["mixed"]
    circuits = []
    for k, c in enumerate(m.circuits):
        nodes, weights = study.recipes[c.id]
        circuits.append({
            "id": c.id, "family": c.family, "label": c.label, "bias": round_sig(c.bias),
            "reads": [{"node": n, "weight": round_sig(w)} for n, w in c.reads],
            "mixed": [{"node": mixed.node_ids[int(i)], "weight": round_sig(float(w))}
                      for i, w in zip(nodes, weights)],
            "active_inputs": int(np.sum(study.pre[:, k] > 0)),
            **({} if cfg.legacy else {"mixed_exact_fits": study.recipe_fits.get(c.id, {}).get("exact_fits")})})
    examples = []
    for eid, (label, enc) in study.examples.items():
        ov = int(enc.data.overlay_attr[0])
        examples.append({"id": eid, "label": label,
                         "animals": [m.animal_names[i] for i in enc.data.animal_idx[0]],
                         "overlay": m.axis_names[ov] if ov >= 0 else None})
    na, nt = min(12, cfg.animals), min(12, cfg.attributes)
    cos = m.animal_dirs[:na] @ m.attr_dirs[:nt].T  # (na, nt)
    return {"version": VERSION, "config": cfg.as_json(),
            "families": ["animal", "attribute", "composite"],
            "animals": {"count": cfg.animals, "names": list(m.animal_names[:200])},
            "attributes": {"count": cfg.attributes, "names": list(m.axis_names[: cfg.attributes])},
            "circuits": circuits, "examples": examples,
            "bases": [basis_summary(study, b) for b in study.node_sets],
            "geometry": {"animals": list(m.animal_names[:na]),
                         "attributes": list(m.axis_names[:nt]),
                         "cosines": [[round_sig(float(x), 4) for x in row] for row in cos]}}
