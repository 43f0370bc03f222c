"""Stochastic Parameter Decomposition (SPD) of a one-hidden-layer MLP, written from the paper.

Bushnaq, Braun and Sharkey (2025), "Stochastic Parameter Decomposition". The target is an MLP
y = W_out ReLU(W_in a + b_in) + b_out (the trained model of trained.py, or any `Target`). Both
weight matrices are decomposed; the biases are kept as they are, not decomposed.

Steps (`run_spd`; `decompose` adds the planted data, the cache and the progress bar):
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

import torch
import torch.nn.functional as F

from .config import Config, ConfigError
from .model import build_model, sample_data
from .trained import (
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

__all__ = [
    "SPDConfig",
    "Target",
    "Decomposition",
    "lower_leaky_hard_sigmoid",
    "upper_leaky_hard_sigmoid",
    "stochastic_masks",
    "spd_losses",
    "run_spd",
    "SPDRun",
    "decompose",
    "target_of",
    "NotCachedError",
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


@dataclass(frozen=True)
class Target:
    """The MLP being decomposed: y = w_out ReLU(w_in a + b_in) + b_out (float32 tensors)."""

    w_in: torch.Tensor  # (hidden, d_in)
    b_in: torch.Tensor  # (hidden,)
    w_out: torch.Tensor  # (d_out, hidden)
    b_out: torch.Tensor  # (d_out,)

    @property
    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The decomposed matrices, in layer order."""
        return (self.w_in, self.w_out)

    def layer_inputs(self, acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input of each decomposed matrix.  (n, d_in) -> (n, d_in), (n, hidden)"""
        return acts, torch.relu(acts @ self.w_in.T + self.b_in)

    def __call__(self, acts: torch.Tensor) -> torch.Tensor:
        """Target output.  (n, d_in) -> (n, d_out)"""
        return self.layer_inputs(acts)[1] @ self.w_out.T + self.b_out


def lower_leaky_hard_sigmoid(x: torch.Tensor, leak: float = 0.01) -> torch.Tensor:
    """leak * x below 0, x on [0, 1], 1 above: the importance used in the masks."""
    return torch.clamp(x, max=1.0) - (1.0 - leak) * torch.clamp(x, max=0.0)


def upper_leaky_hard_sigmoid(x: torch.Tensor, leak: float = 0.01) -> torch.Tensor:
    """0 below 0, x on [0, 1], 1 + leak * (x - 1) above: the importance in the minimality loss."""
    return torch.clamp(x, min=0.0) - (1.0 - leak) * torch.clamp(x - 1.0, min=0.0)


def stochastic_masks(g: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """m = g + (1 - g) * r, elementwise (r ~ U(0, 1) of the same shape as g)."""
    return g + (1 - g) * r


class Decomposition(torch.nn.Module):
    """Rank-1 subcomponents of each target matrix and their causal-importance MLPs."""

    def __init__(self, target: Target, components: tuple[int, ...], gate_hidden: int,
                 gen: torch.Generator):
        super().__init__()
        self.U, self.V = torch.nn.ParameterList(), torch.nn.ParameterList()
        self.gate_w1, self.gate_b1 = torch.nn.ParameterList(), torch.nn.ParameterList()
        self.gate_w2, self.gate_b2 = torch.nn.ParameterList(), torch.nn.ParameterList()
        for w, c in zip(target.weights, components):
            d_out, d_in = w.shape
            # U V then has entries of the target's typical size when U, V are unit-variance.
            scale = float(w.std()) if w.numel() > 1 else 1.0
            self.V.append(torch.nn.Parameter(torch.randn(c, d_in, generator=gen) / math.sqrt(d_in)))
            self.U.append(torch.nn.Parameter(torch.randn(d_out, c, generator=gen) * scale
                                             * math.sqrt(d_in / c)))
            self.gate_w1.append(torch.nn.Parameter(torch.randn(c, gate_hidden, generator=gen)))
            self.gate_b1.append(torch.nn.Parameter(torch.zeros(c, gate_hidden)))
            self.gate_w2.append(torch.nn.Parameter(torch.randn(c, gate_hidden, generator=gen)
                                                   / math.sqrt(gate_hidden)))
            self.gate_b2.append(torch.nn.Parameter(torch.zeros(c)))

    @property
    def layers(self) -> int:
        """Number of decomposed matrices."""
        return len(self.U)

    def weight(self, layer: int) -> torch.Tensor:
        """Sum of a matrix's subcomponents, U V.  (d_out, d_in)"""
        return self.U[layer] @ self.V[layer]

    def inner(self, layer: int, a: torch.Tensor) -> torch.Tensor:
        """Inner activations h_c = V_c . a.  (n, d_in) -> (n, C)"""
        return a @ self.V[layer].T

    def gate_logits(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """Each subcomponent's importance MLP on its own inner activation.  (n, C) -> (n, C)"""
        z = F.gelu(h[:, :, None] * self.gate_w1[layer] + self.gate_b1[layer])  # (n, C, hidden)
        return (z * self.gate_w2[layer]).sum(-1) + self.gate_b2[layer]

    def importances(self, target: Target, acts: torch.Tensor, leak: float = 0.01):
        """(g_lower, g_upper) per layer on the target's own layer inputs.  each (n, C_l)"""
        lower, upper = [], []
        for layer, a in enumerate(target.layer_inputs(acts)):
            logits = self.gate_logits(layer, self.inner(layer, a))
            lower.append(lower_leaky_hard_sigmoid(logits, leak))
            upper.append(upper_leaky_hard_sigmoid(logits, leak))
        return lower, upper

    def masked_layer(self, layer: int, a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """a through U diag(mask) V (no bias).  (n, d_in), (n, C) -> (n, d_out)"""
        return (self.inner(layer, a) * mask) @ self.U[layer].T

    def forward_masked(self, target: Target, acts: torch.Tensor,
                       masks: list[torch.Tensor | None]) -> torch.Tensor:
        """Target output with masked subcomponents where masks[l] is given, target W^l elsewhere.

        (n, d_in) -> (n, d_out)
        """
        m_in, m_out = masks
        pre = (self.masked_layer(0, acts, m_in) if m_in is not None else acts @ target.w_in.T)
        hid = torch.relu(pre + target.b_in)
        out = (self.masked_layer(1, hid, m_out) if m_out is not None else hid @ target.w_out.T)
        return out + target.b_out


def _sq_err(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return ((out - ref) ** 2).sum(-1).mean()


def spd_losses(dec: Decomposition, target: Target, acts: torch.Tensor, cfg: SPDConfig,
               gen: torch.Generator, p: float | None = None) -> dict[str, torch.Tensor]:
    """Every SPD loss term on one batch, and the weighted total under key 'total'.

    The three masked passes share work: the masked W_in output feeds both the fully masked
    pass and the W_in-only pass, and the target's hidden activations feed the W_out-only pass.
    """
    p = cfg.p_start if p is None else p
    with torch.no_grad():
        hid_t = torch.relu(acts @ target.w_in.T + target.b_in)  # (n, hidden) target hidden
        ref = hid_t @ target.w_out.T + target.b_out  # (n, d_out) target output
    n_weights = sum(w.numel() for w in target.weights)
    faith = sum(((w - dec.weight(layer)) ** 2).sum() for layer, w in enumerate(target.weights))
    faith = faith / n_weights
    inners = [dec.inner(0, acts), dec.inner(1, hid_t)]  # (n, C_in), (n, C_out)
    logits = [dec.gate_logits(layer, h) for layer, h in enumerate(inners)]
    lower = [lower_leaky_hard_sigmoid(z, cfg.leak) for z in logits]
    upper = [upper_leaky_hard_sigmoid(z, cfg.leak) for z in logits]
    recon = acts.new_zeros(())
    layerwise = acts.new_zeros(())
    for _ in range(cfg.mask_samples):
        m_in, m_out = (stochastic_masks(g, torch.rand(g.shape, generator=gen)) for g in lower)
        hid_m = torch.relu((inners[0] * m_in) @ dec.U[0].T + target.b_in)  # W_in masked
        out_all = dec.masked_layer(1, hid_m, m_out) + target.b_out
        out_in = hid_m @ target.w_out.T + target.b_out
        out_out = (inners[1] * m_out) @ dec.U[1].T + target.b_out
        recon = recon + _sq_err(out_all, ref)
        layerwise = layerwise + _sq_err(out_in, ref) + _sq_err(out_out, ref)
    recon = recon / cfg.mask_samples
    layerwise = layerwise / (cfg.mask_samples * dec.layers)
    minimality = [(g.abs() ** p).sum(-1).mean() if p != 1 else g.abs().sum(-1).mean() for g in upper]
    coeffs = (cfg.importance_coeff_in, cfg.importance_coeff_out)
    total = (cfg.faith_coeff * faith + cfg.recon_coeff * recon + cfg.layerwise_coeff * layerwise
             + sum(c * m for c, m in zip(coeffs, minimality)))
    out = {"total": total, "faithfulness": faith, "stochastic_recon": recon,
           "stochastic_recon_layerwise": layerwise}
    for layer, m in enumerate(minimality):
        out[f"importance_minimality_{layer}"] = m
    return out


SPARE_SCALE = 0.1  # norm of a spare subcomponent's U relative to its share of the matrix


@torch.no_grad()
def _init_from_neurons(dec: Decomposition, target: Target, acts: torch.Tensor | None,
                       gen: torch.Generator) -> None:
    """Start at the neuron basis: subcomponent h of W_in is row h (unit V, U = norm * e_h) and
    subcomponent h of W_out is column h; spare subcomponents stay small (random, or reading
    the directions of random inputs when `acts` is given)."""
    hidden = target.w_in.shape[0]
    layer_in = [acts, None if acts is None else target.layer_inputs(acts)[1]]
    for layer, w in enumerate(target.weights):
        c = dec.V[layer].shape[0]
        k = min(c, hidden)
        if layer == 0:
            norms = w.norm(dim=1).clamp_min(1e-12)  # (hidden,)
            dec.V[0][:k] = w[:k] / norms[:k, None]
            dec.U[0].zero_()
            dec.U[0][torch.arange(k), torch.arange(k)] = norms[:k]
        else:
            norms = w.norm(dim=0).clamp_min(1e-12)
            dec.U[1][:, :k] = w[:, :k] / norms[None, :k]
            dec.V[1].zero_()
            dec.V[1][torch.arange(k), torch.arange(k)] = norms[:k]
        if c > k:
            spare = torch.randn(c - k, w.shape[1], generator=gen)
            source = layer_in[layer]
            if source is not None:
                picks = source[torch.randint(0, len(source), (c - k,), generator=gen)]
                ok = picks.norm(dim=1) > 1e-6
                spare[ok] = picks[ok]
            dec.V[layer][k:] = spare / spare.norm(dim=1, keepdim=True).clamp_min(1e-12)
            scale = SPARE_SCALE * float(w.norm()) / math.sqrt(c * w.shape[0])
            dec.U[layer][:, k:] = torch.randn(w.shape[0], c - k, generator=gen) * scale


def run_spd(target: Target, acts: torch.Tensor, cfg: SPDConfig,
            on_step: Callable[[int, dict[str, float]], None] | None = None,
            log_every: int = 100) -> tuple[Decomposition, list[dict[str, float]]]:
    """Decompose `target` on minibatches of `acts` (n, d_in). Returns the decomposition and a
    loss history (one entry every `log_every` steps and at the last step)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    dec = Decomposition(target, (cfg.components_in, cfg.components_out), cfg.gate_hidden, gen)
    if cfg.init != "random":
        _init_from_neurons(dec, target, acts if cfg.init == "neurons+data" else None, gen)
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
    path = cache_dir() / f"spd-{cache_key('spd', cfg, tcfg, scfg)}.pt"
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
