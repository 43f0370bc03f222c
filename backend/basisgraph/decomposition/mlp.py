"""A small trained network that computes the planted circuits: the target of the decomposition.

The planted circuits are read off the activations by construction. Here a one-hidden-layer MLP
learns to reproduce their outputs from the same activations, with fewer hidden neurons than
there are circuits, so some circuits must share neurons (computation in superposition) and no
weight row is handed any circuit's read direction.

Steps of `train_mlp`:
1. Draw a training set from the planted data distribution (its own seed offset, so it never
   coincides with the dataset the table counts on) and the planted circuit outputs as targets.
2. Fit y_hat = W_out ReLU(W_in a - t) + b_out by Adam on the mean squared error plus a small
   L1 penalty on W_out (`l1_out`), with a cosine learning-rate decay. The hidden thresholds t = softplus(theta) >= 0 play the role of the
   planted readers' biases: a hidden unit is a thresholded reader of one direction, so
   interference below its threshold is silenced (SPD later relies on that to ablate it).
3. Report the fit: fraction of variance explained per circuit, and its mean per family, on a
   held-out draw.
Trained weights are cached on disk under a sha256 of the planted and training configurations
(`cache_dir`), so the CLI trains once and everything else only loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from basisgraph.cache import NotCachedError, cache_dir
from basisgraph.config import Config, ConfigError
from basisgraph.core.model import PlantedModel, build_model, sample_data
from basisgraph.decomposition.circuits import CircuitModule

__all__ = [
    "TrainConfig",
    "TrainedMLP",
    "TrainedModel",
    "NotCachedError",
    "train_mlp",
    "get_trained",
    "mlp_path",
    "fit_report",
    "cache_dir",
    "cache_key",
    "ProgressBar",
    "FAMILIES",
    "TARGETS",
]

FAMILIES = ("animal", "attribute", "composite")
CACHE_VERSION = 2  # bump when the training code changes what a cached file means
TRAIN_SEED_OFFSET = 11  # sample_data offset of the training draw (the study's dataset uses 2)
HELDOUT_SEED_OFFSET = 12  # offset of the held-out draw the fit is measured on


@dataclass(frozen=True)
class TrainConfig:
    """How the MLP is trained. Frozen and hashable: it keys the on-disk cache."""

    # Hidden neurons as a fraction of the number of circuits; must stay below 1 so some circuits
    # share neurons. 0.8 of 60 circuits is 48 neurons.
    hidden_fraction: float = 0.8
    # Adam steps (one minibatch each). 6000 left readers of rare animals half-trained (their
    # W_in rows tilted off the animal direction); 12 000 at lr 6e-3 aligns them.
    steps: int = 12_000
    # Inputs per minibatch.
    batch: int = 1024
    # Peak learning rate; decays to 0 on a cosine.
    lr: float = 6e-3
    # Size of the training draw from the planted data distribution.
    train_samples: int = 40_000
    # Size of the held-out draw the fit is reported on.
    heldout_samples: int = 8000
    # Seed of the initialisation and of the minibatch order.
    seed: int = 0
    # L1 penalty on the output weights W_out (mean |w| times this), pruning cross-talk between
    # hidden units and circuits that the fit does not need.
    l1_out: float = 0.03
    # Loss per circuit: "mse" (plain squared error) or "fve" (each circuit's squared error
    # divided by its target variance on the training draw, i.e. 1 - FVE summed over circuits,
    # so rare circuits weigh as much as dense ones).
    loss: str = "mse"

    def __post_init__(self):
        checks = {
            "hidden_fraction": 0.0 < self.hidden_fraction < 1.0,
            "steps": 1 <= self.steps <= 1_000_000,
            "batch": 1 <= self.batch <= 65_536,
            "lr": 0.0 < self.lr <= 1.0,
            "train_samples": 1 <= self.train_samples <= 1_000_000,
            "heldout_samples": 1 <= self.heldout_samples <= 1_000_000,
            "seed": 0 <= self.seed <= 2**31 - 1,
            "l1_out": 0.0 <= self.l1_out <= 100.0,
            "loss": self.loss in ("mse", "fve"),
        }
        allowed = {"hidden_fraction": "a number between 0 and 1 (exclusive)", "lr": "a number in (0, 1]"}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(name, getattr(self, name), allowed.get(name, "a positive integer in range"))

    def hidden(self, n_circuits: int) -> int:
        """Hidden width for a model with `n_circuits` outputs (at least 1, below n_circuits)."""
        return max(1, min(n_circuits - 1, math.floor(self.hidden_fraction * n_circuits)))


# Named training settings, chosen with `basisgraph decompose --target`. "aligned" (the default,
# what every existing link and cache means) ends with one hidden unit per animal and attribute
# reader. "superposed" has half as many hidden units as circuits, no L1 on W_out (which pulled
# each circuit onto few units) and the variance-weighted loss (so rare animal circuits are fitted
# at all): no hidden unit is then one circuit's reader (docs/spd.md).
TARGETS: dict[str, TrainConfig] = {
    "aligned": TrainConfig(),
    "superposed": TrainConfig(hidden_fraction=0.5, l1_out=0.0, loss="fve"),
}


class TrainedMLP(torch.nn.Module):
    """y_hat = W_out ReLU(W_in a - softplus(theta)) + b_out.  (n, d_model) -> (n, circuits)"""

    def __init__(self, d_model: int, hidden: int, n_out: int, gen: torch.Generator):
        super().__init__()
        bound_in, bound_out = 1 / math.sqrt(d_model), 1 / math.sqrt(hidden)
        self.w_in = torch.nn.Parameter((torch.rand(hidden, d_model, generator=gen) * 2 - 1) * bound_in)
        # softplus(-2.97) = 0.05: every unit starts with a small threshold.
        self.theta = torch.nn.Parameter(torch.full((hidden,), -2.97))
        self.w_out = torch.nn.Parameter((torch.rand(n_out, hidden, generator=gen) * 2 - 1) * bound_out)
        self.b_out = torch.nn.Parameter((torch.rand(n_out, generator=gen) * 2 - 1) * bound_out)

    @property
    def b_in(self) -> torch.Tensor:
        """Hidden biases -t (all <= 0).  (hidden,)"""
        return -F.softplus(self.theta)

    def hidden_pre(self, acts: torch.Tensor) -> torch.Tensor:
        """Hidden pre-activations W_in a + b_in.  (n, d_model) -> (n, hidden)"""
        return acts @ self.w_in.T + self.b_in

    def forward(self, acts: torch.Tensor) -> torch.Tensor:
        """Circuit output estimates.  (n, d_model) -> (n, circuits)"""
        return torch.relu(self.hidden_pre(acts)) @ self.w_out.T + self.b_out

    def weights(self) -> dict[str, torch.Tensor]:
        """Detached weights: w_in (hidden, d), b_in (hidden,), w_out (circuits, hidden), b_out."""
        return {"w_in": self.w_in.detach().clone(), "b_in": self.b_in.detach().clone(),
                "w_out": self.w_out.detach().clone(), "b_out": self.b_out.detach().clone()}


@dataclass(frozen=True)
class TrainedModel:
    """A trained MLP with the configuration that made it and its measured fit."""

    config: Config
    train: TrainConfig
    net: TrainedMLP
    fit: dict  # see fit_report
    seconds: float  # training wall time (0 when loaded from the cache)
    cached: bool  # True when loaded from disk


def cache_key(kind: str, *parts: object) -> str:
    """sha256 over a kind tag, the cache version and the JSON of each configuration part."""
    blob = [kind, CACHE_VERSION]
    for p in parts:
        if isinstance(p, Config):
            # Coverage, alpha and samples only change how edges are counted (training draws its
            # own data), never what is trained: one model serves every value of them.
            blob.append(p.training_json())
        elif dataclasses.is_dataclass(p):
            blob.append(dataclasses.asdict(p))
        else:
            blob.append(p)
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


class ProgressBar:
    """A one-line progress bar on stderr: label [#####.....] done/total elapsed.

    Call it with the number of finished steps; it redraws at most every `every_s` seconds and
    always at the end, with a simple carriage return. Code that wants the numbers rather than
    the drawing passes an `on_progress(stage, done, total)` callback instead (get_trained).
    """

    def __init__(self, total: int, label: str, stream=None, width: int = 30, every_s: float = 0.2):
        self.total, self.label, self.width, self.every_s = max(total, 1), label, width, every_s
        self.stream = sys.stderr if stream is None else stream
        self.start = self.last = time.perf_counter()
        self.drawn = False

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        final = done >= self.total
        if self.drawn and not final and now - self.last < self.every_s:
            return
        self.last, self.drawn = now, True
        fill = round(self.width * min(done / self.total, 1.0))
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] "
                          f"{done}/{self.total} {now - self.start:6.1f}s" + ("\n" if final else ""))
        self.stream.flush()


def _targets(model: PlantedModel, acts: np.ndarray) -> torch.Tensor:
    """Planted circuit outputs.  (n, d_model) -> (n, circuits) float32"""
    with torch.no_grad():
        return CircuitModule(model)(torch.tensor(acts, dtype=torch.float64)).float()


def fit_report(model: PlantedModel, net: TrainedMLP, acts: np.ndarray) -> dict:
    """Fraction of variance explained per circuit and its mean per family, on `acts`."""
    y = _targets(model, acts)
    with torch.no_grad():
        y_hat = net(torch.tensor(acts, dtype=torch.float32))
    resid = ((y_hat - y) ** 2).sum(0)
    var = ((y - y.mean(0)) ** 2).sum(0)
    fve = torch.where(var > 0, 1 - resid / var.clamp_min(1e-30), torch.zeros_like(var)).numpy()
    fams = [c.family for c in model.circuits]
    per_family = {f: float(np.mean([v for v, g in zip(fve, fams) if g == f]))
                  for f in FAMILIES if f in fams}
    return {"fve_per_family": {k: round(v, 4) for k, v in per_family.items()},
            "fve_per_circuit": {c.id: round(float(v), 4) for c, v in zip(model.circuits, fve)},
            "mse": float(resid.sum() / (len(acts) * y.shape[1]))}


OnProgress = Callable[[str, int, int], None]  # on_progress(stage, done, total)


def progress_every(total: int) -> int:
    """Steps between on_progress calls: about 200 calls per stage, and always the last step."""
    return max(1, total // 200)


def _train(cfg: Config, tcfg: TrainConfig, progress: bool,
           on_progress: OnProgress | None = None) -> tuple[TrainedMLP, float]:
    model = build_model(cfg)
    acts = sample_data(model, samples=tcfg.train_samples, seed_offset=TRAIN_SEED_OFFSET).acts
    x = torch.tensor(acts, dtype=torch.float32)  # (train_samples, d_model)
    y = _targets(model, acts)  # (train_samples, circuits)
    gen = torch.Generator().manual_seed(tcfg.seed)
    net = TrainedMLP(cfg.d_model, tcfg.hidden(y.shape[1]), y.shape[1], gen)
    opt = torch.optim.Adam(net.parameters(), lr=tcfg.lr)
    if tcfg.loss == "fve":  # (circuits,) 1 / variance, normalised to mean 1
        weights = 1 / y.var(0).clamp_min(1e-8)
        weights = weights / weights.mean()
    else:
        weights = torch.ones(y.shape[1])
    start = time.perf_counter()
    bar = ProgressBar(tcfg.steps, "train MLP") if progress else None
    every = progress_every(tcfg.steps)
    for step in range(tcfg.steps):
        for group in opt.param_groups:
            group["lr"] = tcfg.lr * 0.5 * (1 + math.cos(math.pi * step / tcfg.steps))
        idx = torch.randint(0, len(x), (tcfg.batch,), generator=gen)
        err = ((net(x[idx]) - y[idx]) ** 2).mean(0) * weights  # (circuits,)
        loss = err.sum() / weights.sum() + tcfg.l1_out * net.w_out.abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if bar is not None:
            bar(step + 1)
        if on_progress is not None and ((step + 1) % every == 0 or step + 1 == tcfg.steps):
            on_progress("mlp", step + 1, tcfg.steps)
    return net, time.perf_counter() - start


def mlp_path(cfg: Config, tcfg: TrainConfig) -> Path:
    """Where the trained MLP of (cfg, tcfg) is cached (it may not exist yet)."""
    return cache_dir() / f"mlp-{cache_key('mlp', cfg, tcfg)}.pt"


def get_trained(cfg: Config, tcfg: TrainConfig | None = None, *, train: bool = False,
                progress: bool = False, on_progress: OnProgress | None = None) -> TrainedModel:
    """The trained MLP of a configuration, from the disk cache or (if `train`) trained now.

    With train=False (what a web request must use) a missing cache entry raises
    NotCachedError instead of training. `on_progress("mlp", done, total)` is called about 200
    times during training (not when loading).
    """
    tcfg = tcfg or TrainConfig()
    path = mlp_path(cfg, tcfg)
    model = build_model(cfg)
    n_out = len(model.circuits)
    if path.exists():
        blob = torch.load(path, weights_only=True)
        net = TrainedMLP(cfg.d_model, tcfg.hidden(n_out), n_out, torch.Generator().manual_seed(0))
        net.load_state_dict(blob["state"])
        return TrainedModel(cfg, tcfg, net, json.loads(blob["fit"]), 0.0, True)
    if not train:
        raise NotCachedError(f"no trained MLP cached for this configuration ({path.name}); "
                             "run `basisgraph decompose` first")
    net, seconds = _train(cfg, tcfg, progress, on_progress)
    held = sample_data(model, samples=tcfg.heldout_samples, seed_offset=HELDOUT_SEED_OFFSET).acts
    fit = fit_report(model, net, held)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state": net.state_dict(), "fit": json.dumps(fit)}, tmp)
    tmp.replace(path)
    return TrainedModel(cfg, tcfg, net, fit, seconds, False)


def train_mlp(cfg: Config, tcfg: TrainConfig | None = None, progress: bool = True) -> TrainedModel:
    """Train (or load from the cache) the MLP of a configuration."""
    return get_trained(cfg, tcfg, train=True, progress=progress)
