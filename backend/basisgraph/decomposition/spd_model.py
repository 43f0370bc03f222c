"""The parts of a stochastic parameter decomposition: the target MLP, the rank-1 subcomponents
with their causal-importance MLPs, the leaky hard sigmoids, the stochastic masks, the losses and
the neuron-basis initialisation. The step list and the training loop are in spd.py, which
re-exports everything here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from basisgraph.decomposition.spd import SPDConfig

__all__ = [
    "Target",
    "Decomposition",
    "lower_leaky_hard_sigmoid",
    "upper_leaky_hard_sigmoid",
    "stochastic_masks",
    "spd_losses",
    "faithfulness",
    "gates",
    "faith_warmup",
    "toy_total",
    "fit_toy",
    "init_from_neurons",
    "SPARE_SCALE",
]


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


def faithfulness(dec: Decomposition, weights) -> torch.Tensor:
    """Mean squared difference between each target matrix and the sum of its subcomponents."""
    faith = sum(((w - dec.weight(layer)) ** 2).sum() for layer, w in enumerate(weights))
    return faith / sum(w.numel() for w in weights)


def gates(dec: Decomposition, inners: list[torch.Tensor], leak: float) -> tuple[list, list]:
    """Causal importances of every subcomponent from its inner activations: the lower-leaky
    ones (for the masks) and the upper-leaky ones (for the minimality loss), per layer."""
    logits = [dec.gate_logits(layer, h) for layer, h in enumerate(inners)]
    return ([lower_leaky_hard_sigmoid(z, leak) for z in logits],
            [upper_leaky_hard_sigmoid(z, leak) for z in logits])


def faith_warmup(dec: Decomposition, weights, steps: int, lr: float, weight_decay: float) -> None:
    """Fit U and V to the target weights alone for `steps` AdamW steps (the reference code's
    start, before the importance MLPs train)."""
    warm = torch.optim.AdamW([*dec.U, *dec.V], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = sum(((w - dec.weight(layer)) ** 2).mean() for layer, w in enumerate(weights))
        warm.zero_grad()
        loss.backward()
        warm.step()


def toy_total(cfg, faith: torch.Tensor, recon: torch.Tensor, layerwise: torch.Tensor,
              upper: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The toy models' weighted objective (one minimality coefficient for both matrices, as in
    the paper's TMS and residual-MLP runs) and its terms. `cfg` has faith_coeff, recon_coeff,
    layerwise_coeff, importance_coeff and p."""
    minimality = sum((g ** cfg.p).sum(-1).mean() for g in upper)
    total = (cfg.faith_coeff * faith + cfg.recon_coeff * recon + cfg.layerwise_coeff * layerwise
             + cfg.importance_coeff * minimality)
    return {"total": total, "faithfulness": faith, "stochastic_recon": recon,
            "stochastic_recon_layerwise": layerwise, "importance_minimality": minimality}


def fit_toy(dec: Decomposition, cfg, batch: Callable[[], torch.Tensor],
            losses: Callable[[torch.Tensor], dict[str, torch.Tensor]],
            lr_at: Callable[[int], float] | None = None,
            on_step: Callable[[int], None] | None = None) -> Decomposition:
    """Adam on a toy's SPD objective for cfg.steps steps: `batch()` draws the inputs,
    `losses(x)` gives the terms with 'total', `lr_at(step)` (if given) sets the learning rate
    (else cfg.lr throughout). Returns `dec`, trained in place."""
    opt = torch.optim.Adam(dec.parameters(), lr=cfg.lr)
    for step in range(cfg.steps):
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        terms = losses(batch())
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        if on_step is not None:
            on_step(step)
    return dec


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
    faith = faithfulness(dec, target.weights)
    inners = [dec.inner(0, acts), dec.inner(1, hid_t)]  # (n, C_in), (n, C_out)
    lower, upper = gates(dec, inners, cfg.leak)
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
def init_from_neurons(dec: Decomposition, target: Target, acts: torch.Tensor | None,
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
