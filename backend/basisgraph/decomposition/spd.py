"""Stochastic Parameter Decomposition (SPD) of a one-hidden-layer MLP, written from the paper.

Bushnaq, Braun and Sharkey (2025), "Stochastic Parameter Decomposition". The target is an MLP
y = W_out ReLU(W_in a + b_in) + b_out (the trained model of trained.py, or any `Target`). Both
weight matrices are decomposed; the biases are kept as they are, not decomposed.

Steps (`run_spd`; `decompose` adds the planted data, the cache and the progress bar; the parts
they use, from `Target` to the losses and the initialisation, are in spd_model.py):
1. Each weight matrix W^l (d_out x d_in) gets C_l rank-1 subcomponents, W^l ~ U^l V^l =
   sum_c U^l[:, c] V^l[c, :], with U^l (d_out x C_l) and V^l (C_l x d_in). `init` picks the
   start: "random" (Gaussian, as in the paper), "neurons" (one subcomponent per hidden neuron:
   the rows of W_in, the columns of W_out; spare subcomponents small and random) or
   "neurons+data" (the default: as "neurons", with the spare W_in / W_out subcomponents reading
   the directions of random training inputs / their hidden activations).
2. For a minibatch of inputs, run the target and keep the input a^l of each decomposed matrix
   (the activations for W_in, the hidden ReLU outputs for W_out) and the target outputs.
3. Inner activations h^l_c(x) = V^l[c] . a^l(x). Every subcomponent has its own causal-importance
   MLP gamma^l_c: R -> R, one hidden layer of `gate_hidden` GELU units, applied to h^l_c.
4. Causal importances: g_lower = lower-leaky hard sigmoid of gamma (slope `leak` below 0,
   clamped at 1), used in the masks; g_upper = upper-leaky hard sigmoid (clamped at 0, slope
   `leak` above 1), used in the minimality loss.
5. Stochastic masks m = g_lower + (1 - g_lower) * r with r ~ U(0, 1), `mask_samples` draws per
   step. A masked matrix maps a to (a V^T * m) U^T, i.e. it uses W'(x) = U diag(m(x)) V.
6. Losses:
   - faithfulness: sum_l ||W^l - U^l V^l||_F^2 / (number of decomposed weights);
   - stochastic reconstruction: squared error summed over outputs and averaged over the batch,
     between the output with every matrix masked and the target output;
   - layerwise stochastic reconstruction: the same with one matrix masked at a time (the other
     keeps its target weights), averaged over matrices;
   - importance minimality, one per matrix: sum_c |g_upper|^p averaged over the batch. Each
     matrix has its own coefficient (the paper's beta_3, split per matrix), and p may anneal
     linearly from `p_start` to `p_end`.
   total = faith_coeff * faithfulness + recon_coeff * reconstruction
           + layerwise_coeff * layerwise + sum_l importance_coeff_l * minimality_l.
7. Adam on U, V and every gate parameter; the learning rate warms up linearly for `warmup` steps
   and then follows a cosine to zero.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from basisgraph.config import Config, ConfigError
from basisgraph.core.model import build_model, sample_data
from basisgraph.decomposition.mlp import (
    NotCachedError,
    OnProgress,
    ProgressBar,
    TrainConfig,
    TrainedModel,
    cache_dir,
    cache_key,
    get_trained,
    progress_every,
)
from basisgraph.decomposition.spd_model import (
    Decomposition,
    Target,
    init_from_neurons,
    spd_losses,
)

__all__ = [
    "SPDConfig",
    "run_spd",
    "SPDRun",
    "decompose",
    "decomposition_path",
    "target_of",
]

INITS = ("random", "neurons", "neurons+data")
SPD_SEED_OFFSET = 13  # sample_data offset of the decomposition's training draw


@dataclass(frozen=True)
class SPDConfig:
    """Every SPD hyperparameter, with its default. Frozen: it keys the on-disk cache."""

    # C for W_in: rank-1 subcomponents of the first weight matrix (more than its rows, so
    # mechanisms that span several neurons have room).
    components_in: int = 100
    # C for W_out: rank-1 subcomponents of the second weight matrix.
    components_out: int = 80
    # Adam steps, one minibatch each.
    steps: int = 3000
    # Inputs per minibatch.
    batch: int = 256
    # Peak learning rate of Adam.
    lr: float = 5e-3
    # Steps of linear learning-rate warm-up before the cosine decay to zero.
    warmup: int = 0
    # Weight of the faithfulness loss; high, so the subcomponents sum to the weights.
    faith_coeff: float = 1000.0
    # beta_1: weight of the stochastic reconstruction loss (every matrix masked).
    recon_coeff: float = 1.0
    # beta_2: weight of the layerwise stochastic reconstruction loss (one matrix masked).
    layerwise_coeff: float = 1.0
    # beta_3 for W_in: weight of its importance-minimality loss (higher than W_out's: it
    # decides whether the read directions align).
    importance_coeff_in: float = 1e-2
    # beta_3 for W_out: weight of its importance-minimality loss.
    importance_coeff_out: float = 3e-3
    # p of the minimality loss sum |g|^p at the first step.
    p_start: float = 1.0
    # p at the last step (linear anneal; set equal to p_start for a constant p).
    p_end: float = 1.0
    # Hidden GELU units of each subcomponent's causal-importance MLP.
    gate_hidden: int = 8
    # Slope of the leaky parts of both hard sigmoids.
    leak: float = 0.01
    # Stochastic mask draws per step (S in the paper).
    mask_samples: int = 1
    # Size of the training draw from the planted data distribution.
    train_samples: int = 40_000
    # Seed of the initialisation, the minibatch order and the masks.
    seed: int = 0
    # Initial subcomponents: "random" (the paper: Gaussian U and V); "neurons" (one subcomponent
    # per hidden neuron, i.e. the rows of W_in and the columns of W_out, the rest small random);
    # "neurons+data" (as "neurons", but the spare subcomponents read directions of random
    # inputs of the data, with a small U).
    init: str = "neurons+data"

    def __post_init__(self):
        ints = {"components_in": (1, 4096), "components_out": (1, 4096), "steps": (1, 10_000_000),
                "batch": (1, 65_536), "warmup": (0, 10_000_000), "gate_hidden": (1, 1024),
                "mask_samples": (1, 64), "train_samples": (1, 10_000_000), "seed": (0, 2**31 - 1)}
        for name, (lo, hi) in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(name, v, f"an integer from {lo} to {hi}")
        nonneg = ["faith_coeff", "recon_coeff", "layerwise_coeff", "importance_coeff_in",
                  "importance_coeff_out", "leak"]
        for name in nonneg:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1e9 or math.isnan(v):
                raise ConfigError(name, v, "a number from 0 to 1e9")
        if self.init not in INITS:
            raise ConfigError("init", self.init, "one of " + ", ".join(INITS))
        for name in ("lr", "p_start", "p_end"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 < v <= 10.0:
                raise ConfigError(name, v, "a number greater than 0 and at most 10")

    def p_at(self, step: int) -> float:
        """p of the minimality loss at a step (linear from p_start to p_end)."""
        frac = step / max(self.steps - 1, 1)
        return self.p_start + (self.p_end - self.p_start) * frac

    def lr_at(self, step: int) -> float:
        """Learning rate at a step: linear warm-up, then cosine decay to zero."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        span = max(self.steps - self.warmup, 1)
        return self.lr * 0.5 * (1 + math.cos(math.pi * (step - self.warmup) / span))

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every hyperparameter, in declaration order."""
        return [f.name for f in fields(cls)]


def run_spd(target: Target, acts: torch.Tensor, cfg: SPDConfig,
            on_step: Callable[[int, dict[str, float]], None] | None = None,
            log_every: int = 100) -> tuple[Decomposition, list[dict[str, float]]]:
    """Decompose `target` on minibatches of `acts` (n, d_in). Returns the decomposition and a
    loss history (one entry every `log_every` steps and at the last step)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    dec = Decomposition(target, (cfg.components_in, cfg.components_out), cfg.gate_hidden, gen)
    if cfg.init != "random":
        init_from_neurons(dec, target, acts if cfg.init == "neurons+data" else None, gen)
    opt = torch.optim.Adam(dec.parameters(), lr=cfg.lr)
    history: list[dict[str, float]] = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(step)
        idx = torch.randint(0, len(acts), (min(cfg.batch, len(acts)),), generator=gen)
        terms = spd_losses(dec, target, acts[idx], cfg, gen, cfg.p_at(step))
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        if step % log_every == 0 or step == cfg.steps - 1:
            row = {k: float(v.detach()) for k, v in terms.items()}
            row["step"] = step
            history.append(row)
        if on_step is not None:
            on_step(step, terms)
    return dec, history


@dataclass(frozen=True)
class SPDRun:
    """A decomposition of one configuration's trained MLP, with its provenance."""

    config: Config
    train: TrainConfig
    spd: SPDConfig
    trained: TrainedModel
    target: Target
    dec: Decomposition
    history: list[dict[str, float]]  # loss terms every 100 steps
    seconds: float  # decomposition wall time (0 when loaded from the cache)
    cached: bool


def target_of(trained: TrainedModel) -> Target:
    """The trained MLP's weights as a decomposition target."""
    w = trained.net.weights()
    return Target(w["w_in"], w["b_in"], w["w_out"], w["b_out"])


def decomposition_path(cfg: Config, tcfg: TrainConfig, scfg: SPDConfig) -> Path:
    """Where the decomposition of (cfg, tcfg, scfg) is cached (it may not exist yet)."""
    return cache_dir() / f"spd-{cache_key('spd', cfg, tcfg, scfg)}.pt"


def decompose(cfg: Config, tcfg: TrainConfig | None = None, scfg: SPDConfig | None = None, *,
              train: bool = False, progress: bool = False,
              on_progress: OnProgress | None = None) -> SPDRun:
    """SPD of the trained MLP of `cfg`, from the disk cache or (if `train`) computed now.

    With train=False a missing MLP or decomposition raises NotCachedError: a web request only
    ever loads. Training the MLP comes first when it is not cached. `on_progress(stage, done,
    total)` is called about 200 times per stage while computing: stage "mlp", then "spd".
    """
    tcfg, scfg = tcfg or TrainConfig(), scfg or SPDConfig()
    trained = get_trained(cfg, tcfg, train=train, progress=progress, on_progress=on_progress)
    target = target_of(trained)
    path = decomposition_path(cfg, tcfg, scfg)
    comps = (scfg.components_in, scfg.components_out)
    if path.exists():
        blob = torch.load(path, weights_only=True)
        dec = Decomposition(target, comps, scfg.gate_hidden, torch.Generator().manual_seed(0))
        dec.load_state_dict(blob["state"])
        return SPDRun(cfg, tcfg, scfg, trained, target, dec, json.loads(blob["history"]), 0.0, True)
    if not train:
        raise NotCachedError(f"no decomposition cached for this configuration ({path.name}); "
                             "run `basisgraph decompose` first")
    model = build_model(cfg)
    acts = torch.tensor(sample_data(model, samples=scfg.train_samples,
                                    seed_offset=SPD_SEED_OFFSET).acts, dtype=torch.float32)
    start = time.perf_counter()
    bar = ProgressBar(scfg.steps, "decompose (SPD)") if progress else None
    every = progress_every(scfg.steps)

    def on_step(step: int, _terms) -> None:
        if bar is not None:
            bar(step + 1)
        if on_progress is not None and ((step + 1) % every == 0 or step + 1 == scfg.steps):
            on_progress("spd", step + 1, scfg.steps)

    dec, history = run_spd(target, acts, scfg, on_step=on_step)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state": dec.state_dict(), "history": json.dumps(history)}, tmp)
    tmp.replace(path)
    return SPDRun(cfg, tcfg, scfg, trained, target, dec, history, seconds, False)
