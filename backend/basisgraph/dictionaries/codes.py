"""A trained sparse autoencoder's weights and its encoder, in numpy (no torch): what a node set,
the metrics and the web layer need once training is over."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from basisgraph.config import Config
from basisgraph.dictionaries.config import SAEConfig

__all__ = ["TrainedSAE", "latents", "coefficients", "reconstruct"]


@dataclass(frozen=True)
class TrainedSAE:
    """Weights (float64 numpy, normalised units) and metrics of one trained SAE."""

    config: Config  # the study it was trained on
    sae: SAEConfig  # resolved (width filled in)
    scale: float  # s: x = s * a
    w_enc: np.ndarray  # (d_model, width)
    b_enc: np.ndarray  # (width,)
    w_dec: np.ndarray  # (width, d_model)
    b_dec: np.ndarray  # (d_model,) zeros unless decoder_bias
    threshold: float | None  # batchtopk inference threshold on the pre-activation
    metrics: dict = field(default_factory=dict)  # sae_metrics.sae_metrics(...) plus timings
    cached: bool = False  # True when loaded from disk rather than trained now

    @property
    def id(self) -> str:
        """Node-set id, e.g. "sae:relu:1050"."""
        return f"sae:{self.sae.kind}:{self.sae.width}"

    @property
    def dec_norms(self) -> np.ndarray:
        """(width,) decoder row norms (never zero)."""
        return np.maximum(np.linalg.norm(self.w_dec, axis=1), 1e-12)


def latents(t: TrainedSAE, acts: np.ndarray) -> np.ndarray:
    """Latent activations f of the normalised input.  (n, d_model) -> (n, width)"""
    x = acts * t.scale - t.b_dec  # (n, d_model)
    pre = x @ t.w_enc + t.b_enc  # (n, width)
    kind = t.sae.kind
    if kind in ("relu", "matryoshka"):
        return np.maximum(pre, 0.0)
    if kind == "batchtopk":
        return np.where(pre > (t.threshold or 0.0), pre, 0.0)
    k = t.sae.k  # topk: each row keeps its k largest
    pos = np.maximum(pre, 0.0)
    idx = np.argpartition(-pos, k - 1, axis=1)[:, :k]  # (n, k)
    out = np.zeros_like(pos)
    rows = np.arange(len(pos))[:, None]
    out[rows, idx] = pos[rows, idx]
    return out


def coefficients(t: TrainedSAE, acts: np.ndarray) -> np.ndarray:
    """Node-set coefficients g(x) in activation units, for unit atoms.  (n, d_model) -> (n, width)

    g·(W_dec / ||W_dec||) = f·W_dec / s = (x̂ − b_dec) / s.
    """
    return latents(t, acts) * (t.dec_norms / t.scale)


def reconstruct(t: TrainedSAE, acts: np.ndarray) -> np.ndarray:
    """x̂ / s in activation units, including b_dec.  (n, d_model) -> (n, d_model)"""
    return (latents(t, acts) @ t.w_dec + t.b_dec) / t.scale


__all__.append("reconstruct")
