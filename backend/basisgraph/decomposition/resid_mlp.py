"""SPD of the toy model of compressed computation (the paper's 1-layer residual MLP), from random init.

Bushnaq, Braun and Sharkey (2025), section "Toy Model of Compressed Computation" and appendix.
The target computes y_i = x_i + ReLU(x_i) for more sparse input features than it has MLP
neurons: a = x W_E (fixed random embedding, unit-norm rows), y_hat = (a + MLP(a)) W_E^T with
MLP(a) = W_out ReLU(W_in a) (no biases). The paper's finding: SPD splits W_in into one
subcomponent per input feature, each spread over several neurons, which is the picture the
superposed target of mlp.py hopes for.

Steps (`reproduce_resid` runs them all; the scores are `resid_scores`):
1. Data: every feature active with probability `feature_prob`, value U(-1, 1), else 0.
2. Train the target (AdamW, weight decay 0.01, cosine learning rate) on the MSE against
   x + ReLU(x), W_E fixed.
3. Decompose W_in (hidden x d_embed) and W_out (d_embed x hidden) into rank-1 subcomponents from
   random Gaussian U, V (`Decomposition` of spd_model.py: per-subcomponent importance MLPs on
   the inner activation, leaky hard sigmoids, masks g + (1 - g) r), after a faithfulness
   warm-up of U and V alone (the reference configuration: 200 AdamW steps, lr 0.01, wd 0.1).
4. Losses: faithfulness (mean squared weight error), stochastic and layerwise stochastic
   reconstruction as the MSE of the model's read-off output y_hat (mean over batch and
   features), importance minimality sum_c g_c^p averaged over the batch, summed over both
   matrices. Adam at a constant learning rate.
5. Scores: on one-hot inputs x_i = 0.75, which W_in subcomponents are important (the paper:
   exactly one per feature, a different one for each), how well that subcomponent reproduces
   the feature's inputs to the neurons (cosine of U_c (V_c . a) with W_in a), and how many
   subcomponents of each matrix are alive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from basisgraph.config import ConfigError
from basisgraph.decomposition.spd_model import (
    Decomposition,
    Target,
    faith_warmup,
    faithfulness,
    fit_toy,
    gates,
    stochastic_masks,
    toy_total,
)

__all__ = ["ResidConfig", "ResidSPDConfig", "ResidModel", "train_resid", "resid_spd_losses",
           "run_resid_spd", "resid_scores", "reproduce_resid", "resid_reproduced", "RESID_PRESETS",
           "RESID_TOLERANCE"]

ONE_HOT_VALUE = 0.75  # the paper's probe value for a single active feature
ALIVE_CI = 0.1  # a subcomponent is alive when its importance exceeds this on some input
# A run reproduces the paper when, on one-hot inputs, the mean number of important W_in
# subcomponents is within 0.1 of one, at least 95% of the features have their own subcomponent
# (none shared), and that subcomponent's neuron inputs match the target's at mean cosine >= 0.95.
RESID_TOLERANCE = {"one_hot_l0": 0.1, "own_fraction": 0.95, "neuron_cos": 0.95}


def _check(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


@dataclass(frozen=True)
class ResidConfig:
    """The residual MLP and its training (the paper: 100 features, d_embed 1000, 50 neurons)."""

    features: int = 100  # input features (functions to compute)
    d_embed: int = 1000  # residual stream width
    hidden: int = 50  # MLP neurons (fewer than features: compressed computation)
    feature_prob: float = 0.01  # probability that a feature is active
    steps: int = 1000  # AdamW steps (the reference training script: 1000 for one layer)
    batch: int = 2048  # inputs per step
    lr: float = 3e-3  # peak learning rate, cosine to zero
    seed: int = 0  # seed of the embedding, the initialisation and the data

    def __post_init__(self):
        for name, hi in (("features", 4096), ("d_embed", 8192), ("hidden", 4096),
                         ("steps", 1_000_000), ("batch", 65_536)):
            v = getattr(self, name)
            _check(name, v, isinstance(v, int) and 1 <= v <= hi, f"an integer from 1 to {hi}")
        _check("feature_prob", self.feature_prob, 0 < self.feature_prob <= 1, "a number in (0, 1]")
        _check("lr", self.lr, 0 < self.lr <= 1, "a number in (0, 1]")


@dataclass(frozen=True)
class ResidSPDConfig:
    """SPD hyperparameters (defaults: the paper's 1-layer residual MLP values)."""

    components: int = 100  # C per matrix
    steps: int = 30_000  # Adam steps
    batch: int = 2048  # inputs per step
    lr: float = 2e-3  # constant learning rate
    faith_coeff: float = 1.0  # faithfulness
    recon_coeff: float = 1.0  # beta_1, stochastic reconstruction
    layerwise_coeff: float = 1.0  # beta_2, layerwise stochastic reconstruction
    importance_coeff: float = 1e-5  # beta_3
    p: float = 2.0  # exponent of the minimality loss
    gate_hidden: int = 16  # hidden GELU units of each importance MLP
    leak: float = 0.01  # slope of the leaky parts of the hard sigmoids
    faith_warmup_steps: int = 200  # U, V fitted to the weights alone first (AdamW lr 0.01, wd 0.1)
    seed: int = 0  # seed of the initialisation, the data and the masks

    def __post_init__(self):
        for name, lo, hi in (("components", 1, 4096), ("steps", 1, 1_000_000), ("batch", 1, 65_536),
                             ("gate_hidden", 1, 1024), ("faith_warmup_steps", 0, 1_000_000)):
            v = getattr(self, name)
            _check(name, v, isinstance(v, int) and lo <= v <= hi, f"an integer from {lo} to {hi}")
        for name in ("faith_coeff", "recon_coeff", "layerwise_coeff", "importance_coeff", "leak"):
            _check(name, getattr(self, name), 0 <= getattr(self, name) <= 1e9, "a number from 0 to 1e9")
        for name in ("lr", "p"):
            _check(name, getattr(self, name), 0 < getattr(self, name) <= 10, "a number in (0, 10]")


@dataclass(frozen=True)
class ResidModel:
    """A trained residual MLP: the embedding and the MLP as an spd_model Target."""

    w_e: torch.Tensor  # (features, d_embed) unit-norm rows; W_U = W_E^T
    mlp: Target  # W_in (hidden, d_embed), W_out (d_embed, hidden), zero biases

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """y_hat = (a + MLP(a)) W_E^T.  (n, features) -> (n, features)"""
        a = x @ self.w_e
        return (a + self.mlp(a)) @ self.w_e.T


def sparse_inputs(n: int, features: int, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Step 1: each feature active with probability `prob`, value U(-1, 1).  -> (n, features)"""
    on = torch.rand(n, features, generator=gen) < prob
    return on * (torch.rand(n, features, generator=gen) * 2 - 1)


def train_resid(cfg: ResidConfig, on_step: Callable[[int], None] | None = None) -> tuple[ResidModel, float]:
    """Step 2: train the MLP; returns the model and its MSE on a fresh draw of 20 000 inputs."""
    gen = torch.Generator().manual_seed(cfg.seed)
    w_e = torch.randn(cfg.features, cfg.d_embed, generator=gen)
    w_e = w_e / w_e.norm(dim=1, keepdim=True)
    b_in, b_out = 1 / math.sqrt(cfg.d_embed), 1 / math.sqrt(cfg.hidden)
    w_in = torch.nn.Parameter((torch.rand(cfg.hidden, cfg.d_embed, generator=gen) * 2 - 1) * b_in)
    w_out = torch.nn.Parameter((torch.rand(cfg.d_embed, cfg.hidden, generator=gen) * 2 - 1) * b_out)
    opt = torch.optim.AdamW([w_in, w_out], lr=cfg.lr, weight_decay=0.01)
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        x = sparse_inputs(cfg.batch, cfg.features, cfg.feature_prob, gen)  # (batch, features)
        a = x @ w_e
        y_hat = (a + torch.relu(a @ w_in.T) @ w_out.T) @ w_e.T
        loss = ((y_hat - (x + torch.relu(x))) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step)
    zeros_h, zeros_d = torch.zeros(cfg.hidden), torch.zeros(cfg.d_embed)
    model = ResidModel(w_e, Target(w_in.detach().clone(), zeros_h, w_out.detach().clone(), zeros_d))
    x = sparse_inputs(20_000, cfg.features, cfg.feature_prob, gen)
    with torch.no_grad():
        mse = float(((model.predict(x) - (x + torch.relu(x))) ** 2).mean())
    return model, mse


def resid_spd_losses(dec: Decomposition, model: ResidModel, x: torch.Tensor, cfg: ResidSPDConfig,
                     gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Step 4: every loss term on one batch and the weighted total under 'total'."""
    target, w_e = model.mlp, model.w_e
    a = x @ w_e  # (n, d_embed)
    with torch.no_grad():
        hid_t = torch.relu(a @ target.w_in.T)  # (n, hidden)
        ref = hid_t @ target.w_out.T  # (n, d_embed) target MLP output
    faith = faithfulness(dec, target.weights)
    inners = [dec.inner(0, a), dec.inner(1, hid_t)]  # (n, C) each
    lower, upper = gates(dec, inners, cfg.leak)
    m_in, m_out = (stochastic_masks(g, torch.rand(g.shape, generator=gen)) for g in lower)
    hid_m = torch.relu((inners[0] * m_in) @ dec.U[0].T)  # W_in masked

    def err(out: torch.Tensor) -> torch.Tensor:  # MSE of the read-off output y_hat
        return (((out - ref) @ w_e.T) ** 2).mean()

    recon = err(dec.masked_layer(1, hid_m, m_out))
    layerwise = 0.5 * (err(hid_m @ target.w_out.T) + err(dec.masked_layer(1, hid_t, m_out)))
    return toy_total(cfg, faith, recon, layerwise, upper)


def run_resid_spd(model: ResidModel, rcfg: ResidConfig, cfg: ResidSPDConfig,
                  on_step: Callable[[int], None] | None = None) -> Decomposition:
    """Step 3 and 4: decompose the MLP from random initialisation."""
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    dec = Decomposition(model.mlp, (cfg.components, cfg.components), cfg.gate_hidden, gen)
    faith_warmup(dec, model.mlp.weights, cfg.faith_warmup_steps, lr=0.01, weight_decay=0.1)
    return fit_toy(dec, cfg, lambda: sparse_inputs(cfg.batch, rcfg.features, rcfg.feature_prob, gen),
                   lambda x: resid_spd_losses(dec, model, x, cfg, gen), on_step=on_step)


@torch.no_grad()
def resid_scores(dec: Decomposition, model: ResidModel, rcfg: ResidConfig, cfg: ResidSPDConfig) -> dict:
    """Step 5: one-hot importances, own subcomponents, neuron-input match, alive counts."""
    target = model.mlp
    eye = ONE_HOT_VALUE * torch.eye(rcfg.features)  # (features, features)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    probe = torch.cat([sparse_inputs(8192, rcfg.features, rcfg.feature_prob, gen), eye]) @ model.w_e
    lower, _ = dec.importances(target, probe, cfg.leak)
    g = [gi.clamp(0, 1) for gi in lower]
    one_hot = [gi[-rcfg.features:] for gi in g]  # (features, C) per layer
    top = one_hot[0].argmax(1)  # (features,) each feature's most important W_in subcomponent
    single = (one_hot[0] > 0.5).sum(1) == 1  # (features,)
    counts = torch.bincount(top, minlength=dec.U[0].shape[1])
    own = single & (counts[top] == 1)  # important alone, and no other feature's top
    a = eye @ model.w_e  # (features, d_embed)
    want = a @ target.w_in.T  # (features, hidden) the target's inputs to the neurons
    got = dec.U[0][:, top].T * (a * dec.V[0][top]).sum(1, keepdim=True)  # (features, hidden)
    cos = (want * got).sum(1) / (want.norm(dim=1) * got.norm(dim=1)).clamp_min(1e-12)
    ratio = got.norm(dim=1) / want.norm(dim=1).clamp_min(1e-12)
    alive = [int((gi.max(0).values > ALIVE_CI).sum()) for gi in g]
    return {"one_hot_l0_in": round(float((one_hot[0] > 0.5).sum(1).float().mean()), 3),
            "one_hot_l0_out": round(float((one_hot[1] > 0.5).sum(1).float().mean()), 3),
            "own_fraction": round(float(own.float().mean()), 4),
            "neuron_cos_mean": round(float(cos.mean()), 4), "neuron_cos_min": round(float(cos.min()), 4),
            "neuron_norm_ratio": round(float(ratio.mean()), 4),
            "alive_in": alive[0], "alive_out": alive[1],
            "faithfulness_rel": [round(float((w - dec.weight(layer)).norm() / w.norm()), 5)
                                 for layer, w in enumerate(target.weights)]}


def reproduce_resid(rcfg: ResidConfig | None = None, cfg: ResidSPDConfig | None = None,
                    on_progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Train, decompose from random init, score; JSON-ready (steps 1-5)."""
    rcfg, cfg = rcfg or ResidConfig(), cfg or ResidSPDConfig()
    report = (lambda stage, total: (lambda s: on_progress(stage, s + 1, total))) if on_progress else None
    start = time.perf_counter()
    model, mse = train_resid(rcfg, report("target", rcfg.steps) if report else None)
    mid = time.perf_counter()
    dec = run_resid_spd(model, rcfg, cfg, report("spd", cfg.steps) if report else None)
    return {"resid": asdict(rcfg), "spd": asdict(cfg), "target_mse": round(mse, 6),
            **resid_scores(dec, model, rcfg, cfg),
            "seconds": {"target": round(mid - start, 1), "spd": round(time.perf_counter() - mid, 1)}}


def resid_reproduced(result: dict) -> bool:
    """Whether a `reproduce_resid` result meets RESID_TOLERANCE."""
    return (abs(result["one_hot_l0_in"] - 1) <= RESID_TOLERANCE["one_hot_l0"]
            and result["own_fraction"] >= RESID_TOLERANCE["own_fraction"]
            and result["neuron_cos_mean"] >= RESID_TOLERANCE["neuron_cos"])


# Named settings: the paper's (not run here: 30 000 steps of 2048 inputs through a 1000-wide
# residual stream), and a smaller one with the same two features per neuron and the same mean of
# one active feature per input that fits the shared CPU (docs/spd.md gives the reasons).
RESID_PRESETS: dict[str, tuple[ResidConfig, ResidSPDConfig]] = {
    "100-50": (ResidConfig(), ResidSPDConfig()),
    "20-10": (ResidConfig(features=20, d_embed=100, hidden=10, feature_prob=0.05),
              ResidSPDConfig(components=40, steps=6000, batch=256, lr=5e-3, importance_coeff=3e-4)),
}
