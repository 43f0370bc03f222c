"""The SAE sweep: width x sparsity against the edge counts per family, over trained SAEs.

Steps of `sae_sweep`:
1. List the SAEs of the configuration that are in the cache (`cached_saes`; never trains), or
   take the ones `run_sweep_cli` has just trained.
2. Count each one's node set with `counts.table(..., extra=..., only=...)`: the same rule and
   the same numbers as the table, for that node set alone (cached per SAE).
3. Return one point per SAE: its kind, width, sparsity (l1 for relu/matryoshka, k for topk
   kinds), steps, seed, a few metrics, and the family medians; plus, per view, the SAE whose
   worse family (animal or attribute) needs the fewest edges, with its explained variance and
   error shares: the error node is never counted, so a dictionary that reconstructs badly can
   look simple.
The sweep answers whether any learned dictionary makes both families simple: it does if the
best SAE has few edges in both; the planted animal dictionary and attribute basis (the table's
columns) are the references.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

from basisgraph.cache import cache_dir
from basisgraph.config import Config, ConfigError
from basisgraph.core.counts import FAMILIES, VERSION, table
from basisgraph.dictionaries.config import SAEConfig, cache_key
from basisgraph.fmt import format_count

__all__ = ["cached_saes", "cached_list", "sae_sweep", "sae_cells", "format_sweep", "sparsity", "MAX_GRID", "METRIC_KEYS"]

METRIC_KEYS = ("l0", "explained_variance", "dead_fraction", "shrinkage", "mcc_animals",
               "mcc_attributes", "match_animals", "match_attributes", "animals_recovered",
               "attributes_recovered", "train_s")
MAX_GRID = 36  # SAEs one `sae-sweep` run may train


def cached_saes(cfg: Config) -> list[tuple[str, SAEConfig]]:
    """(cache key, resolved SAEConfig) of every cached SAE trained on `cfg`'s model, sorted."""
    out = []
    for js in sorted((cache_dir() / "sae").glob("*.json")):
        try:
            doc = json.loads(js.read_text(encoding="utf-8"))
            scfg = SAEConfig.model_validate(doc["sae"])
            key = cache_key(cfg, scfg)
        except (OSError, ValueError, KeyError, TypeError, ConfigError):
            continue
        if key == js.stem == doc.get("key") and js.with_suffix(".pt").exists():
            out.append((key, scfg))
    return sorted(out, key=lambda ks: _order(ks[1]))


def _order(s: SAEConfig) -> tuple:
    return (s.kind, s.width, sparsity(s)[1], s.steps, s.seed, s.aux, s.lr, s.batch, s.samples,
            s.decoder_bias)


def sparsity(s: SAEConfig) -> tuple[str, float]:
    return ("l1", s.l1) if s.uses_l1 else ("k", float(s.k))


@lru_cache(maxsize=128)
def _cells(cfg: Config, scfg: SAEConfig, root: str) -> tuple[tuple[dict, ...], dict]:
    from basisgraph.dictionaries.table import cached_node_set

    hit = cached_node_set(cfg, scfg)
    if hit is None:
        raise ConfigError("sae", scfg.model_dump(mode="json"), "an SAE that has been trained "
                          "(basisgraph train-sae)")
    trained, ns = hit
    t = table(cfg, extra={ns.id: ns}, only=[ns.id])
    return tuple(t["cells"]), trained.metrics


def sae_cells(cfg: Config, scfg: SAEConfig) -> tuple[list[dict], dict]:
    """Family cells (as in the table) and metrics of a cached SAE on `cfg` (alpha is ignored)."""
    cfg = cfg.model_copy(update={"alpha": 0.5})  # alpha does not change an SAE's counts
    cells, metrics = _cells(cfg, scfg.resolve(cfg), str(cache_dir()))
    return [dict(c) for c in cells], metrics


def sae_sweep(cfg: Config, keys: Sequence[str] | None = None) -> dict:
    """Width x sparsity against edge counts per family, for the cached SAEs (or `keys` of them)."""
    entries = cached_saes(cfg)
    if keys is not None:
        wanted = set(keys)
        entries = [(k, s) for k, s in entries if k in wanted]
    points = []
    for key, scfg in entries:
        cells, metrics = sae_cells(cfg, scfg)
        points.append({
            **_identity(key, scfg),
            "metrics": {m: metrics.get(m) for m in METRIC_KEYS},
            "cells": [{k: c[k] for k in ("family", "local_edges_median", "global_edges_median",
                                          "own_share_median", "error_share_median")}
                      for c in cells]})
    return {"version": VERSION, "config": cfg.as_json(), "families": list(FAMILIES),
            "points": points, "ev_floor": EV_FLOOR,
            "best": {v: _best(points, v) for v in ("local", "global")}}


EV_FLOOR = 0.5  # the verdict's reconstruction floor: variance explained by an SAE it may pick


def _identity(key: str, scfg: SAEConfig) -> dict:
    """What names one cached SAE: its cache key, node-set id and training settings."""
    name, value = sparsity(scfg)
    return {"key": key, "id": f"sae:{scfg.kind}:{scfg.width}", "kind": scfg.kind,
            "width": scfg.width, "sparsity_name": name, "sparsity": value, "steps": scfg.steps,
            "sae_seed": scfg.seed, "aux": scfg.aux if not scfg.uses_l1 else None}


def cached_list(cfg: Config) -> dict:
    """The cached SAEs of `cfg`, named as the sweep names them, with nothing computed: what a
    picker needs (the sweep counts a table per SAE)."""
    return {"version": VERSION, "config": cfg.as_json(),
            "saes": [_identity(key, scfg) for key, scfg in cached_saes(cfg)]}


def _best(points: list[dict], view: str) -> dict | None:
    """The SAE whose worse family, of animal and attribute, needs the fewest edges, among the
    SAEs that explain at least EV_FLOOR of the variance (a degenerate SAE pushes the circuits'
    input into the uncounted error node and would win by explaining nothing)."""
    key = f"{view}_edges_median"
    scored = []
    for p in points:
        ev = p["metrics"].get("explained_variance")
        if ev is None or ev < EV_FLOOR:
            continue
        by = {c["family"]: c[key] for c in p["cells"]}
        if by.get("animal") is None or by.get("attribute") is None:
            continue
        scored.append((max(by["animal"], by["attribute"]), p["key"], p, by))
    if not scored:
        return None
    _, _, p, by = min(scored, key=lambda s: s[:2])
    err = {c["family"]: c["error_share_median"] for c in p["cells"]}
    # The error node is never counted: a dictionary that reconstructs badly looks simple.
    return {"key": p["key"], "id": p["id"], "sparsity_name": p["sparsity_name"],
            "sparsity": p["sparsity"], "animal": by["animal"], "attribute": by["attribute"],
            "explained_variance": p["metrics"]["explained_variance"],
            "error_share_animal": err.get("animal"), "error_share_attribute": err.get("attribute")}


# --------------------------------------------------------------------------------------------
# CLI


def format_sweep(sw: dict) -> str:
    """The sweep as text: one row per SAE, family cells as 'local / global'."""
    head = (f"{'SAE':<22}{'sparsity':>10}{'steps':>7}{'L0':>7}{'EV':>7}{'MCC an/at':>12}"
            + "".join(f"{f:>14}" for f in sw["families"]))
    lines = [f"SAE sweep, edge counts local / global (coverage tau = {sw['config']['coverage']})",
             "", head]
    for p in sw["points"]:
        m = p["metrics"]
        cells = {c["family"]: c for c in p["cells"]}
        mcc = f"{m['mcc_animals'] or 0:.2f}/{m['mcc_attributes'] or 0:.2f}"
        row = (f"{p['id']:<22}{p['sparsity_name'] + '=' + format(p['sparsity'], 'g'):>10}"
               f"{p['steps']:>7}{m['l0'] or 0:>7.1f}{m['explained_variance'] or 0:>7.3f}{mcc:>12}")
        for f in sw["families"]:
            c = cells.get(f, {})
            row += f"{format_count(c.get('local_edges_median'))} / {format_count(c.get('global_edges_median'))}".rjust(14)
        lines.append(row)
    for view in ("local", "global"):
        b = sw["best"][view]
        if b:
            lines.append(f"\nbest {view}: {b['id']} ({b['sparsity_name']}={b['sparsity']:g}): "
                         f"animal {format_count(b['animal'])}, attribute {format_count(b['attribute'])} edges; "
                         f"explained variance {b['explained_variance']}, error share "
                         f"{b['error_share_animal']} / {b['error_share_attribute']} (never counted)")
    return "\n".join(lines)
