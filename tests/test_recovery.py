"""Composite margins and ablation checks (decomposition/recovery.py) on a hand-made exact MLP."""

from types import SimpleNamespace

import numpy as np
import torch

from basisgraph.config import Config
from basisgraph.core.study import get_study
from basisgraph.decomposition.recovery import ablation_effects, composite_margins
from basisgraph.decomposition.spd_model import Decomposition, Target

TINY = Config(animals=6, attributes=3, samples=300, circuits=2)


def _exact_run(study, reads: np.ndarray) -> SimpleNamespace:
    """An MLP whose hidden unit k is planted circuit k's reader, decomposed into one W_in
    subcomponent per unit with read direction `reads[k]` (W_out is the identity)."""
    circuits = study.model.circuits
    w_in = torch.tensor(np.stack([c.read for c in circuits]), dtype=torch.float32)  # (k, d)
    b_in = torch.tensor([-c.bias for c in circuits], dtype=torch.float32)
    eye = torch.eye(len(circuits))
    target = Target(w_in, b_in, eye, torch.zeros(len(circuits)))
    dec = Decomposition(target, (len(circuits), len(circuits)), 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        v = torch.tensor(reads, dtype=torch.float32)
        dec.V[0].copy_(v / v.norm(dim=1, keepdim=True))
        dec.U[0].copy_(torch.diag(v.norm(dim=1)))
    return SimpleNamespace(dec=dec, target=target)


def test_composite_margin_rejects_the_animal_direction():
    study = get_study(TINY)
    circuits = study.model.circuits
    exact = np.stack([c.read for c in circuits])
    sig = np.arange(len(circuits))
    assert all(m["passed"] for m in composite_margins(_exact_run(study, exact), study, sig))
    # Composite readers replaced by their plain animal direction: cos > 0.9 still, margin < 0.
    plain = exact.copy()
    for k, c in enumerate(circuits):
        if c.family == "composite":
            animal = c.reads[0][0].split(":", 1)[1]
            plain[k] = study.model.animal_dirs[study.model.animal_names.index(animal)]
    margins = composite_margins(_exact_run(study, plain), study, sig)
    assert margins and not any(m["passed"] for m in margins)
    assert all(m["cos_composite"] > 0.9 and m["margin"] <= 0 for m in margins)


def test_ablating_an_exact_subcomponent_removes_its_circuit_only():
    study = get_study(TINY)
    circuits = study.model.circuits
    run = _exact_run(study, np.stack([c.read for c in circuits]))
    k = next(i for i, c in enumerate(circuits) if c.family == "attribute")
    effect = ablation_effects(run, study, k, k)
    assert effect["own"] > 0.99
    assert effect["other_max"] < 1e-6
    assert effect["passed"]
