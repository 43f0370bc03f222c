"""The fast routes taken by large tables give the numbers of the plain routes.

Each large-N shortcut (Gram-route pinv, batched mixed scores, batched reader cosines, one
product for every projection, medians without np.median) is forced on a small configuration
here and compared with the route small configurations take.
"""

from __future__ import annotations

import numpy as np

from basisgraph.config import Config
from basisgraph.core import bases, mixed, model, products
from basisgraph.core.counts import _median_of
from basisgraph.core.model import build_model, sample_data
from basisgraph.core.study import build_study


def test_gram_route_min_norm_map_is_pinv(monkeypatch):
    feat = np.random.default_rng(0).standard_normal((3000, 24))
    plain = bases.min_norm_map(feat)
    monkeypatch.setattr(bases, "GRAM_WORK", 0)
    gram = bases.min_norm_map(feat)
    assert gram.shape == plain.shape == (24, 3000)
    np.testing.assert_allclose(gram, plain, rtol=0, atol=1e-13 * np.abs(plain).max())
    np.testing.assert_allclose(gram @ feat, np.eye(24), atol=1e-12)


def test_gram_route_keeps_pinv_for_wide_feature_sets(monkeypatch):
    feat = np.random.default_rng(1).standard_normal((30, 24))  # fewer than 4 animals per dim
    monkeypatch.setattr(bases, "GRAM_WORK", 0)
    assert bases.min_norm_map(feat).tobytes() == np.linalg.pinv(feat).tobytes()


def test_batched_mixed_recipes_match_the_stacked_union(monkeypatch):
    cfg = Config(animals=3000, attributes=16, samples=300)
    m = build_model(cfg)
    reads = np.stack([c.read for c in m.circuits])
    plain = [mixed.mixed_recipe(m, r) for r in reads]
    monkeypatch.setattr(mixed, "BATCH_ATOMS", 0)
    firsts = mixed.mixed_scores(m, reads)
    assert all(f is not None for f in firsts)
    fast = [mixed.mixed_recipe(m, r, first=f) for r, f in zip(reads, firsts)]
    for (n0, w0), (n1, w1) in zip(plain, fast):
        np.testing.assert_array_equal(n0, n1)
        np.testing.assert_allclose(w0, w1, rtol=1e-12, atol=1e-15)


def test_batched_reader_cosines_draw_the_same_model(monkeypatch):
    cfg = Config(animals=2000, attributes=12, samples=100, seed=3)
    plain = build_model(cfg)
    monkeypatch.setattr(model, "BATCH_COSINES", 0)
    fast = build_model(cfg)
    assert fast.animal_feat.tobytes() == plain.animal_feat.tobytes()
    assert [c.bias for c in fast.circuits] == [c.bias for c in plain.circuits]
    d0, d1 = sample_data(plain), sample_data(fast)
    assert d0.acts.tobytes() == d1.acts.tobytes()


def test_projections_of_every_read_in_one_product(monkeypatch):
    study = build_study(Config(animals=500, attributes=20, samples=100))
    atoms = study.node_sets["animal"].blocks[0].atoms
    reads = [c.read for c in study.model.circuits]
    monkeypatch.setattr(products, "PROJ_BATCH", 0)
    products.project_all(atoms, reads)
    for r in reads:
        np.testing.assert_allclose(products.projection(atoms, r), atoms @ r, rtol=1e-12,
                                   atol=1e-15)


def test_median_of_matches_numpy_to_the_bit():
    rng = np.random.default_rng(0)
    for trial in range(3000):
        n = int(rng.integers(1, 40))
        if trial % 3 == 0:
            x = rng.integers(0, 500, n)
        elif trial % 3 == 1:
            x = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300)
        else:
            x = rng.random(n)
        want = float(np.median(x))
        assert np.float64(_median_of(x)).tobytes() == np.float64(want).tobytes()
    assert np.isnan(_median_of(np.array([1.0, np.nan, 2.0])))
