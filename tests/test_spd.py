"""SPD on small targets: shapes, the mask and sigmoid formulas, losses, determinism, the cache,
the spd edge rule and the `decompose` command's errors. Every test runs in a few seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from basisgraph.cache import NotCachedError
from basisgraph.cli.main import main
from basisgraph.config import Config, ConfigError
from basisgraph.core.study import get_study
from basisgraph.decomposition.mlp import TrainConfig, cache_key, get_trained
from basisgraph.decomposition.readout import readout
from basisgraph.decomposition.spd import SPDConfig, decompose, run_spd
from basisgraph.decomposition.spd_model import (
    Decomposition,
    Target,
    lower_leaky_hard_sigmoid,
    spd_losses,
    stochastic_masks,
    upper_leaky_hard_sigmoid,
)
from basisgraph.decomposition.table import spd_edges, trained_table

TINY = Config(animals=6, attributes=3, samples=200, circuits=2)
TINY_TRAIN = TrainConfig(steps=60, batch=128, train_samples=800, heldout_samples=400)
TINY_SPD = SPDConfig(steps=40, batch=64, components_in=8, components_out=8, train_samples=800)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _toy_target() -> Target:
    """Identity MLP on 4 sparse features: a rank-1 subcomponent per feature solves it exactly."""
    eye = torch.eye(4)
    return Target(eye.clone(), torch.zeros(4), eye.clone(), torch.zeros(4))


def _toy_inputs(n: int = 2048, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    on = torch.rand(n, 4, generator=gen) < 0.25
    return on * torch.rand(n, 4, generator=gen)  # (n, 4) sparse, values in [0, 1)


def test_shapes():
    target = Target(torch.randn(5, 3), torch.zeros(5), torch.randn(2, 5), torch.zeros(2))
    dec = Decomposition(target, (7, 4), 6, torch.Generator().manual_seed(0))
    assert dec.U[0].shape == (5, 7) and dec.V[0].shape == (7, 3)
    assert dec.U[1].shape == (2, 4) and dec.V[1].shape == (4, 5)
    x = torch.randn(9, 3)
    assert dec.inner(0, x).shape == (9, 7)
    lower, upper = dec.importances(target, x)
    assert [g.shape for g in lower] == [(9, 7), (9, 4)] == [g.shape for g in upper]
    ones = [torch.ones(9, 7), torch.ones(9, 4)]
    out = dec.forward_masked(target, x, ones)
    hid = torch.relu(x @ dec.weight(0).T + target.b_in)
    assert out.shape == (9, 2)
    assert torch.allclose(out, hid @ dec.weight(1).T + target.b_out, atol=1e-5)
    assert torch.allclose(dec.forward_masked(target, x, [None, None]), target(x))


def test_mask_formula():
    g = torch.tensor([0.0, 0.25, 1.0])
    r = torch.tensor([0.5, 0.5, 0.3])
    assert torch.allclose(stochastic_masks(g, r), torch.tensor([0.5, 0.625, 1.0]))


def test_leaky_hard_sigmoids():
    x = torch.tensor([-2.0, 0.0, 0.5, 1.0, 3.0])
    assert torch.allclose(lower_leaky_hard_sigmoid(x), torch.tensor([-0.02, 0.0, 0.5, 1.0, 1.0]))
    assert torch.allclose(upper_leaky_hard_sigmoid(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.02]))
    assert torch.allclose(lower_leaky_hard_sigmoid(x, 0.1)[0], torch.tensor(-0.2))


def test_losses_go_down_on_a_rank1_toy():
    target, acts = _toy_target(), _toy_inputs()
    cfg = SPDConfig(steps=300, batch=256, lr=1e-2, components_in=6, components_out=6,
                    importance_coeff_in=1e-3, importance_coeff_out=1e-3, faith_coeff=10.0)
    gen = torch.Generator().manual_seed(5)
    fresh = Decomposition(target, (6, 6), cfg.gate_hidden, torch.Generator().manual_seed(cfg.seed))
    before = spd_losses(fresh, target, acts[:512], cfg, gen)
    dec, history = run_spd(target, acts, cfg, log_every=50)
    after = spd_losses(dec, target, acts[:512], cfg, gen)
    for key in ("total", "faithfulness", "stochastic_recon", "stochastic_recon_layerwise"):
        assert float(after[key].detach()) < 0.5 * float(before[key].detach()), key
    assert history[-1]["step"] == cfg.steps - 1


def test_same_seed_same_decomposition():
    target, acts = _toy_target(), _toy_inputs(512)
    cfg = SPDConfig(steps=20, batch=64, components_in=5, components_out=5)
    a, _ = run_spd(target, acts, cfg)
    b, _ = run_spd(target, acts, cfg)
    c, _ = run_spd(target, acts, SPDConfig(**{**cfg.__dict__, "seed": 1}))
    assert torch.equal(a.U[0], b.U[0]) and torch.equal(a.gate_w2[1], b.gate_w2[1])
    assert not torch.equal(a.U[0], c.U[0])


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError) as err:
        SPDConfig(steps=0)
    assert err.value.field == "steps"
    with pytest.raises(ConfigError) as err:
        SPDConfig(lr=-1.0)
    assert err.value.field == "lr"
    with pytest.raises(ConfigError) as err:
        TrainConfig(hidden_fraction=1.0)
    assert err.value.field == "hidden_fraction"
    with pytest.raises(ConfigError) as err:
        TrainConfig(loss="l1")
    assert err.value.field == "loss"


def test_cache_hit_and_no_training_without_permission(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    with pytest.raises(NotCachedError):
        get_trained(TINY, TINY_TRAIN)
    first = decompose(TINY, TINY_TRAIN, TINY_SPD, train=True)
    assert not first.cached and not first.trained.cached
    second = decompose(TINY, TINY_TRAIN, TINY_SPD)  # train=False: must come from disk
    assert second.cached and second.trained.cached
    assert torch.equal(first.dec.V[0], second.dec.V[0])
    assert second.trained.fit == first.trained.fit
    assert len(list(tmp_path.iterdir())) == 2
    assert cache_key("spd", TINY, TINY_TRAIN, TINY_SPD) != cache_key(
        "spd", TINY, TINY_TRAIN, SPDConfig(**{**TINY_SPD.__dict__, "seed": 3}))


def test_spd_edges_are_complete_for_an_exact_decomposition(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    run = decompose(TINY, TINY_TRAIN, SPDConfig(**{**TINY_SPD.__dict__, "components_in": 3}),
                    train=True)
    study = get_study(TINY)
    with torch.no_grad():  # make W_in = U V exact: U = W_in, V = identity
        run.dec.U[0].copy_(run.target.w_in)
        run.dec.V[0].copy_(torch.eye(3))
    k = 0
    rows = np.flatnonzero(study.pre[:, k] > 0)
    g_in = np.ones((len(study.data.acts), 3))
    edges = spd_edges(run, study, g_in, k, rows, [[0], [1], [2]])  # (n, 3)
    acts = study.data.acts[rows]
    w_in, b_in = run.target.w_in.double().numpy(), run.target.b_in.double().numpy()
    delta = run.target.w_out.double().numpy()[k] * (acts @ w_in.T + b_in > 0)
    total = np.sum((delta @ w_in) * acts, axis=1)  # grad_a y_k . a
    assert np.allclose(edges.sum(1), total, rtol=1e-4, atol=1e-5)


def test_readout_and_table_on_a_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    run = decompose(TINY, TINY_TRAIN, TINY_SPD, train=True)
    ro = readout(run)
    for fam in ("animal", "attribute"):
        assert 0.0 <= ro["recovery"][fam]["fraction"] <= 1.0
    assert set(ro["faithfulness"]) == {"unmasked", "importance_masked", "stochastic"}
    assert ro["layers"][0]["l0_mean"] >= 0
    t = trained_table(TINY, TINY_TRAIN, TINY_SPD)
    assert t["model"] == "trained"
    ids = [b["id"] for b in t["bases"]]
    assert ids[-3:] == ["mixed", "hidden", "spd"] and "animal" in ids
    assert len(t["cells"]) == 3 * len(ids)
    strict = t["readout"]["recovery_strict"]["families"]
    for fam, f in strict.items():  # the stricter tests never count more than |cos| alone
        assert f["recovered_and_causal"] <= f["recovered"]
        if fam != "composite":
            assert f["recovered"] == ro["recovery"][fam]["recovered"]


def test_decompose_choices_match_the_modules():
    from basisgraph.cli.commands import DECOMPOSE_TARGETS, SPD_INITS
    from basisgraph.decomposition.mlp import TARGETS
    from basisgraph.decomposition.spd import INITS

    assert set(DECOMPOSE_TARGETS) == set(TARGETS) and set(SPD_INITS) == set(INITS)
    assert TARGETS["aligned"] == TrainConfig()  # the default keeps every old cache and link


def test_cli_bad_flags_exit_2(capsys):
    assert main(["decompose", "--animals", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "animals" in err[0]
    assert main(["decompose", "--steps", "lots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "steps" in err[0]
    with pytest.raises(SystemExit) as exc:  # argparse rejects an unknown choice itself
        main(["decompose", "--target", "tangled"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "target" in err[0]


@pytest.mark.parametrize("init", ["neurons", "neurons+data"])
def test_neuron_init_starts_at_the_weights(init):
    gen = torch.Generator().manual_seed(3)
    target = Target(torch.randn(5, 3, generator=gen), -torch.rand(5, generator=gen),
                    torch.randn(4, 5, generator=gen), torch.zeros(4))
    cfg = SPDConfig(steps=1, lr=1e-9, components_in=8, components_out=7, init=init)
    dec, _ = run_spd(target, torch.randn(64, 3, generator=gen), cfg)
    for layer, w in enumerate(target.weights):
        spare = (dec.U[layer][:, 5:] @ dec.V[layer][5:]).detach()
        assert torch.allclose(dec.weight(layer).detach() - spare, w, atol=1e-5)
        assert float(spare.norm()) < 0.2 * float(w.norm())
    assert torch.allclose(dec.V[0][:5].norm(dim=1), torch.ones(5), atol=1e-5)


def test_on_progress_reports_both_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    calls = []
    decompose(TINY, TINY_TRAIN, TINY_SPD, train=True,
              on_progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert [c for c in calls if c[0] == "mlp"][-1] == ("mlp", TINY_TRAIN.steps, TINY_TRAIN.steps)
    assert [c for c in calls if c[0] == "spd"][-1] == ("spd", TINY_SPD.steps, TINY_SPD.steps)
    assert {c[0] for c in calls} == {"mlp", "spd"} and calls[0][0] == "mlp"
    done = [c[1] for c in calls if c[0] == "spd"]
    assert done == sorted(done) and len(done) <= 201
    calls.clear()
    trained_table(TINY, TINY_TRAIN, TINY_SPD, on_progress=lambda *a: calls.append(a))
    assert calls == []  # everything came from the cache


def test_fve_loss_weights_circuits_and_keys_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    fve = TrainConfig(**{**TINY_TRAIN.__dict__, "loss": "fve"})
    a, b = get_trained(TINY, TINY_TRAIN, train=True), get_trained(TINY, fve, train=True)
    assert not torch.equal(a.net.w_in, b.net.w_in)  # same seed, different loss
    assert cache_key("mlp", TINY, TINY_TRAIN) != cache_key("mlp", TINY, fve)
    assert set(b.fit["fve_per_family"]) <= {"animal", "attribute", "composite"}
