"""Attribution edges: completeness, torch autograd, interventions and the two layouts.

Edges e_m(x) = g_m(x) (grad_a y . D_m) are checked against coefficients g built densely here
(planted animals plus numpy's own minimum-norm least squares, or a plain one-axis-at-a-time
OMP for the sparse completion; coordinates by solving), never with the library's encoder.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from basisgraph.config import Config, parse_config
from basisgraph.core import attribution
from basisgraph.core.attribution import edge_chunks, edge_vectors, encode, pre_activations
from basisgraph.core.bases import build_node_sets, mixed_recipe, true_activations
from basisgraph.core.model import Circuit, Data, PlantedModel
from basisgraph.core.study import get_study
from basisgraph.decomposition.circuits import CircuitModule

SMALL = parse_config({"animals": 60, "attributes": 8, "samples": 200, "alpha": 0.3})
SMALL_K2 = parse_config({"animals": 60, "attributes": 8, "samples": 200, "active": 2, "overlay": 0.5,
                         "residual": "minnorm"})
WIDE_SMALL = parse_config({"preset": "wide", "animals": 150, "samples": 300})
STUDIES = [SMALL, SMALL_K2, WIDE_SMALL, Config(preset="bunny")]


def _ids(cfg: Config) -> str:
    return str(cfg.overrides())


def dense_coefficients(model: PlantedModel, data: Data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """node set id -> (g (samples, atoms), D (atoms, d_model)), built without the library."""
    cfg = model.config
    n = len(data.acts)
    planted = np.zeros((n, cfg.animals))
    np.add.at(planted, (np.arange(n)[:, None], data.animal_idx), data.animal_mag)
    F = model.animal_dirs
    res = data.acts - planted @ F
    if cfg.residual == "sparse":
        z = res @ model.axis_dirs.T  # (n, d) residual in feature coordinates
        animal = planted + z @ naive_omp_codes(model.animal_feat)
    elif cfg.residual == "error":
        animal = planted
    else:
        animal = planted + np.linalg.lstsq(F.T, res.T, rcond=None)[0].T  # min-norm completion
    coords = np.linalg.solve(model.axis_dirs.T, data.acts.T).T
    out = {"neuron": (data.acts, np.eye(cfg.d_model)), "animal": (animal, F),
           "attribute": (coords, model.axis_dirs)}
    for sid, alpha in [("half", 0.5), (f"union:{cfg.alpha:g}", cfg.alpha)]:
        out[sid] = (np.hstack([alpha * animal, (1 - alpha) * coords]), np.vstack([F, model.axis_dirs]))
    return out


def naive_omp_codes(feat: np.ndarray) -> np.ndarray:
    """(d, animals): row j writes axis e_j over animals by textbook OMP, one axis at a time."""
    n, d = feat.shape
    codes = np.zeros((d, n))
    for j in range(d):
        target, picks, r = np.eye(d)[j], [], np.eye(d)[j]
        while np.linalg.norm(r) > 1e-12 and len(picks) < min(n, d):
            scores = np.abs(feat @ r)
            scores[picks] = -1.0
            picks.append(int(np.argmax(scores)))
            w = np.linalg.lstsq(feat[picks].T, target, rcond=None)[0]
            r = target - w @ feat[picks]
        codes[j, picks] = w
    return codes


@pytest.fixture(scope="module", params=STUDIES, ids=_ids)
def study(request):
    return get_study(request.param)


@pytest.fixture(scope="module")
def dense(study):
    return dense_coefficients(study.model, study.data)


def _active_rows(study, k: int, n: int = 12) -> np.ndarray:
    rows = np.flatnonzero(study.pre[:, k] > 0)
    overlay = rows[study.data.overlay_attr[rows] >= 0]
    pick = np.random.default_rng(k).permutation(rows)[:n]
    return np.unique(np.concatenate([pick, overlay[:3]]))


def test_dense_coefficients_reconstruct(study, dense):
    for sid, (g, D) in dense.items():
        if sid in study.node_sets:
            np.testing.assert_allclose(g @ D, study.data.acts, atol=1e-9, err_msg=sid)


def test_edges_equal_autograd(study, dense):
    module = CircuitModule(study.model)
    checked = 0
    for k, c in enumerate(study.model.circuits):
        rows = _active_rows(study, k)
        if not len(rows):
            continue
        a = torch.tensor(study.data.acts[rows], requires_grad=True)
        (grad,) = torch.autograd.grad(module(a)[:, k].sum(), a)
        grad = grad.numpy()  # (rows, d_model)
        for sid, ns in study.node_sets.items():
            if not ns.is_dictionary:
                continue
            g, D = dense[sid]
            want = g[rows] * (grad @ D.T)  # (rows, atoms)
            got, total = edge_vectors(study.model, ns, study.enc, c, rows)
            np.testing.assert_allclose(got, want, atol=1e-9, err_msg=f"{sid} {c.id}")
            np.testing.assert_allclose(total, np.sum(grad * study.data.acts[rows], axis=1), atol=1e-12)
            checked += 1
    assert checked >= 4 * len(study.model.circuits) // 2


def test_mixed_edges_are_weights_times_true_activations(study):
    mixed = study.node_sets["mixed"]
    for k, c in enumerate(study.model.circuits):
        rows = _active_rows(study, k)
        if not len(rows):
            continue
        nodes, weights = study.recipes[c.id]
        got, _ = edge_vectors(study.model, mixed, study.enc, c, rows, study.recipes[c.id])
        want = np.zeros_like(got)
        h = true_activations(study.model, dataclasses.replace(
            study.data, acts=study.data.acts[rows], animal_idx=study.data.animal_idx[rows],
            animal_mag=study.data.animal_mag[rows]))
        want[:, nodes] = h[:, nodes] * weights
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=c.id)


def test_completeness(study):
    """Feature edges sum to r . a for every dictionary (error node ~ 0), to 1e-5 relative."""
    acts = study.data.acts
    checked_mixed = 0
    for k, c in enumerate(study.model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)
        for sid, ns in study.node_sets.items():
            recipe = study.recipes[c.id]
            seen = []
            for ch in edge_chunks(study.model, ns, study.enc, c, rows, recipe):
                np.testing.assert_allclose(ch.total, acts[ch.rows] @ c.read, atol=1e-12)
                error = ch.total - ch.vals.sum(axis=1)
                scale = np.abs(ch.vals).sum(axis=1) + np.abs(ch.total)
                if ns.is_dictionary:
                    assert np.all(np.abs(error) <= 1e-5 * scale), f"{sid} {c.id}"
                elif study.config.active == 1 and study.config.random_dims == 0:
                    # Without an overlay a pure reader sees exactly its own feature.
                    plain = study.data.overlay_attr[ch.rows] < 0
                    if c.family == "animal":  # ... when it fires on its own animal
                        i = study.model.animal_names.index(c.id.split(":")[1])
                        plain &= np.any(study.data.animal_idx[ch.rows] == i, axis=1)
                    if c.family != "composite":
                        checked_mixed += int(plain.sum())
                        assert np.all(np.abs(error[plain]) <= 1e-9 * scale[plain]), c.id
                seen.append(ch.rows)
            got = np.sort(np.concatenate(seen)) if seen else np.zeros(0, int)
            np.testing.assert_array_equal(got, rows)
    if study.config.active == 1 and study.config.random_dims == 0:
        assert checked_mixed > 50


@pytest.mark.parametrize("cfg", [SMALL, SMALL_K2], ids=_ids)
def test_intervention_on_a_node_moves_the_pre_activation_by_its_edge(cfg):
    study = get_study(cfg)
    dense = dense_coefficients(study.model, study.data)
    module = CircuitModule(study.model)

    def pre(acts: np.ndarray) -> np.ndarray:
        return (torch.tensor(acts) @ module.reads.T - module.bias).numpy()

    rng = np.random.default_rng(0)
    for k, c in enumerate(study.model.circuits):
        rows = _active_rows(study, k, n=4)
        for sid, ns in study.node_sets.items():
            if not ns.is_dictionary or not len(rows):
                continue
            g, D = dense[sid]
            edges, _ = edge_vectors(study.model, ns, study.enc, c, rows)
            for r, x in enumerate(rows):
                a = study.data.acts[x]
                base = pre(a[None])[0, k]
                top = int(np.argmax(np.abs(edges[r])))
                other = int(rng.integers(ns.size))
                for m in (top, other):
                    # Ablating node m (g_m -> 0) removes exactly its edge.
                    ablated = pre((a - g[x, m] * D[m])[None])[0, k]
                    assert ablated - base == pytest.approx(-edges[r, m], abs=1e-10)
                    # Any change delta of the coefficient moves it by delta * (r . D_m).
                    delta = 0.37
                    moved = pre((a + delta * D[m])[None])[0, k]
                    assert moved - base == pytest.approx(delta * float(c.read @ D[m]), abs=1e-10)
                    if abs(g[x, m]) > 1e-9:
                        assert moved - base == pytest.approx(delta * edges[r, m] / g[x, m], abs=1e-8)


def _scatter(ch, size: int) -> np.ndarray:
    if ch.cols is None:
        return ch.vals
    out = np.zeros((len(ch.rows), size))
    np.add.at(out, (np.arange(len(ch.rows))[:, None], ch.cols), ch.vals)
    return out


def _stacked(chunks, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunks as one dense array in ascending row order.  -> rows (n,), vals (n, size)"""
    chunks = list(chunks)
    if not chunks:
        return np.zeros(0, int), np.zeros((0, size))
    rows = np.concatenate([ch.rows for ch in chunks])
    vals = np.vstack([_scatter(ch, size) for ch in chunks])
    order = np.argsort(rows, kind="stable")
    return rows[order], vals[order]


def test_compact_and_full_layouts_agree(study, monkeypatch):
    monkeypatch.setattr(attribution, "CHUNK_ELEMS", 1000)  # force several full chunks
    layouts_seen = set()
    for k, c in enumerate(study.model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)
        for ns in study.node_sets.values():
            recipe = study.recipes[c.id]
            chunks = list(edge_chunks(study.model, ns, study.enc, c, rows, recipe))
            layouts_seen |= {ch.cols is None for ch in chunks}
            full_chunks = list(edge_chunks(study.model, ns, study.enc, c, rows, recipe, full=True))
            assert all(ch.cols is None and ch.vals.shape == (len(ch.rows), ns.size) for ch in full_chunks)
            r1, compact = _stacked(chunks, ns.size)
            r2, full = _stacked(full_chunks, ns.size)
            np.testing.assert_array_equal(r1, rows)
            np.testing.assert_array_equal(r2, rows)
            np.testing.assert_allclose(compact, full, atol=1e-12, err_msg=f"{ns.id} {c.id}")
    assert layouts_seen == {True, False}


def test_edge_vectors_keep_row_order():
    study = get_study(SMALL)
    c = study.model.circuits[0]
    rows = np.flatnonzero(study.pre[:, 0] > 0)[::-1].copy()
    ns = study.node_sets["half"]
    vec, total = edge_vectors(study.model, ns, study.enc, c, rows)
    np.testing.assert_allclose(total, study.data.acts[rows] @ c.read, atol=1e-12)
    one, _ = edge_vectors(study.model, ns, study.enc, c, rows[:1])
    np.testing.assert_allclose(vec[0], one[0], atol=1e-12)


def test_pre_activations_match_circuits():
    study = get_study(SMALL)
    pre = pre_activations(study.model, study.data.acts)
    np.testing.assert_allclose(pre, study.pre)
    k = 3
    c = study.model.circuits[k]
    np.testing.assert_allclose(pre[:, k], study.data.acts @ c.read - c.bias, atol=1e-12)


# ---- a hand-made 2-D model whose edges can be worked out on paper ----------------------------
# animals f0 = (0.6, 0.8), f1 = (0.8, -0.6), f2 = (s, s); attributes cute = e0, furry = e1; no
# rotation. Input: a bunny with a cute overlay, a = f0 + e0 = (1.6, 0.8). The minimum-norm
# animal coefficients of the overlay e0 are (0.25, 0.75, s/2), so g_animal = (1.25, 0.75, s/2).
S = 1 / np.sqrt(2)
CUTE = Circuit("attribute:cute", "attribute", "cute rule", np.array([1.0, 0.0]), 0.0,
               (("attribute:cute", 1.0),), "attribute:cute")
BUNNY = Circuit("animal:bunny", "animal", "bunny fact", np.array([0.6, 0.8]), 0.5,
                (("animal:bunny", 1.0),), "animal:bunny")


def hand_model(residual: str = "minnorm") -> PlantedModel:
    f = np.array([[0.6, 0.8], [0.8, -0.6], [S, S]])
    cfg = Config(animals=3, attributes=2, samples=1, circuits=1, residual=residual)
    fields = {"config": cfg, "rotation": np.eye(2),
              "animal_dirs": f, "animal_feat": f.copy(), "axis_dirs": np.eye(2), "circuits": (CUTE, BUNNY),
              "animal_names": ("bunny", "dolphin", "cat"), "axis_names": ("cute", "furry"),
              "pair_attr": np.array([0, -1, -1])}
    return PlantedModel(**{f.name: fields[f.name] for f in dataclasses.fields(PlantedModel)})


def hand_data(idx, mag, overlay: int) -> Data:
    f = np.array([[0.6, 0.8], [0.8, -0.6], [S, S]])
    acts = np.array(mag) @ f[idx] + (np.eye(2)[overlay] if overlay >= 0 else 0.0)
    return Data(acts[None], np.array([idx]), np.array([mag], float), np.array([overlay]),
                np.array([1.0 if overlay >= 0 else 0.0]))


@pytest.mark.parametrize("circuit, expected, mixed_error", [
    (CUTE, {"neuron": [1.6, 0.0], "attribute": [1.6, 0.0], "animal": [0.75, 0.6, 0.25],
            "half": [0.375, 0.3, 0.125, 0.8, 0.0], "mixed": [0, 0, 0, 1.6, 0]}, 0.0),
    (BUNNY, {"neuron": [0.96, 0.64], "attribute": [0.96, 0.64], "animal": [1.25, 0.0, 0.35],
             "half": [0.625, 0.0, 0.175, 0.48, 0.32], "mixed": [1, 0, 0, 0, 0]}, 0.6),
])
def test_hand_edges(circuit, expected, mixed_error):
    model = hand_model()
    enc = encode(model, hand_data([0], [1.0], 0))
    sets = build_node_sets(model)
    for sid, want in expected.items():
        recipe = mixed_recipe(model, circuit.read)
        vec, total = edge_vectors(model, sets[sid], enc, circuit, np.array([0]), recipe)
        np.testing.assert_allclose(vec[0], want, atol=1e-12, err_msg=sid)
        assert total[0] == pytest.approx(1.6)
        error = total[0] - vec[0].sum()
        assert error == pytest.approx(mixed_error if sid == "mixed" else 0.0, abs=1e-12)


@pytest.mark.parametrize("residual, circuit, animal, error", [
    # a cute bunny: sparse completes cute as 0.6 bunny + 0.8 dolphin (bunny 1.6, dolphin 0.8);
    # error keeps only the planted bunny and leaves r . cute in the error node
    ("sparse", CUTE, [0.96, 0.64, 0.0], 0.0), ("sparse", BUNNY, [1.6, 0.0, 0.0], 0.0),
    ("error", CUTE, [0.6, 0.0, 0.0], 1.0), ("error", BUNNY, [1.0, 0.0, 0.0], 0.6),
])
def test_hand_edges_per_residual_policy(residual, circuit, animal, error):
    model = hand_model(residual)
    enc = encode(model, hand_data([0], [1.0], 0))
    ns = build_node_sets(model)["animal"]
    for full in (True, False):
        chunks = list(edge_chunks(model, ns, enc, circuit, np.array([0]), full=full))
        for ch in chunks:  # a node appears once per row, so covering counts never split it
            if ch.cols is not None:
                used = ch.cols[0][ch.vals[0] != 0]
                assert len(set(used.tolist())) == len(used)
        _, vec = _stacked(chunks, ns.size)
        np.testing.assert_allclose(vec[0], animal, atol=1e-12)
        assert 1.6 - vec[0].sum() == pytest.approx(error, abs=1e-12)


@pytest.mark.parametrize("residual", ["minnorm", "sparse", "error"])
@pytest.mark.parametrize("overlay", [-1, 1])
def test_duplicate_positions_add_up(overlay, residual):
    """The same animal listed twice (0.5 + 0.5) gives the edges of one animal at 1.0, in both layouts."""
    model = hand_model(residual)
    sets = build_node_sets(model)
    twice = encode(model, hand_data([2, 2], [0.5, 0.5], overlay))
    once = encode(model, hand_data([2], [1.0], overlay))
    for circuit in (CUTE, BUNNY):
        recipe = mixed_recipe(model, circuit.read)
        for sid, ns in sets.items():
            ref, _ = edge_vectors(model, ns, once, circuit, np.array([0]), recipe)
            full, _ = edge_vectors(model, ns, twice, circuit, np.array([0]), recipe)
            _, compact = _stacked(edge_chunks(model, ns, twice, circuit, np.array([0]), recipe), ns.size)
            np.testing.assert_allclose(full, ref, atol=1e-12, err_msg=sid)
            np.testing.assert_allclose(compact, ref, atol=1e-12, err_msg=sid)
