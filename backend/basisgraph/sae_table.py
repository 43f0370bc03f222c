"""The side-by-side table with learned dictionaries appended as extra node sets.

Steps of `sae_table`:
1. Build (or reuse) the study of the configuration.
2. Train or load each SAE (sae.py) and turn it into a node set (`sae:<kind>:<width>`).
3. Extend the study's node sets with them and count every (node set, circuit) with
   `counts.circuit_stats`, exactly as `counts.table` does for the planted node sets.
4. Return the same JSON contract as `counts.table` (version, config, families, bases, cells,
   circuits, timings); each SAE's entry in `bases` also carries `"sae": {config, metrics}`.

With `train=False` only cached SAEs are used and a missing one raises ConfigError naming the
field `sae`, so a web request can never start a training run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .bases import reconstruction
from .config import Config, ConfigError
from .counts import FAMILIES, VERSION, circuit_stats, round_sig
from .sae import SAEConfig, TrainedSAE, cache_key, load_sae, sae_node_set, train_sae
from .study import Study, get_study

__all__ = ["sae_study", "sae_table", "node_set_summary"]


def sae_study(cfg: Config, sae_cfgs: Sequence[SAEConfig], train: bool = True) -> tuple[Study, list[TrainedSAE]]:
    """The study of `cfg` with one extra node set per SAE (trained now or loaded from the cache)."""
    study = get_study(cfg)
    trained = []
    for s in sae_cfgs:
        t = train_sae(cfg, s) if train else load_sae(cfg, s)
        if t is None:
            raise ConfigError("sae", s.resolve(cfg).model_dump(mode="json"),
                              "an SAE that has been trained (basisgraph train-sae)")
        trained.append(t)
    sets = dict(study.node_sets)
    for t in trained:
        sets[t.id] = sae_node_set(study, t)
    return replace(study, node_sets=sets), trained


def node_set_summary(study: Study, basis: str) -> dict:
    """Id, label, size and reconstruction numbers of one node set (medians over inputs)."""
    ns = study.node_sets[basis]
    acts = study.data.acts
    recon = reconstruction(study.model, ns, study.data)  # (samples, d_model)
    norm = np.maximum(np.linalg.norm(acts, axis=1), 1e-300)
    err = np.linalg.norm(recon - acts, axis=1) / norm
    ratio = np.linalg.norm(recon, axis=1) / norm
    return {"id": ns.id, "label": ns.label, "description": ns.description, "atoms": ns.size,
            "is_dictionary": ns.is_dictionary,
            "reconstruction_error": round_sig(float(np.median(err)), 4),
            "reconstruction_error_max": round_sig(float(err.max()), 4),
            "reconstruction_norm_ratio": round_sig(float(np.median(ratio)), 6)}


def _median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.median(vals)) if vals else None


def sae_table(cfg: Config, sae_cfgs: Sequence[SAEConfig], train: bool = True) -> dict:
    """`counts.table` of `cfg` with the SAEs of `sae_cfgs` appended as node sets."""
    t0 = time.perf_counter()
    study, trained = sae_study(cfg, sae_cfgs, train)
    t1 = time.perf_counter()
    model = study.model
    bases = list(study.node_sets)
    per = {b: [circuit_stats(study, b, k) for k in range(len(model.circuits))] for b in bases}
    circuits = []
    for k, c in enumerate(model.circuits):
        stats = {b: {"local_edges": round_sig(per[b][k].local_edges),
                     "global_edges": per[b][k].global_edges,
                     "union_nodes": per[b][k].union_nodes,
                     "own_share": round_sig(per[b][k].own_share, 4),
                     "error_share": round_sig(per[b][k].error_share, 4)} for b in bases}
        circuits.append({"id": c.id, "family": c.family, "label": c.label,
                         "active_inputs": int(np.sum(study.pre[:, k] > 0)), "stats": stats})
    cells = []
    for b in bases:
        for fam in FAMILIES:
            ks = [k for k, c in enumerate(model.circuits) if c.family == fam]
            st = [per[b][k] for k in ks]
            cells.append({
                "basis": b, "family": fam, "circuits": len(ks),
                "local_edges_median": round_sig(_median([s.local_edges for s in st])),
                "global_edges_median": round_sig(_median([s.global_edges for s in st])),
                "union_nodes_median": round_sig(_median([s.union_nodes for s in st])),
                "own_share_median": round_sig(_median([s.own_share for s in st]), 4),
                "error_share_median": round_sig(_median([s.error_share for s in st]), 4)})
    summaries = []
    by_id = {t.id: t for t in trained}
    for b in bases:
        s = node_set_summary(study, b)
        if b in by_id:
            t = by_id[b]
            s["sae"] = {"key": cache_key(cfg, t.sae), "config": t.sae.model_dump(mode="json"),
                        "metrics": {k: v for k, v in t.metrics.items() if k != "loss_curve"}}
        summaries.append(s)
    return {"version": VERSION, "config": study.config.model_dump(), "families": list(FAMILIES),
            "bases": summaries, "cells": cells, "circuits": circuits,
            "timings": {"compute_s": round(time.perf_counter() - t1, 3),
                        "sae_s": round(t1 - t0, 3)}}
