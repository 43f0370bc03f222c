"""The side-by-side table with learned dictionaries appended as extra node sets.

Steps of `sae_table`:
1. Build (or reuse) the study of the configuration.
2. Train or load each SAE (sae.py) and turn it into a node set (`sae:<kind>:<width>`).
3. Hand them to `counts.table(..., extra=...)`, which counts them exactly as the planted node
   sets and returns its usual JSON contract (version, config, families, bases, cells, circuits);
   each SAE's entry in `bases` also carries `"sae": {key, config, metrics}`.
4. With `learned=True`, add the non-oracle per-circuit view (learned.py) over the union of the
   SAEs' atoms, with the oracle's counts beside it, under the key `learned`.

With `train=False` only cached SAEs are used and a missing one raises NotTrained (a ConfigError
naming the field `sae`), so a web request can never start a training run. `cached_node_set`
keeps the last few loaded SAEs and their node sets, so a page's panels share one load.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from basisgraph.config import Config
from basisgraph.core.bases import NodeSet
from basisgraph.core.counts import node_set_summary, table
from basisgraph.core.study import Study, get_study
from basisgraph.dictionaries.config import NotTrained
from basisgraph.dictionaries.learned import TOL, learned_view, node_set_sources
from basisgraph.dictionaries.sae import (
    SAEConfig,
    TrainedSAE,
    cache_dir,
    cache_key,
    load_sae,
    sae_node_set,
    train_sae,
)

__all__ = ["sae_study", "sae_table", "node_set_summary", "cached_node_set"]


def sae_study(cfg: Config, sae_cfgs: Sequence[SAEConfig], train: bool = True) -> tuple[Study, list[TrainedSAE]]:
    """The study of `cfg` with one extra node set per SAE (trained now or loaded from the cache)."""
    study = get_study(cfg)
    trained = []
    for s in sae_cfgs:
        t = train_sae(cfg, s) if train else load_sae(cfg, s)
        if t is None:
            raise NotTrained(s.resolve(cfg).model_dump(mode="json"))
        trained.append(t)
    sets = dict(study.node_sets)
    for t in trained:
        sets[t.id] = sae_node_set(study, t)
    return replace(study, node_sets=sets), trained


def cached_node_set(cfg: Config, scfg: SAEConfig) -> tuple[TrainedSAE, NodeSet] | None:
    """(SAE, node set) of a cached SAE on `cfg`'s model, or None; never trains.

    The last few are kept in memory (a miss is not: the SAE may be trained in the meantime).
    """
    scfg = scfg.resolve(cfg)
    cfg = cfg.model_copy(update={"coverage": 0.9})  # the counting rule is not part of an SAE
    key = (cfg, scfg, str(cache_dir()))
    with _LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            _LOADED.move_to_end(key)
            return hit
    t = load_sae(cfg, scfg)
    if t is None:
        return None
    hit = (t, sae_node_set(get_study(cfg), t))
    with _LOCK:
        _LOADED[key] = hit
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)
    return hit


_KEEP = 8
_LOADED: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def sae_table(cfg: Config, sae_cfgs: Sequence[SAEConfig], train: bool = True,
              learned: bool = False, tol: float = TOL, fit: str = "read",
              learned_with: Sequence[SAEConfig] = ()) -> dict:
    """`counts.table` of `cfg` with the SAEs of `sae_cfgs` appended as node sets; with `learned`,
    also the learned per-circuit view over their atoms (OMP of each circuit's `fit` to `tol`),
    beside the oracle. `learned_with`: more SAEs whose atoms join the learned view's union
    without becoming table columns (the view then says which SAEs under `with`)."""
    study, trained = sae_study(cfg, sae_cfgs, train)
    out = table(get_study(cfg), extra={t.id: study.node_sets[t.id] for t in trained})
    by_id = {t.id: t for t in trained}
    for s in out["bases"]:
        if s["id"] in by_id:
            t = by_id[s["id"]]
            s["sae"] = {"key": cache_key(cfg, t.sae), "config": t.sae.model_dump(mode="json"),
                        # Training wall time stays out: one link, one JSON on any machine.
                        "metrics": {k: v for k, v in t.metrics.items() if k not in ("loss_curve", "train_s")}}
    if learned:
        sets = [study.node_sets[t.id] for t in trained]
        sources = node_set_sources(study, sets)
        if learned_with:
            wstudy, wtrained = sae_study(cfg, learned_with, train)
            taken = {s.id for s in sources}
            for t, src in zip(wtrained, node_set_sources(wstudy, [wstudy.node_sets[t.id] for t in wtrained])):
                # Two SAEs of one kind and width differ in sparsity, steps or seed: name it.
                sources.append(src if src.id not in taken else replace(src, id=_long_id(t.sae)))
                taken.add(sources[-1].id)
        out["learned"] = learned_view(get_study(cfg), sources, tol, fit=fit)
        if learned_with:
            out["learned"]["with"] = [{"id": src.id, "key": cache_key(cfg, t.sae),
                                       "config": t.sae.model_dump(mode="json")}
                                      for t, src in zip(wtrained, sources[len(trained):])]
    return out


def _long_id(scfg: SAEConfig) -> str:
    """An SAE's node-set id with its sparsity, steps and seed (sae:relu:20:l1=3:steps=3000:seed=0)."""
    sparsity = f"l1={scfg.l1:g}" if scfg.uses_l1 else f"k={scfg.k}"
    return f"sae:{scfg.kind}:{scfg.width}:{sparsity}:steps={scfg.steps}:seed={scfg.seed}"
