"""The exact threshold search for long rows (cover.py) and the in-place full-layout edges.

Every fast path must give the very numbers of the plain rule it replaces: the reference here is
the sort-based cover rule, the scipy/numpy expression of the full layout and a stable argsort.
"""

from __future__ import annotations

import numpy as np
import pytest

from basisgraph.config import Config
from basisgraph.core import attribution, counts
from basisgraph.core.bases import _top
from basisgraph.core.counts import TOL, _cover_sorted, circuit_stats, cover_counts
from basisgraph.core.cover import cover_long
from basisgraph.core.study import get_study


def _rows(rng: np.random.Generator, kind: int, n: int, length: int) -> np.ndarray:
    if kind == 0:  # products of Gaussians: dense, with a few tiny entries
        return np.abs(rng.standard_normal((n, length)) * rng.standard_normal((n, length)))
    if kind == 1:  # small integers: many ties and zeros
        return rng.integers(0, 4, (n, length)).astype(float)
    if kind == 2:  # huge dynamic range: many tiny entries (float64 sums round)
        return np.exp(rng.uniform(-80, 5, (n, length)))
    if kind == 3:  # a few equal entries, the rest zero
        out = np.zeros((n, length))
        out[:, : min(3, length)] = 1.0
        return out
    if kind == 4:  # heavy tail
        return np.abs(rng.standard_cauchy((n, length))) ** 3
    return np.abs(rng.standard_normal((n, length))) * 10.0 ** rng.integers(-30, 30)


def _same(x: np.ndarray, tau: float) -> None:
    ref_c, ref_t = _cover_sorted(x, tau)
    got_c, got_t = cover_long(x, tau, TOL, lambda rows: _cover_sorted(rows, tau))
    np.testing.assert_array_equal(got_c, ref_c)
    np.testing.assert_array_equal(got_t, ref_t)
    assert got_c.dtype == ref_c.dtype and got_t.dtype == ref_t.dtype


@pytest.mark.parametrize("kind", range(6))
def test_threshold_search_matches_sorting(kind):
    rng = np.random.default_rng(kind)
    for trial in range(12):
        n, length = int(rng.integers(1, 5)), int(rng.integers(1, 6000))
        x = _rows(rng, kind, n, length)
        if trial % 3 == 0:
            x[0] = 0.0  # a row of zeros needs no entry
        for tau in (1.0, 0.9, 0.5, 1e-6, float(rng.uniform(0, 1))):
            _same(x, tau)


@pytest.mark.parametrize("kind", [0, 1, 2, 5])
def test_threshold_search_matches_sorting_on_very_long_rows(kind):
    rng = np.random.default_rng(10 + kind)
    x = _rows(rng, kind, 3, 40000)
    for tau in (1.0, 0.9, 0.37):
        _same(x, tau)


def test_threshold_search_edge_cases():
    _same(np.zeros((3, 5000)), 0.9)
    _same(np.full((2, 3000), 7.0), 1.0)  # one bucket holds the whole row
    one = np.zeros((1, 4096))
    one[0, 17] = 1e-40  # a subnormal float32 alone
    _same(one, 0.9)
    big = np.zeros((1, 4096))
    big[0, :2] = 3e38  # near the float32 limit
    _same(big, 0.5)
    _same(np.abs(np.random.default_rng(0).standard_normal((30, 2500))), 0.9)  # several chunks
    neg = -np.ones((1, 3000))  # not |values|: falls back to the plain rule
    _same(neg, 0.9)
    _same(np.full((1, 3000), -0.0), 0.9)


def test_cover_counts_uses_the_search_for_long_rows(monkeypatch):
    x = np.abs(np.random.default_rng(1).standard_normal((4, counts.LONG_ROW)))
    called = []
    monkeypatch.setattr(counts, "cover_long", lambda *a: called.append(1) or cover_long(*a))
    got = cover_counts(x, 0.9)
    assert called
    ref = _cover_sorted(x, 0.9)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def _plain_full(ns, enc, read, rows):
    """The full layout exactly as first written: zeros, then scale * coef * proj per block."""
    data = enc.data
    out = np.zeros((len(rows), ns.size))
    for b in ns.blocks:
        proj = b.atoms @ read
        if b.planted:
            coef = np.asarray(enc.res[rows] @ b.q)
            np.add.at(coef, (np.arange(len(rows))[:, None], data.animal_idx[rows]),
                      data.animal_mag[rows])
        else:
            coef = data.acts[rows] @ b.q
        out[:, b.start:b.start + b.size] = b.scale * coef * proj
    return out


@pytest.mark.parametrize("animals", [300, 9000])  # scipy product / per-row loop
def test_full_layout_is_bit_identical(animals):
    study = get_study(Config(animals=animals, attributes=24, samples=300, alpha=0.3, active=2,
                             residual="minnorm"))  # the minimum-norm fast paths
    rows = np.flatnonzero(study.enc.needs_full)[:40]
    for basis in ("animal", "half", "union:0.3", "neuron"):
        ns = study.node_sets[basis]
        for c in study.model.circuits[::7]:
            ref = _plain_full(ns, study.enc, c.read, rows)
            buf = np.full((len(rows) + 3, ns.size), np.nan)
            got = attribution._full(ns, study.enc, c.read, rows, out=buf)
            assert got.tobytes() == ref.tobytes()


def test_circuit_stats_do_not_depend_on_chunking(monkeypatch):
    study = get_study(Config(animals=3000, attributes=16, samples=200))
    before = [circuit_stats(study, "half", k) for k in range(0, len(study.model.circuits), 5)]
    monkeypatch.setattr(attribution, "CHUNK_ELEMS", 7000)  # two rows per full chunk
    monkeypatch.setattr(counts, "LONG_ROW", 10**9)  # and the sort everywhere
    after = [circuit_stats(study, "half", k) for k in range(0, len(study.model.circuits), 5)]
    for a, b in zip(before, after):
        assert (a.local_edges, a.union_nodes, a.own_share) == (b.local_edges, b.union_nodes,
                                                               b.own_share)
        np.testing.assert_allclose(a.mean_abs, b.mean_abs, rtol=1e-12)


def test_signed_means_are_optional():
    study = get_study(Config(preset="bunny"))
    full = circuit_stats(study, "animal", 0)
    lean = circuit_stats(study, "animal", 0, signed=False)
    assert lean.mean_signed is None and full.mean_signed is not None
    assert lean.mean_abs.tobytes() == full.mean_abs.tobytes()
    assert (lean.local_edges, lean.global_edges, lean.union_nodes) == (
        full.local_edges, full.global_edges, full.union_nodes)


def test_top_matches_stable_argsort():
    rng = np.random.default_rng(0)
    for trial in range(500):
        n = int(rng.integers(1, 300))
        scores = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.random(n)
        scores[rng.integers(0, n)] = -1.0
        branch = int(rng.integers(1, 8))
        np.testing.assert_array_equal(_top(scores, branch),
                                      np.argsort(-scores, kind="stable")[:branch])


@pytest.mark.parametrize("width", [100, 9000])  # vectorised / per-row paths
def test_correction_matches_the_sparse_product_to_the_sign_of_zero(width):
    from types import SimpleNamespace

    from scipy import sparse

    q = np.random.default_rng(0).standard_normal((5, width))
    q[2, 3], q[2, 4] = 0.0, -0.0  # products that would be -0.0 without the + 0
    res = sparse.csr_matrix(np.array([[0, 0, -1.5, 0, 0], [1.0, 0, 0, 0, 0], [0, 0, 2.0, 0, 0],
                                      [0, 0.5, 0, 0, 0.25], [0, 0, 0, 0, 0]]))
    enc = SimpleNamespace(res=res)
    for rows in (np.arange(3), np.arange(5)):  # one entry per row; mixed
        ref = np.asarray(res[rows] @ q)
        got = np.full((len(rows), width), np.nan)
        attribution._correction(enc, q, rows, got)
        assert got.tobytes() == ref.tobytes()


def test_threaded_table_matches_the_sequential_one(monkeypatch):
    cfg = Config(animals=2500, attributes=24, samples=300, seed=4)
    monkeypatch.setattr(counts, "THREADED_ANIMALS", 10**9)
    one = counts.table(cfg)
    monkeypatch.setattr(counts, "THREADED_ANIMALS", 0)
    monkeypatch.setattr(counts, "THREADS", 2)
    monkeypatch.setattr(counts.os, "cpu_count", lambda: 2)
    two = counts.table(cfg)
    assert one == two


def test_identity_coordinates_are_the_blas_product_to_the_bit():
    rng = np.random.default_rng(0)
    for d in (1, 7, 50, 300):
        for n in (1, 17, 1000):
            acts = rng.standard_normal((n, d)) * 10.0 ** rng.integers(-300, 300, (n, d))
            acts[0, 0], acts[-1, -1] = -0.0, 0.0
            eye = np.eye(d)
            assert attribution._coords(acts, eye).tobytes() == (acts @ eye).tobytes()
    q = rng.standard_normal((5, 5))
    acts = rng.standard_normal((4, 5))
    assert attribution._coords(acts, q).tobytes() == (acts @ q).tobytes()
