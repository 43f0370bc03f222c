"""Graph panels on the trained MLP: the edges into one trained circuit output from one node set.

The trained table (`spd_readout.trained_table`) counts edges; this module draws them, with the
same panel contract as `graphs.panel`, so the page shows a trained model the way it shows the
planted one.

Steps of `trained_panel`:
1. Load the trained view of the configuration (`trained_view`): the cached MLP, its SPD, the
   read-out and the cached learned dictionaries. Nothing is trained here: a missing MLP or
   decomposition raises NotCachedError.
2. Pick the inputs: the whole dataset (the rows where the planted circuit fires, the rows the
   trained table counts), or one example input.
3. Edges of the node set into the trained output y_k, by the rule of spd_readout: dictionaries
   g_m(x) (grad_a y_k(x) . D_m); the oracle `mixed` recipe refit to the trained gradient;
   `hidden` neurons W_in[h] . a times delta_k[h]; `spd` nodes g_c (V_c . a) (delta_k . U_c).
4. For the dataset, the mean signed edge is drawn and the mean |edge| ranks and counts (over
   all inputs, as the global count does); the error node is grad_a y_k . a minus the edges.
5. Rank and fold with `graphs.fold_nodes`, as the planted panels are.
6. Beside the edges, how far they are from single-node ablations of the trained MLP
   (decomposition/ablation.py): the disagreement over the inputs and the nodes the local rule
   keeps, at the query's coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from basisgraph.cache import cache_dir, sae_doc
from basisgraph.config import Config, ConfigError
from basisgraph.core.bases import NodeSet
from basisgraph.core.counts import VERSION, round_sig
from basisgraph.core.graphs import MAX_TOP, PanelNodes, fold_nodes
from basisgraph.core.study import Study, get_study
from basisgraph.decomposition import ablation
from basisgraph.dictionaries.config import cache_key

if TYPE_CHECKING:  # names for annotations only: importing these modules loads torch
    from basisgraph.decomposition.mlp import TrainConfig
    from basisgraph.decomposition.readout import Readout
    from basisgraph.decomposition.spd import SPDConfig, SPDRun
    from basisgraph.dictionaries.config import SAEConfig

__all__ = ["Settings", "TrainedView", "trained_view", "trained_panel", "trained_node_sets",
           "clear_cache", "model_config", "cache_state"]


@dataclass(frozen=True)
class Settings:
    """How the trained model is made: the CLI's `decompose` and the web job use the defaults."""

    train: TrainConfig | None = None  # the MLP's training; None: its defaults
    spd: SPDConfig | None = None  # the decomposition; None: its defaults
    saes: tuple[SAEConfig, ...] | None = None  # SAEs compared; None: table.default_saes

    def resolve(self, cfg: Config) -> Settings:
        """The same settings with every None replaced by its default for `cfg`."""
        from basisgraph.decomposition.mlp import TrainConfig
        from basisgraph.decomposition.spd import SPDConfig
        from basisgraph.decomposition.table import default_saes

        return Settings(self.train or TrainConfig(), self.spd or SPDConfig(),
                        tuple(default_saes(cfg)) if self.saes is None else tuple(self.saes))


@dataclass(frozen=True)
class TrainedView:
    """One configuration's trained MLP with everything its panels need (arrays in float64)."""

    study: Study
    run: SPDRun  # the trained MLP and its decomposition
    readout: Readout  # the read-out (with .g_in and .clusters)
    node_sets: dict[str, NodeSet]  # dictionaries: the planted ones, then the cached SAEs
    groups: list[list[int]]  # spd nodes: W_in subcomponents per node (clusters, then singletons)
    w_in: np.ndarray  # (hidden, d_model)
    b_in: np.ndarray  # (hidden,)
    w_out: np.ndarray  # (circuits, hidden)
    names: list[str]  # nearest-direction names of every animal, attribute and random dim
    dirs: np.ndarray  # (animals + d_model, d_model) unit directions named by `names`


def model_config(cfg: Config) -> Config:
    """The configuration a view is built under: coverage only changes counting, so every
    coverage shares one view (the disk cache also leaves out alpha and samples)."""
    return cfg.model_copy(update={"coverage": 0.9})


def cache_state(cfg: Config, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The cache directory and the keys of the compared SAEs cached in it: a view is only
    reused while these are the same, so an SAE trained later joins the panels."""
    keys = (cache_key(cfg, s.resolve(cfg)) for s in settings.resolve(cfg).saes)
    return str(cache_dir()), tuple(k for k in keys if sae_doc(k) is not None)


def trained_view(cfg: Config, settings: Settings = Settings()) -> TrainedView:
    """The cached trained MLP, its decomposition and read-out for `cfg` (never trains)."""
    return _view(model_config(cfg), settings.resolve(cfg), cache_state(cfg, settings))


@lru_cache(maxsize=4)
def _view(cfg: Config, settings: Settings, _state: tuple) -> TrainedView:
    from basisgraph.decomposition.readout import readout
    from basisgraph.decomposition.spd import decompose
    from basisgraph.decomposition.table import node_groups, sae_node_sets

    study = get_study(cfg)
    run = decompose(cfg, settings.train, settings.spd, train=False)
    ro = readout(run, study)
    sets = {b: ns for b, ns in study.node_sets.items() if ns.is_dictionary}
    sets.update(sae_node_sets(study, settings.saes, train=False))
    m = study.model
    names = list(m.animal_names) + list(m.axis_names)
    dirs = np.concatenate([m.animal_dirs, m.axis_dirs])
    f64 = lambda t: t.detach().numpy().astype(np.float64)  # noqa: E731
    return TrainedView(study, run, ro, sets, node_groups(run, ro.clusters), f64(run.target.w_in),
                       f64(run.target.b_in), f64(run.target.w_out), names, dirs)


def clear_cache() -> None:
    """Forget loaded trained views (tests retrain into fresh cache directories)."""
    _view.cache_clear()


def trained_node_sets(view: TrainedView) -> list[str]:
    """Node-set ids with panels on the trained model, in the trained table's order."""
    return [*view.node_sets, "mixed", "hidden", "spd"]


def _labels(view: TrainedView, vecs: np.ndarray) -> list[str]:
    """'≈name 0.97' per row of vecs: the true direction nearest it, as SAE latents are named."""
    from basisgraph.dictionaries.sae import nearest_labels

    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-30)
    return nearest_labels(view.names, unit @ view.dirs.T)[0]  # (n, animals + d_model) cosines


def _nodes(view: TrainedView, basis: str, k: int) -> tuple[list[str], list[str], list[str]]:
    """ids, labels and kinds of a node set's nodes on the trained model."""
    if basis in view.node_sets:
        ns = view.node_sets[basis]
        return list(ns.node_ids), list(ns.node_labels), list(ns.node_kinds)
    if basis == "mixed":
        mixed = view.study.node_sets["mixed"]
        picked, _ = view.study.recipes[view.study.model.circuits[k].id]
        return ([mixed.node_ids[int(i)] for i in picked], [mixed.node_labels[int(i)] for i in picked],
                [mixed.node_kinds[int(i)] for i in picked])
    if basis == "hidden":
        return ([f"hidden:{h}" for h in range(len(view.w_in))], _labels(view, view.w_in),
                ["hidden"] * len(view.w_in))
    V = view.run.dec.V[0].detach().numpy().astype(np.float64)  # (C, d)
    one = _labels(view, V)
    ids = ["spd:" + "+".join(f"c{c}" for c in g) for g in view.groups]
    # A cluster is named by its first member, with the number of others.
    labels = [one[g[0]] + (f" +{len(g) - 1}" if len(g) > 1 else "") for g in view.groups]
    return ids, labels, ["spd"] * len(ids)


def _edges(view: TrainedView, study: Study, g_in: np.ndarray, basis: str, k: int,
           rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (n, nodes) of one node set into trained output k, and grad_a y_k . a (n,): the
    trained table's own edges (spd_table.trained_edges), so panels and counts agree."""
    from basisgraph.decomposition.table import trained_edges

    return trained_edges(view.run, study, view.node_sets, view.groups, g_in, basis, k, rows)


def view_table(cfg: Config, settings: Settings = Settings()) -> dict:
    """The trained table counted on the panels' view (its run, read-out and SAEs), so that the
    table and the panels never load or read out the model twice. Never trains."""
    from basisgraph.decomposition.table import trained_table

    view = trained_view(cfg, settings)
    s = settings.resolve(cfg)
    sae_sets = {b: ns for b, ns in view.node_sets.items() if b not in view.study.node_sets}
    return trained_table(cfg, s.train, s.spd, run=view.run, ro=view.readout, sae_sets=sae_sets)


def trained_panel(cfg: Config, basis: str, circuit: str, input: str = "dataset",
                  top: int = 40, settings: Settings = Settings()) -> dict:
    """One circuit of the trained MLP under one node set, for one input or the whole dataset.

    The contract is `graphs.panel`'s, plus "model": "trained"; raises NotCachedError when the
    MLP or its decomposition is not cached, ConfigError for an unknown basis, circuit or input.
    """
    from basisgraph.decomposition.readout import importances
    from basisgraph.decomposition.table import EXTRA_LABELS, target_name

    if not 1 <= int(top) <= MAX_TOP:
        raise ConfigError("top", top, f"an integer from 1 to {MAX_TOP}")
    view = trained_view(cfg, settings)
    ids = trained_node_sets(view)
    if basis not in ids:
        raise ConfigError("basis", basis, "one of " + ", ".join(ids))
    study = view.study
    k, c = study.circuit(circuit)
    if input == "dataset":
        rows = np.flatnonzero(study.pre[:, k] > 0)
        n = len(study.pre)
        edges, total = _edges(view, study, view.readout.g_in, basis, k, rows)
        contrib = ablation.contributions(view.run, study, view.node_sets, view.groups,
                                         view.readout.g_in, basis, k, rows)
        terms = ablation.disagreement_terms(edges, contrib, study.data.acts[rows] @ view.w_in.T + view.b_in,
                                            view.w_out[k], cfg.coverage)
        weights, absw = edges.sum(0) / n, np.abs(edges).sum(0) / n
        total_mean = float(total.sum()) / n
        x = study.data.acts
        label = f"all {n} inputs (mean)"
        active = float(len(rows)) / max(n, 1)
    else:
        label, enc = study.example(input)
        one = replace(study, enc=enc)
        g_in = importances(view.run, enc.data.acts)[0]
        edges, total = _edges(view, one, g_in, basis, k, np.array([0]))
        contrib = ablation.contributions(view.run, one, view.node_sets, view.groups, g_in, basis, k,
                                         np.array([0]))
        terms = ablation.disagreement_terms(edges, contrib, enc.data.acts[:1] @ view.w_in.T + view.b_in,
                                            view.w_out[k], cfg.coverage)
        weights, absw, total_mean = edges[0], np.abs(edges[0]), float(total[0])
        x = enc.data.acts
        active = bool(float(x[0] @ c.read - c.bias) > 0)
    hidden = np.maximum(x @ view.w_in.T + view.b_in, 0.0)  # (n, hidden)
    output = float(np.mean(hidden @ view.w_out[k] + view.run.target.b_out.numpy()[k]))
    node_ids, labels, kinds = _nodes(view, basis, k)
    body = fold_nodes(PanelNodes(node_ids, labels, kinds, weights, absw, total_mean), int(top),
                      cfg.coverage, f"circuit:{c.id}")
    size = len(node_ids)
    set_label = (view.node_sets[basis].label if basis in view.node_sets
                 else EXTRA_LABELS.get(basis) or study.node_sets["mixed"].label)
    summary = {"id": basis, "label": set_label,
               "atoms": size, "is_dictionary": basis in view.node_sets}
    return {"version": VERSION, "model": "trained", "target": target_name(view.run.train),
            "config": cfg.as_json(), "basis": summary,
            "ablation": {"rule": ablation.RULE, "coverage": cfg.coverage, **ablation.disagreement([terms])},
            "circuit": {"id": c.id, "label": c.label, "family": c.family, "node": body.pop("target")},
            "input": {"id": input, "label": label}, "active": active,
            "output": round_sig(output), "total": round_sig(total_mean), **body}
