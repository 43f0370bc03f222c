"""Metrics of a trained SAE against the planted truth.

All are measured on a held-out evaluation set (activations a, normalised x = s·a):
- l0: mean number of non-zero latents per input;
- explained_variance: 1 − Σ||x − x̂||² / Σ||x − mean(x)||²;
- dead_fraction: latents that never fire on the evaluation set;
- shrinkage: 1 − Σ x̂·x / Σ ||x||², the fraction of the activation's length along itself that
  the reconstruction loses (0: none; the L1 penalty makes it positive); norm_ratio is the median
  ||x̂|| / ||x||;
- mcc_animals, mcc_attributes: one-to-one matching of decoder rows to true directions that
  maximises the total |cosine| (Hungarian, scipy's linear_sum_assignment), summed and divided
  by the number of true features, so a dictionary narrower than the truth cannot score 1;
  mcc_*_matched is the mean over the matched pairs only. All decoder rows take part;
- match_animals, match_attributes: live latents whose best |cosine| with some animal
  (attribute) exceeds 0.9; animals_recovered, attributes_recovered: distinct true features that
  some live latent matches at > 0.9.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from basisgraph.dictionaries.codes import latents

__all__ = ["MATCH_COS", "mcc", "match_counts", "sae_metrics", "MAX_ASSIGN"]

MATCH_COS = 0.9  # a latent "is" a true feature above this |cosine|
MAX_ASSIGN = 30_000_000  # largest width x features matrix handed to the Hungarian solver
CHUNK = 4096  # evaluation rows encoded at once


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def mcc(decoder: np.ndarray, truth: np.ndarray) -> tuple[float | None, float | None]:
    """Hungarian MCC of decoder rows against true directions.

    (width, d), (n_true, d) -> (sum of matched |cos| / n_true, mean matched |cos|);
    (None, None) when the matrix is too large to match.
    """
    if decoder.shape[0] * truth.shape[0] > MAX_ASSIGN or not len(decoder) or not len(truth):
        return None, None
    cos = np.abs(_unit(decoder) @ _unit(truth).T)  # (width, n_true)
    r, c = linear_sum_assignment(cos, maximize=True)
    total = float(cos[r, c].sum())
    return total / truth.shape[0], total / len(r)


def match_counts(decoder: np.ndarray, truth: np.ndarray, live: np.ndarray | None = None,
                 thr: float = MATCH_COS) -> tuple[int, int]:
    """(latents whose best |cos| > thr, distinct true features so matched).

    (width, d), (n_true, d), live (width,) bool or None for all.
    """
    cos = np.abs(_unit(decoder) @ _unit(truth).T)  # (width, n_true)
    if live is not None:
        cos = cos[live]
    hit = cos > thr
    return int(hit.any(axis=1).sum()), int(hit.any(axis=0).sum())


def sae_metrics(trained, model, acts: np.ndarray) -> dict:
    """Every metric of `trained` (a sae.TrainedSAE) on activations `acts` (n, d_model)."""
    t = trained
    n, width = len(acts), t.sae.width
    fired = np.zeros(width, bool)
    l0 = sq_err = x_dot = xhat_sq = x_sq = 0.0
    sum_x = np.zeros(acts.shape[1])
    ratios = []
    for s in range(0, n, CHUNK):
        x = acts[s:s + CHUNK] * t.scale  # (c, d) normalised
        f = latents(t, acts[s:s + CHUNK])  # (c, width)
        x_hat = f @ t.w_dec + t.b_dec  # (c, d)
        on = f > 0
        fired |= on.any(axis=0)
        l0 += float(on.sum())
        sq_err += float(np.sum((x - x_hat) ** 2))
        x_dot += float(np.sum(x * x_hat))
        xhat_sq += float(np.sum(x_hat**2))
        x_sq += float(np.sum(x**2))
        sum_x += x.sum(axis=0)
        ratios.append(np.linalg.norm(x_hat, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-12))
    var = x_sq - float(sum_x @ sum_x) / n  # Σ||x − mean||²
    dec = t.w_dec
    mcc_a, mcc_a_m = mcc(dec, model.animal_dirs)
    mcc_t, mcc_t_m = mcc(dec, model.attr_dirs)
    ma, ra = match_counts(dec, model.animal_dirs, fired)
    mt, rt = match_counts(dec, model.attr_dirs, fired)

    def r(x, sig=4):
        return None if x is None else float(f"{x:.{sig}g}")

    return {
        "eval_samples": n,
        "width": width,
        "l0": r(l0 / n),
        "explained_variance": r(1 - sq_err / max(var, 1e-300)),
        "dead_fraction": r(1 - fired.mean()),
        "shrinkage": r(1 - x_dot / max(x_sq, 1e-300)),
        "norm_ratio": r(float(np.median(np.concatenate(ratios)))),
        "mcc_animals": r(mcc_a),
        "mcc_animals_matched": r(mcc_a_m),
        "mcc_attributes": r(mcc_t),
        "mcc_attributes_matched": r(mcc_t_m),
        "match_animals": ma,
        "match_attributes": mt,
        "animals_recovered": ra,
        "attributes_recovered": rt,
        "match_cos": MATCH_COS,
    }
