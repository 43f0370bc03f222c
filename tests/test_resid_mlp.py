"""SPD on the toy model of compressed computation (decomposition/resid_mlp.py)."""

import pytest
import torch

from basisgraph.config import ConfigError
from basisgraph.decomposition.resid_mlp import (
    ONE_HOT_VALUE,
    ResidConfig,
    ResidModel,
    ResidSPDConfig,
    resid_reproduced,
    resid_scores,
    resid_spd_losses,
    sparse_inputs,
    train_resid,
)
from basisgraph.decomposition.spd_model import Decomposition, Target

# Four features embedded on the axes of a 4-dim stream, two neurons: the per-feature
# decomposition of W_in is exact (one column each), so every score can be worked out by hand.
RCFG = ResidConfig(features=4, d_embed=4, hidden=2, feature_prob=0.25)


def _model() -> ResidModel:
    w_in = torch.tensor([[1.0, 0.5, -0.5, 0.0], [0.0, 1.0, 0.5, 1.0]])  # (hidden, d_embed)
    w_out = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.3]])  # (d_embed, hidden)
    return ResidModel(torch.eye(4), Target(w_in, torch.zeros(2), w_out, torch.zeros(4)))


def _exact(model: ResidModel) -> Decomposition:
    """W_in subcomponent i = column i of W_in reading feature i; importance 1 exactly when the
    subcomponent's inner activation is positive (one GELU unit of slope 10, logit 10 h)."""
    dec = Decomposition(model.mlp, (4, 2), 1, torch.Generator().manual_seed(0))
    with torch.no_grad():
        dec.V[0].copy_(torch.eye(4))
        dec.U[0].copy_(model.mlp.w_in)
        dec.U[1].copy_(model.mlp.w_out)
        dec.V[1].copy_(torch.eye(2))
        for layer in range(2):
            dec.gate_w1[layer].fill_(10.0)
            dec.gate_b1[layer].zero_()
            dec.gate_w2[layer].fill_(1.0)
            dec.gate_b2[layer].zero_()
    return dec


def test_sparse_inputs_density_and_range():
    x = sparse_inputs(20_000, 10, 0.05, torch.Generator().manual_seed(0))
    assert x.shape == (20_000, 10)
    assert 0.045 < float((x != 0).float().mean()) < 0.055
    assert float(x.min()) >= -1 and float(x.max()) <= 1 and float(x.min()) < -0.9


def test_predict_is_residual_plus_mlp_read_off():
    model = _model()
    x = torch.tensor([[ONE_HOT_VALUE, 0.0, 0.0, 0.0]])
    a = x  # W_E is the identity
    want = a + torch.relu(a @ model.mlp.w_in.T) @ model.mlp.w_out.T
    assert torch.allclose(model.predict(x), want)


def test_exact_decomposition_scores_one_subcomponent_per_feature():
    model = _model()
    dec = _exact(model)
    cfg = ResidSPDConfig(components=4, gate_hidden=1)
    terms = resid_spd_losses(dec, model, sparse_inputs(64, 4, 0.5, torch.Generator().manual_seed(1)),
                             cfg, torch.Generator().manual_seed(2))
    assert terms["faithfulness"].item() < 1e-12
    s = resid_scores(dec, model, RCFG, cfg)
    assert s["one_hot_l0_in"] == 1.0 and s["own_fraction"] == 1.0
    assert s["neuron_cos_mean"] == pytest.approx(1.0, abs=1e-6)
    assert s["neuron_norm_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert s["faithfulness_rel"] == [0.0, 0.0]
    assert resid_reproduced(s)


def test_a_shared_subcomponent_fails_the_tolerance():
    model = _model()
    dec = _exact(model)
    with torch.no_grad():  # features 0 and 1 read by one subcomponent (their sum)
        dec.V[0][0] = torch.tensor([1.0, 1.0, 0.0, 0.0])
        dec.V[0][1] = 0.0
    s = resid_scores(dec, model, RCFG, ResidSPDConfig(components=4, gate_hidden=1))
    assert s["own_fraction"] == 0.5  # features 0 and 1 share their top subcomponent
    assert not resid_reproduced(s)


def test_training_fits_better_than_the_residual_alone():
    cfg = ResidConfig(features=8, d_embed=32, hidden=4, feature_prob=0.1, steps=300, batch=256)
    model, mse = train_resid(cfg)
    x = sparse_inputs(4000, 8, 0.1, torch.Generator().manual_seed(5))
    base = float(((x @ model.w_e @ model.w_e.T - (x + torch.relu(x))) ** 2).mean())
    assert mse < 0.7 * base


def test_bad_settings_name_the_field():
    with pytest.raises(ConfigError, match="hidden"):
        ResidConfig(hidden=0)
    with pytest.raises(ConfigError, match="p"):
        ResidSPDConfig(p=0)


def test_cli_model_choices_are_the_presets():
    from basisgraph.cli.resid import RESID_MODELS
    from basisgraph.decomposition.resid_mlp import RESID_PRESETS

    assert set(RESID_MODELS) == set(RESID_PRESETS)


def test_cli_rejects_bad_seeds(capsys):
    from basisgraph.cli.main import main

    assert main(["resid", "--seeds", "x"]) == 2
    assert "seeds" in capsys.readouterr().err


@pytest.mark.slow
def test_resid_20_10_reproduces_the_paper():
    # The paper (100 features, 50 neurons): one W_in subcomponent per feature, using the same
    # neurons as the target. Seed 0 of the 20-10 preset: about 2 minutes on the shared machine.
    from dataclasses import replace

    from basisgraph.decomposition.resid_mlp import RESID_PRESETS, reproduce_resid

    torch.set_num_threads(1)
    rcfg, scfg = RESID_PRESETS["20-10"]
    r = reproduce_resid(replace(rcfg, seed=0), replace(scfg, seed=0))
    assert resid_reproduced(r), r
    assert r["alive_in"] == rcfg.features and r["own_fraction"] == 1.0
