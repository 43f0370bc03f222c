"""SPD of the toy model of superposition (TMS), from random initialisation: the paper's first result.

Bushnaq, Braun and Sharkey (2025), "Stochastic Parameter Decomposition", section "Toy Model of
Superposition" and its appendix. The target is x_hat = ReLU(W^T W x + b) with W of shape
(hidden, features); it is trained to reconstruct sparse inputs. The ground-truth mechanisms are
the columns of W: feature j is used (and only then) when x_j != 0.

Steps (`reproduce` in tms_eval.py runs them all):
1. Data: every feature is independently active with probability `feature_prob`, with a value
   drawn from U(0, 1) (fresh draws every step, seeded).
2. Train the target with AdamW (constant learning rate, weight decay) on the mean squared error,
   every feature at importance 1 (the paper's setting).
3. Decompose both matrices, W (hidden x features) and W^T (features x hidden), into rank-1
   subcomponents U_c V_c^T from random Gaussian initialisation, with the `Decomposition` of
   spd_model.py (per-subcomponent importance MLPs, leaky hard sigmoids, masks m = g + (1 - g) r).
4. Optional faithfulness warm-up (as in the paper's reference configuration): U and V alone are
   fitted to the weights for `faith_warmup_steps` steps before the full objective starts.
5. Losses per step: faithfulness (mean squared weight error over both matrices), stochastic
   reconstruction (both matrices masked) and layerwise stochastic reconstruction (one masked
   at a time), both as the MSE averaged over batch and outputs, and importance minimality
   sum_c |g_upper|^p averaged over the batch and summed over the two matrices. Adam, cosine
   learning rate to zero.
The scores and the end-to-end `reproduce` are in tms_eval.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from basisgraph.config import ConfigError
from basisgraph.decomposition.spd_model import (
    Decomposition,
    faith_warmup,
    faithfulness,
    fit_toy,
    gates,
    stochastic_masks,
    toy_total,
)

__all__ = [
    "TMSConfig",
    "TMSSPDConfig",
    "TMSTarget",
    "sparse_features",
    "train_tms",
    "tms_spd_losses",
    "run_tms_spd",
    "PRESETS",
]

def _check(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


@dataclass(frozen=True)
class TMSConfig:
    """The toy model of superposition and its training (the paper's appendix values)."""

    # m2: input features (5 in TMS 5-2, 40 in TMS 40-10).
    features: int = 5
    # m1: hidden dimensions (2 or 10).
    hidden: int = 2
    # Probability that a feature is active in an input.
    feature_prob: float = 0.05
    # AdamW steps (the paper: 10 000 at a constant rate).
    steps: int = 10_000
    # Inputs per step (the paper: 1024 for 5-2, 8192 for 40-10).
    batch: int = 1024
    # Constant learning rate.
    lr: float = 5e-3
    # AdamW weight decay.
    weight_decay: float = 0.01
    # Seed of the initialisation and the data.
    seed: int = 0

    def __post_init__(self):
        _check("features", self.features, 1 <= self.features <= 1024, "an integer from 1 to 1024")
        _check("hidden", self.hidden, 1 <= self.hidden <= 1024, "an integer from 1 to 1024")
        _check("feature_prob", self.feature_prob, 0 < self.feature_prob <= 1, "a number in (0, 1]")
        _check("steps", self.steps, 1 <= self.steps <= 1_000_000, "an integer from 1 to 1000000")
        _check("batch", self.batch, 1 <= self.batch <= 65_536, "an integer from 1 to 65536")
        _check("lr", self.lr, 0 < self.lr <= 1, "a number in (0, 1]")
        _check("weight_decay", self.weight_decay, 0 <= self.weight_decay <= 10, "a number from 0 to 10")


@dataclass(frozen=True)
class TMSSPDConfig:
    """SPD hyperparameters for TMS (defaults: the paper's TMS 5-2 values, shorter and smaller
    batches where noted, so the reproduction fits in a test)."""

    # C: rank-1 subcomponents per matrix (the paper: 20 for 5-2, 200 for 40-10).
    components: int = 20
    # Adam steps (the paper: 40 000; 10 000 in the reference configuration).
    steps: int = 10_000
    # Inputs per step (the paper: 4096).
    batch: int = 1024
    # Peak learning rate, cosine to zero (the paper: 1e-3).
    lr: float = 1e-3
    # Weight of the faithfulness loss (the paper: 1).
    faith_coeff: float = 1.0
    # beta_1, beta_2: stochastic and layerwise stochastic reconstruction (the paper: 1, 1).
    recon_coeff: float = 1.0
    layerwise_coeff: float = 1.0
    # beta_3: importance minimality (the paper: 3e-3 with p = 1 for 5-2, 1e-4 with p = 2 for 40-10).
    importance_coeff: float = 3e-3
    # p of the minimality loss sum |g|^p.
    p: float = 1.0
    # Hidden GELU units of each importance MLP (the paper: 16).
    gate_hidden: int = 16
    # Slope of the leaky parts of the hard sigmoids.
    leak: float = 0.01
    # Steps fitting U V to the weights alone before the full objective (reference config: 200).
    faith_warmup_steps: int = 200
    # Learning rate and weight decay of that warm-up (AdamW; reference config: 0.01, 0.1).
    faith_warmup_lr: float = 0.01
    faith_warmup_weight_decay: float = 0.1
    # Seed of the initialisation, the data and the masks.
    seed: int = 0

    def __post_init__(self):
        for name, hi in (("components", 4096), ("steps", 1_000_000), ("batch", 65_536),
                         ("gate_hidden", 1024), ("faith_warmup_steps", 1_000_000)):
            v = getattr(self, name)
            lo = 0 if name == "faith_warmup_steps" else 1
            _check(name, v, isinstance(v, int) and lo <= v <= hi, f"an integer from {lo} to {hi}")
        for name in ("faith_coeff", "recon_coeff", "layerwise_coeff", "importance_coeff", "leak",
                     "faith_warmup_weight_decay"):
            v = getattr(self, name)
            _check(name, v, 0 <= v <= 1e9, "a number from 0 to 1e9")
        for name in ("lr", "p", "faith_warmup_lr"):
            v = getattr(self, name)
            _check(name, v, 0 < v <= 10, "a number greater than 0 and at most 10")


def sparse_features(n: int, features: int, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Each feature active with probability `prob`, value U(0, 1).  -> (n, features)"""
    on = torch.rand(n, features, generator=gen) < prob
    return on * torch.rand(n, features, generator=gen)


@dataclass(frozen=True)
class TMSTarget:
    """x_hat = ReLU(W^T W x + b); the decomposed matrices are W and W^T (tied in the target)."""

    w: torch.Tensor  # (hidden, features)
    b: torch.Tensor  # (features,)

    @property
    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The two decomposed matrices in layer order, each (d_out, d_in)."""
        return (self.w, self.w.T.contiguous())

    def layer_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input of each decomposed matrix.  (n, features) -> (n, features), (n, hidden)"""
        return x, x @ self.w.T

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Target output.  (n, features) -> (n, features)"""
        return torch.relu((x @ self.w.T) @ self.w + self.b)


def train_tms(cfg: TMSConfig, on_step: Callable[[int], None] | None = None) -> tuple[TMSTarget, float]:
    """Train the target; returns it and its final MSE on a fresh draw of 20 000 inputs."""
    gen = torch.Generator().manual_seed(cfg.seed)
    bound = 1 / math.sqrt(cfg.features)  # torch's default Linear init for W
    w = torch.nn.Parameter((torch.rand(cfg.hidden, cfg.features, generator=gen) * 2 - 1) * bound)
    b = torch.nn.Parameter(torch.zeros(cfg.features))
    opt = torch.optim.AdamW([w, b], lr=cfg.lr, weight_decay=cfg.weight_decay)
    for step in range(cfg.steps):
        x = sparse_features(cfg.batch, cfg.features, cfg.feature_prob, gen)  # (batch, features)
        loss = ((torch.relu((x @ w.T) @ w + b) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step)
    target = TMSTarget(w.detach().clone(), b.detach().clone())
    x = sparse_features(20_000, cfg.features, cfg.feature_prob, gen)
    return target, float(((target(x) - x) ** 2).mean())


def _masked_out(dec: Decomposition, target: TMSTarget, x: torch.Tensor, inner0: torch.Tensor,
                m0: torch.Tensor | None, m1: torch.Tensor | None) -> torch.Tensor:
    """Output with layer l masked by m_l (target weights where m_l is None).  -> (n, features)"""
    hid = (inner0 * m0) @ dec.U[0].T if m0 is not None else x @ target.w.T  # (n, hidden)
    pre = dec.masked_layer(1, hid, m1) if m1 is not None else hid @ target.w
    return torch.relu(pre + target.b)


def tms_spd_losses(dec: Decomposition, target: TMSTarget, x: torch.Tensor, cfg: TMSSPDConfig,
                   gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Every SPD loss term on one batch and the weighted total under 'total' (step 5)."""
    with torch.no_grad():
        ref = target(x)  # (n, features)
        hid_t = x @ target.w.T  # (n, hidden) the target's input to W^T
    faith = faithfulness(dec, target.weights)
    inners = [dec.inner(0, x), dec.inner(1, hid_t)]  # (n, C) each
    lower, upper = gates(dec, inners, cfg.leak)
    m0, m1 = (stochastic_masks(g, torch.rand(g.shape, generator=gen)) for g in lower)
    recon = ((_masked_out(dec, target, x, inners[0], m0, m1) - ref) ** 2).mean()
    layerwise = 0.5 * (((_masked_out(dec, target, x, inners[0], m0, None) - ref) ** 2).mean()
                       + ((_masked_out(dec, target, x, inners[0], None, m1) - ref) ** 2).mean())
    return toy_total(cfg, faith, recon, layerwise, upper)


def run_tms_spd(target: TMSTarget, tcfg: TMSConfig, cfg: TMSSPDConfig,
                on_step: Callable[[int], None] | None = None) -> Decomposition:
    """Decompose the target from random initialisation (steps 3 to 5)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    dec = Decomposition(target, (cfg.components, cfg.components), cfg.gate_hidden, gen)
    faith_warmup(dec, target.weights, cfg.faith_warmup_steps, cfg.faith_warmup_lr,
                 cfg.faith_warmup_weight_decay)
    return fit_toy(dec, cfg, lambda: sparse_features(cfg.batch, tcfg.features, tcfg.feature_prob, gen),
                   lambda x: tms_spd_losses(dec, target, x, cfg, gen),
                   lr_at=lambda step: cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)),
                   on_step=on_step)


# Named settings: the paper's TMS 5-2 and 40-10 (smaller SPD batches than its 4096, to fit a
# shared CPU), and a fast 5-2 variant (higher learning rate, fewer steps) that the test runs.
PRESETS: dict[str, tuple[TMSConfig, TMSSPDConfig]] = {
    "5-2": (TMSConfig(), TMSSPDConfig()),
    "5-2-fast": (TMSConfig(), TMSSPDConfig(steps=3000, batch=512, lr=5e-3)),
    "40-10": (TMSConfig(features=40, hidden=10, batch=8192),
              TMSSPDConfig(components=200, importance_coeff=1e-4, p=2.0, steps=5000, batch=1024)),
}
