"""Node sets: exact reconstruction, the mixed view's ratio ~2 and its sparse recipes.

The hand-made model lives in 2-D with the neuron basis equal to the attribute basis:
  animals f0 = (0.6, 0.8), f1 = (0.8, -0.6), f2 = (s, s) with s = 1/sqrt(2);
  attributes cute = (1, 0), furry = (0, 1).
F^T F = [[1.5, 0.5], [0.5, 1.5]], so the minimum-norm animal coefficients of the overlay
"cute" are F (F^T F)^-1 e0 = (0.25, 0.75, s/2).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from basisgraph.config import Config, ConfigError, parse_config
from basisgraph.core.attribution import _full, encode
from basisgraph.core.bases import (
    basis_ids,
    build_node_sets,
    get_node_set,
    mixed_recipe,
    reconstruction,
    residual,
    true_activations,
)
from basisgraph.core.counts import basis_summary
from basisgraph.core.model import Data, PlantedModel
from basisgraph.core.study import get_study

S = 1 / np.sqrt(2)
F2 = np.array([[0.6, 0.8], [0.8, -0.6], [S, S]])


def hand_model(alpha: float = 0.5, residual: str = "minnorm") -> PlantedModel:
    cfg = Config(animals=3, attributes=2, samples=3, circuits=1, alpha=alpha, residual=residual)
    # The rotation is the identity, so feature coordinates are neuron coordinates.
    fields = {"config": cfg, "rotation": np.eye(2), "animal_dirs": F2.copy(), "animal_feat": F2.copy(),
              "axis_dirs": np.eye(2), "circuits": (), "animal_names": ("bunny", "dolphin", "cat"),
              "axis_names": ("cute", "furry"), "pair_attr": np.array([0, -1, -1])}
    return PlantedModel(**{f.name: fields[f.name] for f in dataclasses.fields(PlantedModel)})


def hand_data() -> Data:
    # bunny + cute overlay, a plain dolphin, 0.9 cat + furry overlay
    idx = np.array([[0], [1], [2]])
    mag = np.array([[1.0], [1.0], [0.9]])
    ov, ovm = np.array([0, -1, 1]), np.array([1.0, 0.0, 1.0])
    acts = np.array([[1.6, 0.8], [0.8, -0.6], [0.9 * S, 0.9 * S + 1.0]])
    return Data(acts, idx, mag, ov, ovm)


CONFIGS = [Config(), Config(preset="wide"), Config(preset="bunny"), Config(alpha=0.3),
           parse_config({"animals": 300, "attributes": 20, "samples": 500, "active": 2}),
           parse_config({"animals": 64, "attributes": 64, "samples": 300, "overlay": 1.0})]


def _ids(cfg: Config) -> str:
    return str(cfg.overrides() or "default")


# ---- the hand-made 2-D model -------------------------------------------------------------

def test_hand_min_norm_correction():
    sets = build_node_sets(hand_model())
    (block,) = sets["animal"].blocks
    np.testing.assert_allclose(np.array([1.0, 0.0]) @ block.q, [0.25, 0.75, S / 2], atol=1e-12)
    np.testing.assert_allclose(residual(hand_model(), hand_data()), [[1, 0], [0, 0], [0, 1]], atol=1e-12)


def test_hand_sparse_completion():
    # OMP for cute = (1, 0): dolphin leans most (0.8), then bunny; the two are orthonormal, so
    # cute = 0.6 bunny + 0.8 dolphin. For furry = (0, 1): bunny first, then dolphin:
    # furry = 0.8 bunny - 0.6 dolphin. The cat (s, s) is never needed.
    model, data = hand_model(residual="sparse"), hand_data()
    sets = build_node_sets(model)
    codes = sets["animal"].blocks[0].codes
    assert codes.sizes.tolist() == [2, 2]
    got = [{int(c): round(float(w), 12) for c, w in zip(codes.cols[j], codes.weights[j]) if w} for j in (0, 1)]
    assert got == [{1: 0.8, 0: 0.6}, {0: 0.8, 1: -0.6}]
    enc = encode(model, data)
    ns = sets["animal"]
    vec = _full(ns, enc, np.array([1.0, 0.0]), np.arange(3)) / F2[:, 0]  # coefficients
    np.testing.assert_allclose(vec, [[1.6, 0.8, 0.0], [0.0, 1.0, 0.0], [0.8, -0.6, 0.9]], atol=1e-12)
    np.testing.assert_allclose(reconstruction(model, ns, data), data.acts, atol=1e-12)


def test_hand_error_policy_leaves_the_overlay_unreconstructed():
    model, data = hand_model(residual="error"), hand_data()
    ns = build_node_sets(model)["animal"]
    rec = reconstruction(model, ns, data)
    np.testing.assert_allclose(data.acts - rec, [[1, 0], [0, 0], [0, 1]], atol=1e-12)
    half = build_node_sets(model)["half"]  # half of the overlay is carried by the attributes
    np.testing.assert_allclose(data.acts - reconstruction(model, half, data), [[0.5, 0], [0, 0], [0, 0.5]],
                               atol=1e-12)


@pytest.mark.parametrize("policy", ["minnorm", "sparse"])
def test_hand_dictionaries_reconstruct(policy):
    model, data = hand_model(0.3, policy), hand_data()
    sets = build_node_sets(model)
    assert list(sets) == ["neuron", "animal", "attribute", "half", "union:0.3", "mixed"]
    for sid, ns in sets.items():
        if ns.is_dictionary:
            np.testing.assert_allclose(reconstruction(model, ns, data), data.acts, atol=1e-12, err_msg=sid)


def test_hand_mixed_is_not_a_dictionary():
    model, data = hand_model(), hand_data()
    mixed = build_node_sets(model)["mixed"]
    assert not mixed.is_dictionary and mixed.blocks == ()
    # planted animal plus the attribute read-out: row 0 is f0 + (1.6, 0.8)
    expected = np.array([[2.2, 1.6], [1.6, -1.2], [1.8 * S, 1.8 * S + 1.0]])
    np.testing.assert_allclose(reconstruction(model, mixed, data), expected, atol=1e-12)
    np.testing.assert_allclose(true_activations(model, data),
                               [[1, 0, 0, 1.6, 0.8], [0, 1, 0, 0.8, -0.6], [0, 0, 0.9, 0.9 * S, 0.9 * S + 1]],
                               atol=1e-12)


@pytest.mark.parametrize("read, nodes, weights", [
    ((0.6, 0.8), [0], [1.0]),  # exactly bunny
    ((1.0, 0.0), [3], [1.0]),  # exactly cute
    ((0.6, 1.0), [0, 4], [1.0, 0.2]),  # bunny + 0.2 furry: the least total |weight| of ten exact pairs
    ((0.8, 0.8), [2], [0.8 * np.sqrt(2)]),  # parallel to cat: one atom beats any planted pair
])
def test_hand_mixed_recipe(read, nodes, weights):
    got_nodes, got_w = mixed_recipe(hand_model(), np.array(read))
    assert got_nodes.tolist() == nodes
    np.testing.assert_allclose(got_w, weights, atol=1e-9)


def test_hand_mixed_recipe_prefers_present_features():
    # bunny is never present when the circuit fires: the best pair without it is cat + furry.
    nodes, w = mixed_recipe(hand_model(), np.array([0.6, 1.0]), present=lambda j: 0.0 if j == 0 else 1.0)
    assert nodes.tolist() == [2, 4]
    np.testing.assert_allclose(w, [0.6 * np.sqrt(2), 0.4], atol=1e-9)


# ---- studies --------------------------------------------------------------------------------

def test_basis_ids_and_sizes():
    cfg = Config(alpha=0.3)
    assert basis_ids(Config()) == ["neuron", "animal", "attribute", "half", "mixed"]
    assert basis_ids(cfg) == ["neuron", "animal", "attribute", "half", "union:0.3", "mixed"]
    sets = get_study(Config(preset="wide")).node_sets
    sizes = {k: v.size for k, v in sets.items()}
    assert sizes == {"neuron": 100, "animal": 1000, "attribute": 100, "half": 1100, "mixed": 1050}
    for ns in sets.values():
        assert len(set(ns.node_ids)) == ns.size == len(ns.node_labels) == len(ns.node_kinds)
        assert ns.is_dictionary == (ns.id != "mixed")
    assert sets["attribute"].node_ids[:2] == ("attribute:cute", "attribute:furry")
    assert sets["attribute"].node_ids[50] == "dim:dim-0"
    assert sets["half"].index("animal:bunny") == 0 and sets["half"].index("attribute:cute") == 1000
    assert sets["half"].index("nope") is None


def test_unknown_basis_names_basis():
    study = get_study(Config(preset="bunny"))
    for lookup in (lambda: get_node_set(study.node_sets, "nope"), lambda: study.node_set("nope")):
        with pytest.raises(ConfigError) as info:
            lookup()
        assert info.value.field == "basis"
        assert "half" in info.value.allowed


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_dictionaries_reconstruct(cfg):
    assert cfg.animals >= cfg.d_model
    study = get_study(cfg)
    acts = study.data.acts
    for sid, ns in study.node_sets.items():
        if not ns.is_dictionary:
            continue
        rec = reconstruction(study.model, ns, study.data)
        err = np.linalg.norm(rec - acts, axis=1) / np.linalg.norm(acts, axis=1)
        assert err.max() <= 1e-5, sid
        summary = basis_summary(study, sid)
        assert summary["reconstruction_error"] <= 1e-5
        assert summary["reconstruction_error_max"] <= 1e-5
        assert summary["reconstruction_norm_ratio"] == pytest.approx(1.0, abs=1e-5)
        assert summary["is_dictionary"] is True and summary["atoms"] == ns.size


def test_overlays_need_the_correction():
    study = get_study(Config())
    res = residual(study.model, study.data)
    has = study.data.overlay_attr >= 0
    assert np.all(res[~has] == 0.0)
    assert np.all(np.linalg.norm(res[has], axis=1) > 0.5)
    np.testing.assert_array_equal(study.enc.needs_full, has)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c.random_dims == 0 and c.overlay < 0.5], ids=_ids)
def test_mixed_norm_ratio_is_two(cfg):
    study = get_study(cfg)
    summary = basis_summary(study, "mixed")
    assert summary["is_dictionary"] is False
    assert summary["reconstruction_norm_ratio"] == pytest.approx(2.0, abs=0.1)
    plain = study.data.overlay_attr < 0
    if plain.any():
        rec = reconstruction(study.model, study.node_sets["mixed"], study.data)
        np.testing.assert_allclose(rec[plain], 2 * study.data.acts[plain], atol=1e-10)


def test_wide_mixed_ratio_below_two():
    # Random dims are not attributes, so the attribute read-out misses part of each animal.
    ratio = basis_summary(get_study(Config(preset="wide")), "mixed")["reconstruction_norm_ratio"]
    assert 1.2 < ratio < 1.9


def test_too_few_animals_is_reported_not_hidden():
    # With fewer animals than dimensions an overlay is outside the animals' span.
    study = get_study(parse_config({"animals": 10, "attributes": 20, "samples": 200, "overlay": 1.0}))
    assert basis_summary(study, "animal")["reconstruction_error"] > 0.01
    assert basis_summary(study, "attribute")["reconstruction_error_max"] <= 1e-10


BUNNY_V1 = Config(preset="bunny", residual="minnorm", overlay_sampling="topup")


@pytest.mark.parametrize("cfg", [Config(), Config(preset="wide"), BUNNY_V1], ids=_ids)
def test_mixed_recipe_recovers_the_planted_recipe(cfg):
    # Version 1 breaks the bunny preset's ties with the planted labels (features present when
    # the circuit fires); the larger models have one exact fit per circuit.
    study = get_study(cfg)
    mixed = study.node_sets["mixed"]
    for c in study.model.circuits:
        nodes, weights = study.recipes[c.id]
        got = {mixed.node_ids[int(i)]: float(w) for i, w in zip(nodes, weights)}
        want = dict(c.reads)
        assert set(got) == set(want), c.id
        for node, w in want.items():
            assert got[node] == pytest.approx(w, abs=1e-6), (c.id, node)


def test_version_2_recipes_use_no_planted_labels_and_report_ties():
    # In two dimensions any two features span the plane, so each composite read direction has
    # C(6, 2) = 15 exact two-feature fits; version 2 keeps the least total |weight| and says so.
    study = get_study(Config(preset="bunny"))
    for c in study.model.circuits:
        nodes, weights = study.recipes[c.id]
        plain = mixed_recipe(study.model, c.read)  # no presence function: geometry only
        assert nodes.tolist() == plain[0].tolist() and np.allclose(weights, plain[1])
        fits = study.recipe_fits[c.id]["exact_fits"]
        assert fits == (15 if c.family == "composite" else 1), c.id
    default = get_study(Config())
    assert all(f["exact_fits"] == 1 for f in default.recipe_fits.values())
