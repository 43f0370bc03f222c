"""Sparse completion: OMP codes rebuild every axis exactly, merged entries, one BLAS thread."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from basisgraph.core import blas, completion
from basisgraph.core.completion import TOL, completed_coefs, merge_entries, sparse_codes


@pytest.mark.parametrize("n, d", [(40, 8), (200, 20), (6, 10)])
def test_codes_rebuild_each_axis(n, d):
    feat = np.random.default_rng(n).standard_normal((n, d))
    feat /= np.linalg.norm(feat, axis=1, keepdims=True)
    codes = sparse_codes(feat)
    if n >= d:  # random animals span the space: exact, with d atoms (the fewest possible)
        np.testing.assert_allclose(codes.rebuilt, np.eye(d), atol=1e-10)
        assert codes.sizes.tolist() == [d] * d
    else:  # every animal used; what is left is outside their span, as with least squares
        proj = feat.T @ np.linalg.pinv(feat.T)  # (d, d) projection on the animals' span
        np.testing.assert_allclose(codes.rebuilt, proj, atol=1e-10)
        assert codes.sizes.tolist() == [n] * d
    for j in range(d):  # the weights reproduce `rebuilt`, and padding carries no weight
        k = codes.sizes[j]
        np.testing.assert_allclose(codes.weights[j, :k] @ feat[codes.cols[j, :k]], codes.rebuilt[j], atol=1e-12)
        assert np.all(codes.weights[j, k:] == 0)
        assert len(set(codes.cols[j, :k].tolist())) == k
    assert TOL <= 1e-9


def test_first_pick_is_the_most_aligned_animal():
    feat = np.array([[0.6, 0.8], [0.8, -0.6], [2 ** -0.5, 2 ** -0.5]])
    codes = sparse_codes(feat)
    assert codes.cols[0, 0] == 1 and codes.cols[1, 0] == 0


def test_pooled_candidates_still_span(monkeypatch):
    monkeypatch.setattr(completion, "POOL_WORK", 0)
    feat = np.random.default_rng(3).standard_normal((500, 12))
    cand = completion._candidates(feat)
    assert len(cand) < 500 and np.linalg.matrix_rank(feat[cand]) == 12
    np.testing.assert_allclose(sparse_codes(feat).rebuilt, np.eye(12), atol=1e-10)


def test_merge_sums_shared_columns():
    vals, cols = merge_entries(np.array([0, 0, 1, 0]), np.array([5, 2, 5, 5]),
                               np.array([1.0, 2.0, 3.0, 4.0]), 3)
    assert cols[0].tolist() == [2, 5] and vals[0].tolist() == [2.0, 5.0]
    assert vals[1].tolist() == [3.0, 0.0] and vals[2].tolist() == [0.0, 0.0]


def test_completed_coefs_add_the_code_to_the_planted_animal():
    feat = np.array([[0.6, 0.8], [0.8, -0.6], [2 ** -0.5, 2 ** -0.5]])
    codes = sparse_codes(feat)
    res = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]))  # a cute overlay, then none
    vals, cols = completed_coefs(codes, np.array([[0], [2]]), np.array([[1.0], [0.9]]), res)
    got = [{int(c): round(float(v), 12) for c, v in zip(cols[i], vals[i]) if v} for i in range(2)]
    assert got == [{0: 1.6, 1: 0.8}, {2: 0.9}]


def test_one_blas_thread_restores_the_count():
    fns = blas._entry_points()
    if fns is None:
        pytest.skip("no OpenBLAS loaded")
    get, _ = fns
    before = get()
    with blas.one_blas_thread():
        assert get() == 1
        with blas.one_blas_thread():
            assert get() == 1
        assert get() == 1
    assert get() == before


def test_axes_pursued_in_chunks_give_the_same_codes(monkeypatch):
    feat = np.random.default_rng(5).standard_normal((90, 9))
    whole = sparse_codes(feat)
    monkeypatch.setattr(completion, "BASIS_BYTES", 8 * 9 * 9 * 2)  # two axes at a time
    parts = sparse_codes(feat)
    np.testing.assert_array_equal(parts.cols, whole.cols)
    np.testing.assert_allclose(parts.weights, whole.weights, atol=1e-12)
