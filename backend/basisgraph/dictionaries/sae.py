"""Sparse autoencoders (learned dictionaries) trained on the planted model's activations.

Steps of `train_sae`:
1. Resolve the SAEConfig against the study Config (an unset width becomes animals + attributes)
   and look the pair up in the on-disk cache (sha256 of both JSONs); a hit returns at once.
2. Draw a training set and a held-out evaluation set from the planted model with
   `model.sample_data`, using seed offsets of their own, so neither overlaps the study's dataset.
3. Normalise: x = s·a with s = sqrt(d_model / E||a||²) over the training set, so E||x||² =
   d_model whatever the configuration. Decoding divides by s again.
4. Initialise: decoder rows are random directions (norm 0.1 for the L1 kinds, 1 for the TopK
   kinds), the encoder is the decoder's transpose, and the biases are zero. The generator is
   seeded from `seed`; torch runs single-threaded with deterministic algorithms (both restored
   afterwards), so one seed gives the same weights on one machine.
5. Train with Adam on minibatches drawn with replacement:
   - relu: f = ReLU(W_enc·x + b_enc); loss = ||x − x̂||² + λ·Σ_j f_j·||W_dec_j||, λ warmed up
     over the first 5% of steps;
   - topk: keep each input's k largest ReLU pre-activations; batchtopk: keep the k·B largest
     over the whole batch of B inputs (inference then uses a threshold, the running mean of
     the smallest kept value); decoder rows are kept at unit norm; AuxK: latents that have not
     fired for one pass over the training set reconstruct the residual x − x̂ with their
     top d_model/2 activations, weighted by `aux` (0 switches it off). Gradients flow only
     through the kept (input, latent) pairs, as in dense TopK, without dense backward passes;
   - matryoshka: the relu loss, plus the reconstruction loss of the first `attributes` latents
     alone (two nested levels: inner = attributes, outer = the whole width).
   The learning rate decays linearly to zero over the last 20% of steps.
6. Measure (sae_metrics.py) on the held-out set, and store weights (torch.save) and metrics
   (JSON) in the cache.

There is no decoder bias by default: a planted activation is an exact sparse sum with no
offset, so g·D alone can reconstruct it. With `decoder_bias` the usual b_dec is learned, and in
graphs it lands in the error node.

`sae_node_set` turns a trained SAE into a NodeSet: unit decoder rows as atoms, coefficients
g(x) = f(s·a)·||W_dec_j|| / s, so that g·D = x̂/s − b_dec/s, and the error node holds a − g·D.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from basisgraph.cache import cache_dir
from basisgraph.config import Config
from basisgraph.core.bases import Block, NodeSet
from basisgraph.core.model import Data, PlantedModel, build_model, sample_data
from basisgraph.dictionaries.codes import TrainedSAE, coefficients, latents
from basisgraph.dictionaries.config import SAE_FIELD_HELP, SAE_VERSION, SAEConfig, cache_key, parse_sae_config
from basisgraph.dictionaries.metrics import sae_metrics

__all__ = [
    "SAEConfig",
    "TrainedSAE",
    "SAE_FIELD_HELP",
    "parse_sae_config",
    "cache_dir",
    "cache_key",
    "train_sae",
    "nearest_labels",
    "load_sae",
    "latents",
    "coefficients",
    "sae_node_set",
    "SAE_VERSION",
]

TRAIN_OFFSET, EVAL_OFFSET = 101, 102  # sample_data seed offsets (the study's dataset uses 2)
L1_WARMUP = 0.05  # fraction of steps over which the L1 coefficient ramps up from 0
LR_DECAY = 0.2  # fraction of steps, at the end, over which the learning rate decays to 0
INIT_NORM_L1 = 0.1  # initial decoder row norm of the L1 kinds (topk kinds keep unit rows)
EMA = 0.99  # decay of the running BatchTopK threshold
CACHE_ELEMS = 20_000_000  # largest (samples x width) coefficient array a node set keeps


# --------------------------------------------------------------------------------------------
# Cache


def _paths(key: str) -> tuple[Path, Path]:
    d = cache_dir() / "sae"
    return d / f"{key}.pt", d / f"{key}.json"


# --------------------------------------------------------------------------------------------
# Trained SAE


# --------------------------------------------------------------------------------------------
# Training


@contextmanager
def _deterministic(threads: int = 1) -> Iterator[None]:
    """Single-threaded deterministic torch for the duration; restores the previous state."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


@dataclass(frozen=True)
class _Run:
    """What every training step of one SAE shares (the tensors are updated in place)."""

    params: dict[str, torch.Tensor]  # w_enc (d, w), b_enc (w,), w_dec (w, d)[, b_dec (d,)]
    b_dec: torch.Tensor  # (d,) the decoder bias, or zeros when the SAE has none
    scfg: SAEConfig  # the resolved SAE configuration
    last_fired: torch.Tensor  # (w,) step at which each latent last fired
    dead_after: int  # steps without firing after which a latent counts as dead
    k_aux: int  # dead latents the AuxK loss may use per input (TopK kinds)
    inner: int  # width of the matryoshka's inner level


def _l1_step(run: _Run, x: torch.Tensor, step: int):
    """Loss of the relu and matryoshka kinds on one batch x (B, d); dense."""
    params, b_dec, scfg, inner = run.params, run.b_dec, run.scfg, run.inner
    f = torch.relu((x - b_dec) @ params["w_enc"] + params["b_enc"])  # (B, w)
    x_hat = f @ params["w_dec"] + b_dec  # (B, d)
    loss = ((x_hat - x) ** 2).sum(1).mean()
    if scfg.kind == "matryoshka":
        x_in = f[:, :inner] @ params["w_dec"][:inner] + b_dec  # (B, d) inner level alone
        loss = loss + ((x_in - x) ** 2).sum(1).mean()
    lam = scfg.l1 * min(1.0, step / max(1.0, L1_WARMUP * scfg.steps))
    loss = loss + lam * (f.sum(0) @ params["w_dec"].norm(dim=1)) / len(x)
    with torch.no_grad():
        run.last_fired[f.amax(0) > 0] = step  # f >= 0
    return loss, (step - run.last_fired) > run.dead_after


def _code(params: dict[str, torch.Tensor], xc: torch.Tensor, r: torch.Tensor, c: torch.Tensor):
    """Activations of the selected (input r, latent c) pairs, with gradients.  -> (M,)"""
    return torch.relu((xc[r] * params["w_enc"].T[c]).sum(1) + params["b_enc"][c])


def _decode(params: dict[str, torch.Tensor], vals: torch.Tensor, r: torch.Tensor, c: torch.Tensor,
            n: int) -> torch.Tensor:
    """Sum of vals * W_dec[c] into rows r.  (M,) -> (n, d)"""
    w_dec = params["w_dec"]
    return torch.zeros(n, w_dec.shape[1]).index_add(0, r, vals[:, None] * w_dec[c])


def _topk_step(run: _Run, x: torch.Tensor, step: int, threshold: float | None):
    """Loss of the topk and batchtopk kinds on one batch x (B, d).

    The selection runs without gradients on the dense pre-activations; gradients then flow
    only through the kept (input, latent) pairs, which is the same gradient as the dense
    TopK (zero elsewhere) at a fraction of the cost.
    """
    params, b_dec, scfg, last_fired = run.params, run.b_dec, run.scfg, run.last_fired
    n, w = x.shape[0], params["b_enc"].shape[0]
    xc = x - b_dec  # (B, d)
    with torch.no_grad():
        pre = torch.relu(xc @ params["w_enc"] + params["b_enc"])  # (B, w)
        if scfg.kind == "topk":
            vals, idx = pre.topk(scfg.k, dim=1)  # (B, k)
            r, c, v = torch.arange(n).repeat_interleave(scfg.k), idx.flatten(), vals.flatten()
        else:
            v, flat = pre.flatten().topk(min(scfg.k * n, pre.numel()))  # (k B,)
            r, c = flat // w, flat % w
        keep = v > 0
        r, c = r[keep], c[keep]
        if scfg.kind == "batchtopk" and bool(keep.any()):
            low = float(v[keep].min())
            threshold = low if threshold is None else EMA * threshold + (1 - EMA) * low
        last_fired[c] = step
    x_hat = _decode(params, _code(params, xc, r, c), r, c, n) + b_dec  # (B, d)
    loss = ((x_hat - x) ** 2).sum(1).mean()
    dead = (step - last_fired) > run.dead_after  # (w,)
    if scfg.aux > 0 and bool(dead.any()):
        with torch.no_grad():
            ka = min(run.k_aux, int(dead.sum()))
            va, ia = (pre * dead).topk(ka, dim=1)  # (B, ka) dead latents only
            ra, ca = torch.arange(n).repeat_interleave(ka), ia.flatten()
            on = va.flatten() > 0
            ra, ca = ra[on], ca[on]
            err = (x - x_hat).detach()  # (B, d) what the live latents miss
        e_hat = _decode(params, _code(params, xc, ra, ca), ra, ca, n)  # (B, d)
        loss = loss + scfg.aux * ((e_hat - err) ** 2).sum(1).mean()
    return loss, threshold, dead


def _train(cfg: Config, scfg: SAEConfig, model: PlantedModel,
           progress: Callable[[int, int, float], None] | None) -> TrainedSAE:
    """Train one SAE (no cache). `scfg` is resolved."""
    w, d = scfg.width, cfg.d_model
    acts = sample_data(model, samples=scfg.samples, seed_offset=TRAIN_OFFSET).acts  # (S, d)
    scale = float(np.sqrt(d / np.mean(np.sum(acts**2, axis=1))))
    t0 = time.perf_counter()
    with _deterministic():
        gen = torch.Generator().manual_seed(scfg.seed)
        X = torch.tensor(acts * scale, dtype=torch.float32)  # (S, d) normalised
        w_dec = torch.randn(w, d, generator=gen)
        w_dec /= w_dec.norm(dim=1, keepdim=True)  # (w, d) unit rows
        if scfg.uses_l1:  # L1 kinds: rows of norm 0.1, so x̂ starts small rather than huge
            w_dec *= INIT_NORM_L1
        params = {"w_dec": w_dec, "w_enc": w_dec.T.clone(),  # (d, w)
                  "b_enc": torch.zeros(w)}
        if scfg.decoder_bias:
            params["b_dec"] = X.mean(0).clone()  # (d,)
        for p in params.values():
            p.requires_grad_(True)
        b_dec = params.get("b_dec", torch.zeros(d))
        opt = torch.optim.Adam(params.values(), lr=scfg.lr)
        decay_from = int(scfg.steps * (1 - LR_DECAY))
        run = _Run(params, b_dec, scfg, last_fired=torch.zeros(w, dtype=torch.long),
                   dead_after=max(1, math.ceil(scfg.samples / scfg.batch)),  # one pass over the data
                   k_aux=max(1, d // 2), inner=cfg.attributes)
        threshold: float | None = None
        dead = torch.zeros(w, dtype=torch.bool)
        loss_curve: list[list[float]] = []
        every = max(1, scfg.steps // 100)
        for step in range(1, scfg.steps + 1):
            lr = scfg.lr * min(1.0, (scfg.steps - step + 1) / max(1, scfg.steps - decay_from))
            for g in opt.param_groups:
                g["lr"] = lr
            x = X[torch.randint(0, len(X), (scfg.batch,), generator=gen)]  # (B, d)
            if scfg.kind in ("topk", "batchtopk"):
                loss, threshold, dead = _topk_step(run, x, step, threshold)
            else:
                loss, dead = _l1_step(run, x, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
            opt.step()
            if scfg.kind in ("topk", "batchtopk"):
                with torch.no_grad():
                    params["w_dec"] /= params["w_dec"].norm(dim=1, keepdim=True).clamp_min(1e-12)
            if step % every == 0 or step == scfg.steps:
                loss_curve.append([step, round(float(loss.detach()), 6)])
                if progress is not None:
                    progress(step, scfg.steps, float(loss.detach()))
        out = {k: v.detach().double().numpy().copy() for k, v in params.items()}
    train_s = time.perf_counter() - t0
    t = TrainedSAE(cfg, scfg, scale, out["w_enc"], out["b_enc"], out["w_dec"],
                   out.get("b_dec", np.zeros(d)), threshold)
    evald = sample_data(model, samples=scfg.samples, seed_offset=EVAL_OFFSET)
    metrics = sae_metrics(t, model, evald.acts)
    metrics["train_s"] = round(train_s, 2)
    metrics["loss_curve"] = loss_curve
    metrics["final_dead_latents_in_training"] = int(dead.sum())
    return TrainedSAE(cfg, scfg, scale, t.w_enc, t.b_enc, t.w_dec, t.b_dec, threshold, metrics)


def _save(t: TrainedSAE, key: str) -> None:
    pt, js = _paths(key)
    pt.parent.mkdir(parents=True, exist_ok=True)
    state = {"w_enc": torch.tensor(t.w_enc), "b_enc": torch.tensor(t.b_enc),
             "w_dec": torch.tensor(t.w_dec), "b_dec": torch.tensor(t.b_dec),
             "scale": torch.tensor(t.scale, dtype=torch.float64),
             "threshold": torch.tensor(np.nan if t.threshold is None else t.threshold,
                                       dtype=torch.float64)}
    doc = {"key": key, "version": SAE_VERSION, "config": t.config.model_dump(mode="json"),
           "sae": t.sae.model_dump(mode="json"), "metrics": t.metrics}
    # Write both to temporary names, then rename: a reader never sees half a file.
    tmp_pt, tmp_js = pt.with_suffix(f".pt.{os.getpid()}.tmp"), js.with_suffix(f".json.{os.getpid()}.tmp")
    torch.save(state, tmp_pt)
    tmp_js.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp_pt, pt)
    os.replace(tmp_js, js)  # the JSON last: its presence marks a complete entry


def load_sae(cfg: Config, scfg: SAEConfig) -> TrainedSAE | None:
    """The cached SAE of (cfg, scfg), or None when it has not been trained. Never trains."""
    scfg = scfg.resolve(cfg)
    key = cache_key(cfg, scfg)
    pt, js = _paths(key)
    if not (pt.exists() and js.exists()):
        return None
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
        state = torch.load(pt, weights_only=True)
    except (OSError, ValueError, RuntimeError):
        return None  # a damaged entry is retrained
    thr = float(state["threshold"])
    return TrainedSAE(cfg, scfg, float(state["scale"]), state["w_enc"].numpy(),
                      state["b_enc"].numpy(), state["w_dec"].numpy(), state["b_dec"].numpy(),
                      None if math.isnan(thr) else thr, doc["metrics"], cached=True)


def train_sae(cfg: Config, scfg: SAEConfig,
              progress: Callable[[int, int, float], None] | None = None,
              use_cache: bool = True) -> TrainedSAE:
    """Train (or load from the cache) one SAE on the planted model of `cfg`.

    `progress(step, steps, loss)` is called about 100 times while training.
    """
    scfg = scfg.resolve(cfg)
    if use_cache:
        hit = load_sae(cfg, scfg)
        if hit is not None:
            return hit
    t = _train(cfg, scfg, build_model(cfg), progress)
    if use_cache:
        _save(t, cache_key(cfg, scfg))
    return t


# --------------------------------------------------------------------------------------------
# Node set


def nearest_labels(names: list[str], cos: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """'≈name 0.97' (or '≈−name 0.97' for the opposite direction) per row of cos, the cosines of
    each atom with every named direction.  (atoms, names) -> labels, best index, signed cos"""
    best = np.argmax(np.abs(cos), axis=1)  # (width,)
    val = cos[np.arange(len(cos)), best]  # (width,) signed cosine
    labels = [f"≈{'' if v >= 0 else '−'}{names[b]} {abs(v):.2f}" for b, v in zip(best, val)]
    return labels, best, val


def sae_node_set(study, trained: TrainedSAE) -> NodeSet:
    """A trained SAE as a node set (id `sae:<kind>:<width>`, node ids `sae:<j>`).

    Atoms are the unit decoder rows; coefficients come from the SAE's own (nonlinear) encoder
    through `Block.encoder`. Each node is labelled with its nearest true feature (animal or
    attribute, by |cosine|) and that cosine.
    """
    model = study.model
    atoms = trained.w_dec / trained.dec_norms[:, None]  # (width, d_model)
    truth = np.concatenate([model.animal_dirs, model.attr_dirs])  # (animals + attributes, d)
    names = list(model.animal_names) + list(model.axis_names[: model.config.attributes])
    labels, _, _ = nearest_labels(names, atoms @ truth.T)
    memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def encoder(data: Data, rows: np.ndarray) -> np.ndarray:
        """Coefficients of `rows` of `data`.  -> (len(rows), width)"""
        acts = data.acts
        if acts.shape[0] * trained.sae.width > CACHE_ELEMS:
            return coefficients(trained, acts[rows])
        hit = memo.get(id(acts))
        if hit is None or hit[0] is not acts:
            if len(memo) >= 8:
                memo.clear()
            hit = memo[id(acts)] = (acts, coefficients(trained, acts))  # keeps acts alive
        return hit[1][rows]

    s = trained.sae
    m = trained.metrics
    desc = (f"a {s.kind} SAE with {s.width} latents trained on the planted activations "
            f"(explained variance {m.get('explained_variance', float('nan')):.3f}, "
            f"L0 {m.get('l0', float('nan')):.1f}); each node is labelled with its nearest true "
            "feature and the cosine; what it misses goes to the error node")
    block = Block(0, atoms, 1.0, False, atoms.T.copy(), encoder=encoder)
    ids = tuple(f"sae:{j}" for j in range(s.width))
    return NodeSet(trained.id, f"SAE {s.kind} {s.width}", desc, True, (block,), ids,
                   tuple(labels), ("sae",) * s.width)


# --------------------------------------------------------------------------------------------
# CLI
