"""SAEs: determinism, metrics on hand-made dictionaries, the cache, the node set's edges, the CLI.

Everything trains on a small model (60 animals, 8 attributes) for a few hundred steps, into a
temporary cache directory, so the suite stays fast and never touches ~/.cache.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from basisgraph.cli.main import main
from basisgraph.config import ConfigError, parse_config
from basisgraph.core.attribution import edge_vectors
from basisgraph.core.bases import reconstruction
from basisgraph.core.counts import circuit_stats
from basisgraph.core.study import get_study
from basisgraph.dictionaries import sae as sae_mod
from basisgraph.dictionaries.codes import reconstruct
from basisgraph.dictionaries.metrics import match_counts, mcc, sae_metrics
from basisgraph.dictionaries.sae import (
    SAEConfig,
    cache_key,
    coefficients,
    load_sae,
    parse_sae_config,
    sae_node_set,
    train_sae,
)
from basisgraph.dictionaries.table import sae_study, sae_table

SMALL = parse_config({"animals": 60, "attributes": 8, "samples": 300})
FAST = {"steps": 200, "samples": 4096, "batch": 256}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """Every test caches into one temporary directory of this module."""
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path_factory.getbasetemp() / "sae-cache"))


@pytest.fixture(scope="module")
def relu(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BASISGRAPH_CACHE", str(tmp_path_factory.getbasetemp() / "sae-cache"))
    try:
        yield train_sae(SMALL, SAEConfig(**FAST))
    finally:
        mp.undo()


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["relu", "topk", "batchtopk", "matryoshka"])
def test_same_seed_same_weights(kind):
    scfg = SAEConfig(kind=kind, k=2, steps=60, samples=2048, batch=128)
    a = train_sae(SMALL, scfg, use_cache=False)
    b = train_sae(SMALL, scfg, use_cache=False)
    for name in ("w_enc", "b_enc", "w_dec", "b_dec"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.threshold == b.threshold
    c = train_sae(SMALL, scfg.model_copy(update={"seed": 1}), use_cache=False)
    assert not np.array_equal(a.w_dec, c.w_dec)


def test_training_leaves_torch_state_alone():
    import torch

    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    train_sae(SMALL, SAEConfig(steps=5, samples=256, batch=64), use_cache=False)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, det)


# --- metrics -----------------------------------------------------------------------------------


def test_mcc_hand_made():
    model = get_study(SMALL).model
    animals, attrs = model.animal_dirs, model.attr_dirs
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(animals))
    signs = rng.choice([-1.0, 1.0], size=(len(animals), 1))
    scaled = animals[perm] * signs * rng.uniform(0.5, 2.0, size=(len(animals), 1))
    assert mcc(scaled, animals) == pytest.approx((1.0, 1.0))
    assert mcc(attrs, attrs) == pytest.approx((1.0, 1.0))
    # A narrower dictionary scores by the true features it covers; matched pairs are perfect.
    total, matched = mcc(animals[:15], animals)
    assert total == pytest.approx(15 / 60) and matched == pytest.approx(1.0)
    # Random directions in 8 dims match worse than the truth.
    assert mcc(rng.standard_normal((60, 8)) @ model.rotation[:8], animals)[0] < 0.95
    assert match_counts(np.vstack([animals, attrs]), animals) == (60, 60)
    assert match_counts(attrs, attrs, live=np.arange(8) < 3) == (3, 3)


def test_metrics_of_the_true_union_dictionary():
    """A fake 'SAE' whose decoder is the union of true features and whose encoder is exact."""
    study = get_study(SMALL)
    m = study.model
    dec = np.vstack([m.animal_dirs, m.attr_dirs])  # (68, 8)
    fake = sae_mod.TrainedSAE(SMALL, SAEConfig(width=68).resolve(SMALL), 1.0,
                              np.linalg.pinv(dec), np.zeros(68), dec, np.zeros(8), None)
    met = sae_metrics(fake, m, study.data.acts)
    assert met["mcc_animals"] == pytest.approx(1.0) and met["mcc_attributes"] == pytest.approx(1.0)
    assert met["animals_recovered"] <= 60 and met["attributes_recovered"] <= 8


def test_metrics_shapes_and_ranges(relu):
    met = relu.metrics
    w = relu.sae.width
    assert w == 68 and relu.id == "sae:relu:68"
    assert 0 <= met["l0"] <= w
    assert 0 <= met["dead_fraction"] <= 1
    assert met["explained_variance"] <= 1 and met["explained_variance"] > 0.5
    assert -1 <= met["shrinkage"] <= 1 and met["norm_ratio"] > 0
    for key in ("mcc_animals", "mcc_attributes", "mcc_animals_matched", "mcc_attributes_matched"):
        assert 0 <= met[key] <= 1 + 1e-9
    assert 0 <= met["match_animals"] <= w and 0 <= met["match_attributes"] <= w
    assert met["animals_recovered"] <= min(60, met["match_animals"])
    assert met["attributes_recovered"] <= min(8, met["match_attributes"])
    assert met["loss_curve"][-1][0] == FAST["steps"]
    assert relu.w_enc.shape == (8, w) and relu.w_dec.shape == (w, 8) and relu.b_enc.shape == (w,)
    json.dumps(met)  # plain JSON


def test_topk_keeps_at_most_k():
    t = train_sae(SMALL, SAEConfig(kind="topk", k=2, steps=50, samples=1024, batch=128))
    f = sae_mod.latents(t, get_study(SMALL).data.acts)
    assert np.all((f > 0).sum(axis=1) <= 2)
    assert t.metrics["l0"] <= 2


# --- cache -------------------------------------------------------------------------------------


def test_cache_hit_does_not_train(relu, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(sae_mod, "_train", boom)
    again = train_sae(SMALL, SAEConfig(**FAST))
    assert again.cached
    assert np.array_equal(again.w_dec, relu.w_dec) and again.metrics["l0"] == relu.metrics["l0"]
    # The counting rule and the study's dataset size cannot change the weights: same entry.
    other = SMALL.model_copy(update={"coverage": 0.5, "alpha": 0.3, "samples": 500})
    assert train_sae(other, SAEConfig(**FAST)).cached
    with pytest.raises(AssertionError, match="trained again"):
        train_sae(SMALL, SAEConfig(**{**FAST, "seed": 7}))


def test_cache_key_content():
    base = cache_key(SMALL, SAEConfig())
    assert len(base) == 64
    assert cache_key(SMALL, SAEConfig(width=68)) == base  # width None resolves to N + d
    assert cache_key(SMALL, SAEConfig(l1=2.0)) != base
    assert cache_key(SMALL.model_copy(update={"seed": 1}), SAEConfig()) != base
    assert load_sae(SMALL, SAEConfig(steps=12345)) is None


# --- node set and edges ------------------------------------------------------------------------


def test_node_set_edges_complete(relu):
    study = get_study(SMALL)
    ns = sae_node_set(study, relu)
    assert ns.id == "sae:relu:68" and ns.size == 68 and ns.is_dictionary
    assert ns.node_ids[0] == "sae:0" and all(lab.startswith("≈") for lab in ns.node_labels)
    atoms = ns.blocks[0].atoms
    assert np.allclose(np.linalg.norm(atoms, axis=1), 1.0)
    g = coefficients(relu, study.data.acts)  # (samples, 68)
    recon = reconstruction(study.model, ns, study.data)
    assert np.allclose(recon, g @ atoms)
    assert np.allclose(recon, reconstruct(relu, study.data.acts))
    checked = 0
    for k, c in enumerate(study.model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)[:20]
        if not len(rows):
            continue
        vals, total = edge_vectors(study.model, ns, study.enc, c, rows)
        a = study.data.acts[rows]
        assert np.allclose(vals, g[rows] * (atoms @ c.read))  # e_m = g_m (r . D_m)
        assert np.allclose(total, a @ c.read)
        err = (a - g[rows] @ atoms) @ c.read  # the error node: r . (a - g D)
        assert np.allclose(vals.sum(1) + err, total, rtol=1e-9, atol=1e-9)  # completeness
        checked += 1
    assert checked >= 3
    # An SAE does not reconstruct exactly, so the error node is not empty.
    assert np.abs(recon - study.data.acts).max() > 1e-6


def test_node_set_on_examples_and_counts(relu):
    ext, trained = sae_study(SMALL, [SAEConfig(**FAST)])
    assert trained[0].cached and "sae:relu:68" in ext.node_sets
    ns = ext.node_sets["sae:relu:68"]
    for _, enc in ext.examples.values():  # one-input encodings, not the dataset
        c = ext.model.circuits[0]
        vals, _ = edge_vectors(ext.model, ns, enc, c, np.array([0]))
        g = coefficients(relu, enc.data.acts)
        assert np.allclose(vals[0], g[0] * (ns.blocks[0].atoms @ c.read))
    st = circuit_stats(ext, "sae:relu:68", 0)
    assert st.local_edges is None or st.local_edges >= 1
    assert st.mean_abs.shape == (68,)


def test_sae_table_contract(relu):
    t = sae_table(SMALL, [SAEConfig(**FAST)], train=False)
    ids = [b["id"] for b in t["bases"]]
    assert ids[-1] == "sae:relu:68" and "half" in ids
    sae_entry = t["bases"][-1]
    assert sae_entry["sae"]["metrics"]["l0"] == relu.metrics["l0"]
    assert sae_entry["reconstruction_error"] > 0
    cells = [c for c in t["cells"] if c["basis"] == "sae:relu:68"]
    assert {c["family"] for c in cells} == {"animal", "attribute", "composite"}
    for c in cells:
        assert set(c) >= {"local_edges_median", "global_edges_median", "union_nodes_median",
                          "own_share_median"}
    with pytest.raises(ConfigError) as err:
        sae_table(SMALL, [SAEConfig(steps=7)], train=False)
    assert err.value.field == "sae"


# --- configuration and CLI ---------------------------------------------------------------------


def test_parse_sae_config_errors():
    assert parse_sae_config({"kind": "topk", "k": "3", "unknown": 1}).k == 3
    for values, field in [({"kind": "x"}, "kind"), ({"width": "0"}, "width"), ({"l1": "-1"}, "l1"),
                          ({"kind": "topk", "k": 9, "width": 4}, "k"), ({"lr": "nan?"}, "lr")]:
        with pytest.raises(ConfigError) as err:
            parse_sae_config(values)
        assert err.value.field == field
    with pytest.raises(ConfigError) as err:
        SAEConfig(kind="matryoshka", width=8).resolve(SMALL)
    assert err.value.field == "width"


@pytest.mark.parametrize("argv, field", [
    (["--kind", "gelu"], "kind"), (["--width", "-3"], "width"), (["--l1", "abc"], "l1"),
    (["--k", "0"], "k"), (["--steps", "0"], "steps"), (["--sae-seed", "-1"], "sae_seed"),
    (["--animals", "1"], "animals"), (["--kind", "matryoshka", "--width", "5"], "width"),
])
def test_cli_bad_flags_exit_2(argv, field, capsys):
    assert main(["train-sae", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"basisgraph: error: {field}:")


def test_cli_trains_with_progress_then_prints_metrics(capsys):
    argv = ["train-sae", "--animals", "60", "--attributes", "8", "--steps", "30",
            "--train-samples", "512", "--batch", "64", "--kind", "topk", "--k", "2", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "\r" in out.err and "100.0%" in out.err
    doc = json.loads(out.out)
    assert doc["id"] == "sae:topk:68" and not doc["cached"] and "l0" in doc["metrics"]
    assert main(argv) == 0  # second run: from the cache, no bar
    out = capsys.readouterr()
    assert json.loads(out.out)["cached"] and "\r" not in out.err
