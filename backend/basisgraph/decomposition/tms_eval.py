"""Scoring an SPD of the toy model of superposition against the paper, and the whole run.

Steps:
1. `tms_scores`: the paper's mean max cosine similarity (MMCS) and mean L2 ratio (ML2R) between
   the columns of W and the columns of the subcomponents of W, plus stricter checks (in two
   dimensions MMCS is nearly met by random directions): how many subcomponents are alive, how
   well each alive one reads (W) or writes (W^T) a single feature, and how many are important
   on single-feature inputs.
2. `reproduce`: train the target, decompose it from random init (tms.py), score it.
3. `reproduced`: whether a result meets TOLERANCE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from basisgraph.decomposition.spd_model import Decomposition
from basisgraph.decomposition.tms import (
    TMSConfig,
    TMSSPDConfig,
    TMSTarget,
    run_tms_spd,
    sparse_features,
    train_tms,
)

__all__ = ["tms_scores", "reproduce", "reproduced", "PAPER_MMCS", "PAPER_ML2R", "TOLERANCE"]

# The paper's Table 1 for TMS 5-2 and 40-10 (mean +- std over their runs).
PAPER_MMCS = {"5-2": (1.000, 0.000), "40-10": (1.000, 0.000)}
PAPER_ML2R = {"5-2": (0.993, 0.002), "40-10": (1.010, 0.007)}
# Tolerance of a reproduction (`reproduced`): MMCS and the stricter feature cosine of W at least
# this, ML2R within this of 1, and exactly one alive subcomponent of W per feature.
TOLERANCE = {"mmcs": 0.99, "feature_cos": 0.99, "ml2r": 0.05}
ALIVE_CI = 0.1  # a subcomponent is alive when its importance exceeds this on some input
ONE_HOT_VALUE = 0.75  # value of the single active feature in the one-hot probe inputs


@torch.no_grad()
def tms_scores(dec: Decomposition, target: TMSTarget, tcfg: TMSConfig, cfg: TMSSPDConfig) -> dict:
    """Step 1: the paper's MMCS and ML2R for W, and the stricter checks."""
    w = target.w  # (hidden, features)
    U, V = dec.U[0], dec.V[0]  # (hidden, C), (C, features)
    cols = U[:, :, None] * V[None, :, :]  # (hidden, C, features): column j of subcomponent c
    cos = (cols * w[:, None, :]).sum(0) / (cols.norm(dim=0) * w.norm(dim=0)[None, :]).clamp_min(1e-12)
    best = cos.argmax(0)  # (features,) the subcomponent each column of W matches best
    mmcs = cos.max(0).values  # (features,)
    ml2r = cols.norm(dim=0)[best, torch.arange(tcfg.features)] / w.norm(dim=0).clamp_min(1e-12)
    # Alive subcomponents: importance above ALIVE_CI on a fresh batch or a one-hot probe input.
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    probe = torch.cat([sparse_features(8192, tcfg.features, tcfg.feature_prob, gen),
                       ONE_HOT_VALUE * torch.eye(tcfg.features)])
    g = dec.importances(target, probe, cfg.leak)[0]  # [(n, C), (n, C)] lower-leaky
    g = [gi.clamp(0, 1) for gi in g]
    one_hot = [gi[-tcfg.features:] for gi in g]  # (features, C) per layer
    out = {"mmcs": round(float(mmcs.mean()), 4), "mmcs_min": round(float(mmcs.min()), 4),
           "ml2r": round(float(ml2r.mean()), 4), "layers": []}
    for layer in range(2):
        alive = torch.nonzero(g[layer].max(0).values > ALIVE_CI).flatten()
        # A subcomponent of W reads one feature (V_c one-hot); one of W^T writes one (U_c one-hot).
        side = dec.V[0][alive] if layer == 0 else dec.U[1][:, alive].T  # (alive, features)
        unit = side / side.norm(dim=1, keepdim=True).clamp_min(1e-12)
        feat_cos = unit.abs().max(0).values if len(alive) else torch.zeros(tcfg.features)
        purity = unit.abs().max(1).values if len(alive) else torch.zeros(0)
        out["layers"].append({
            "matrix": ["W", "W^T"][layer], "alive": len(alive),
            # mean over features of the best |cos| between an alive subcomponent and the feature axis
            "feature_cos_mean": round(float(feat_cos.mean()), 4),
            "feature_cos_min": round(float(feat_cos.min()), 4),
            # mean over alive subcomponents of their largest |cos| to any feature axis
            "purity_mean": round(float(purity.mean()), 4) if len(alive) else None,
            # subcomponents with g > 0.5 on a single-feature input (1 is the ground truth)
            "one_hot_l0": round(float((one_hot[layer] > 0.5).sum(1).float().mean()), 3),
            "l0_mean": round(float((g[layer] > 0).sum(1).float().mean()), 3),
            "faithfulness_rel": round(float((target.weights[layer] - dec.weight(layer)).norm()
                                            / target.weights[layer].norm()), 5),
        })
    return out


def reproduce(tcfg: TMSConfig | None = None, cfg: TMSSPDConfig | None = None,
              on_progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Train the target, decompose it from random init and score it; JSON-ready (steps 1-6)."""
    tcfg, cfg = tcfg or TMSConfig(), cfg or TMSSPDConfig()
    report = (lambda stage, total: (lambda s: on_progress(stage, s + 1, total))) if on_progress else None
    start = time.perf_counter()
    target, mse = train_tms(tcfg, report("tms", tcfg.steps) if report else None)
    mid = time.perf_counter()
    dec = run_tms_spd(target, tcfg, cfg, report("spd", cfg.steps) if report else None)
    scores = tms_scores(dec, target, tcfg, cfg)
    key = f"{tcfg.features}-{tcfg.hidden}"
    return {"tms": asdict(tcfg), "spd": asdict(cfg), "target_mse": round(mse, 6), **scores,
            "paper": {"mmcs": PAPER_MMCS.get(key), "ml2r": PAPER_ML2R.get(key)},
            "seconds": {"tms": round(mid - start, 1), "spd": round(time.perf_counter() - mid, 1)}}


def reproduced(result: dict) -> bool:
    """Whether a `reproduce` result meets TOLERANCE (the paper: MMCS 1.000, ML2R 0.99 to 1.01)."""
    w = result["layers"][0]
    return (result["mmcs"] >= TOLERANCE["mmcs"] and abs(result["ml2r"] - 1) <= TOLERANCE["ml2r"]
            and w["feature_cos_mean"] >= TOLERANCE["feature_cos"]
            and w["alive"] == result["tms"]["features"])
