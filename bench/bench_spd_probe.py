"""Probe for issue 13: does SPD find the planted circuits in an MLP built to compute them in superposition?

The trained superposed MLP (mlp.TARGETS["superposed"]) does not read the planted directions
one by one, so SPD from random initialisation cannot recover them there (docs/spd.md, "Second
session"). This probe builds the MLP instead, the way the paper's residual MLP computes its
functions: every planted circuit k gets `per` random hidden units, each unit's input row is
the sum of its circuits' read directions and its threshold their mean bias, and W_out is fitted
by least squares. No unit is one circuit's reader, but each circuit has its own direction.

Steps, for each (random_dims, per) pair given:
1. Planted model (N = 200, d = 20, seed 0, `random_dims` extra dims); the construction above
   with 30 hidden units; fit per family on a held-out draw.
2. Interference of the planted reads (decomposition/interference.py) and their projection on
   the row space of W_in.
3. SPD from random initialisation with the residual MLP's recipe (200 faithfulness warm-up
   steps, p = 2, beta_3 2e-2 for both matrices, 16 gate units, lr 5e-3 constant), `steps` steps.
4. Read-out and recovery report (|cos| > 0.9, composite margin, ablation), and the median best
   |cos| per family.

With `--planted`, W_in's decomposition starts at the exact planted one instead of random, and
the final losses of the two starts (printed on the same fixed batches) say whether the
objective or the optimisation keeps SPD from the planted solution.

Run: `PYTHONPATH=backend python bench/bench_spd_probe.py [steps] [rd:per ...] [--planted]`
(default 6000 steps, 80:3 and 180:3; about 2 to 4 minutes a pair on the shared machine).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
import torch

from basisgraph.config import Config
from basisgraph.core.model import build_model, sample_data
from basisgraph.core.study import get_study
from basisgraph.decomposition import spd as S
from basisgraph.decomposition.interference import interference_report
from basisgraph.decomposition.mlp import TrainConfig, TrainedMLP, TrainedModel, _targets, fit_report
from basisgraph.decomposition.readout import readout
from basisgraph.decomposition.recovery import recovery_report
from basisgraph.decomposition.spd_model import Decomposition, spd_losses

FAMS = ("animal", "attribute", "composite")
HIDDEN = 30
RECIPE = S.SPDConfig(init="random", p_start=2.0, p_end=2.0, importance_coeff_in=2e-2,
                     importance_coeff_out=2e-2, gate_hidden=16, lr=5e-3)


def constructed(cfg: Config, per: int, seed: int = 0) -> tuple[TrainedModel, np.ndarray]:
    """Step 1: the built MLP as a TrainedModel (W_out by least squares on 40 000 inputs), and
    the unit assignment (hidden, circuits) with 1 where a unit reads a circuit."""
    model = build_model(cfg)
    rng = np.random.default_rng(seed)
    reads = np.stack([c.read for c in model.circuits])  # (circuits, d)
    bias = np.array([c.bias for c in model.circuits])  # (circuits,)
    w_in, b_sum, count = np.zeros((HIDDEN, cfg.d_model)), np.zeros(HIDDEN), np.zeros(HIDDEN)
    assign = np.zeros((HIDDEN, len(reads)))
    for k in range(len(reads)):
        for h in rng.choice(HIDDEN, per, replace=False):
            assign[h, k] = 1.0
            w_in[h] += reads[k]
            b_sum[h] += bias[k]
            count[h] += 1
    thresh = np.maximum(b_sum / np.maximum(count, 1), 1e-4)  # (hidden,)
    x = sample_data(model, samples=40_000, seed_offset=11).acts
    hid = np.maximum(x @ w_in.T - thresh, 0)  # (n, hidden)
    sol = np.linalg.lstsq(np.c_[hid, np.ones(len(hid))], _targets(model, x).numpy(), rcond=None)[0]
    net = TrainedMLP(cfg.d_model, HIDDEN, len(reads), torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.w_in.copy_(torch.tensor(w_in))
        net.theta.copy_(torch.log(torch.expm1(torch.tensor(thresh))))  # softplus(theta) = thresh
        net.w_out.copy_(torch.tensor(sol[:-1].T))
        net.b_out.copy_(torch.tensor(sol[-1]))
    fit = fit_report(model, net, sample_data(model, samples=8000, seed_offset=12).acts)
    return TrainedModel(cfg, TrainConfig(), net, fit, 0.0, True), assign


def decompose(trained: TrainedModel, scfg: S.SPDConfig, planted: np.ndarray | None = None) -> Decomposition:
    """Step 3: warm-up, then the full objective at a constant learning rate. With `planted`
    (the unit assignment), W_in starts at the exact planted decomposition instead: subcomponent
    k reads circuit k's direction and writes to its units; the spare ones start at zero."""
    cfg = trained.config
    target = S.target_of(trained)
    acts = torch.tensor(sample_data(build_model(cfg), samples=scfg.train_samples,
                                    seed_offset=S.SPD_SEED_OFFSET).acts, dtype=torch.float32)
    gen = torch.Generator().manual_seed(scfg.seed)
    dec = Decomposition(target, (scfg.components_in, scfg.components_out), scfg.gate_hidden, gen)
    if planted is not None:
        reads = np.stack([c.read for c in build_model(cfg).circuits])  # (circuits, d)
        norms, k = np.linalg.norm(reads, axis=1), len(reads)
        with torch.no_grad():
            dec.V[0][:k] = torch.tensor(reads / norms[:, None], dtype=torch.float32)
            dec.U[0][:, :k] = torch.tensor(planted * norms[None, :], dtype=torch.float32)
            dec.U[0][:, k:] = 0.0
    warm = torch.optim.AdamW([*dec.U, *dec.V], lr=0.01, weight_decay=0.1)
    for _ in range(200):
        loss = sum(((w - dec.weight(i)) ** 2).sum() for i, w in enumerate(target.weights))
        warm.zero_grad()
        (loss / sum(w.numel() for w in target.weights)).backward()
        warm.step()
    opt = torch.optim.Adam(dec.parameters(), lr=scfg.lr)
    for step in range(scfg.steps):
        idx = torch.randint(0, len(acts), (scfg.batch,), generator=gen)
        terms = spd_losses(dec, target, acts[idx], scfg, gen, scfg.p_at(step))
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    return dec


def probe(rd: int, per: int, steps: int, planted: bool = False) -> None:
    """Steps 1-4 for one pair; prints three lines."""
    cfg = Config(animals=200, attributes=20, random_dims=rd, seed=0)
    trained, assign = constructed(cfg, per)
    study = get_study(cfg)
    inter = interference_report(study.model, study.data, trained.net.weights()["w_in"].numpy())
    start = time.perf_counter()
    scfg = replace(RECIPE, steps=steps)
    dec = decompose(trained, scfg, assign if planted else None)
    target = S.target_of(trained)
    loss = final_loss(dec, trained, scfg)
    run = S.SPDRun(cfg, trained.train, scfg, trained, target, dec, [], 0.0, False)
    ro = readout(run, study)
    fam = recovery_report(run, study, ro)["families"]
    print(f"random_dims {rd}, {per} units per circuit: fit {[trained.fit['fve_per_family'][f] for f in FAMS]}, "
          f"off-circuit |r.a| median {[inter[f]['off_median'] for f in FAMS]}, "
          f"row space {[inter[f]['row_space_median'] for f in FAMS]}")
    print(f"  SPD {steps} steps: recovered a/t/c {[fam[f]['recovered'] for f in FAMS]}, "
          f"causal {[fam[f]['recovered_and_causal'] for f in FAMS]}, "
          f"median best |cos| {[ro['recovery'][f]['median_best_cos'] for f in FAMS]}, "
          f"W_in significant {ro['layers'][0]['significant']}, L0 {ro['layers'][0]['l0_mean_above_half']}, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    print(f"  start {'planted' if planted else 'random'}: loss on 20 fixed batches of 1024 "
          f"{ {k: round(v, 4) for k, v in loss.items()} }", flush=True)


@torch.no_grad()
def final_loss(dec: Decomposition, trained: TrainedModel, scfg: S.SPDConfig) -> dict[str, float]:
    """Mean of every loss term over 20 fixed batches of 1024 (the same for every start)."""
    target = S.target_of(trained)
    acts = torch.tensor(sample_data(build_model(trained.config), samples=scfg.train_samples,
                                    seed_offset=S.SPD_SEED_OFFSET).acts, dtype=torch.float32)
    gen, total = torch.Generator().manual_seed(99), {}
    for _ in range(20):
        idx = torch.randint(0, len(acts), (1024,), generator=gen)
        for k, v in spd_losses(dec, target, acts[idx], scfg, gen, scfg.p_end).items():
            total[k] = total.get(k, 0.0) + float(v) / 20
    return total


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = [a for a in sys.argv[1:] if a != "--planted"]
    steps = int(args[0]) if args else 6000
    pairs = [tuple(map(int, p.split(":"))) for p in args[1:]] or [(80, 3), (180, 3)]
    for rd, per in pairs:
        probe(rd, per, steps, planted="--planted" in sys.argv)
