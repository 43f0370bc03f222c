"""The alpha sweep agrees with the table at its ends and at one half."""

import pytest
from fastapi.testclient import TestClient

from basisgraph.config import Config, ConfigError
from basisgraph.core.counts import table
from basisgraph.core.sweep import alpha_sweep
from basisgraph.dictionaries.sweep import EV_FLOOR, _best
from basisgraph.web.app import create_app

CFG = Config(animals=200, attributes=16, samples=400)


@pytest.fixture(scope="module")
def sweep():
    return alpha_sweep(CFG, steps=5)


def _cell(t, basis, fam):
    return next(c for c in t["cells"] if c["basis"] == basis and c["family"] == fam)


def _point(s, alpha, fam):
    return next(p for p in s["points"] if p["alpha"] == alpha and p["family"] == fam)


def test_grid_and_shape(sweep):
    assert sweep["alphas"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(sweep["points"]) == 5 * 3


def test_half_point_is_the_tables_half_column(sweep):
    t = table(CFG)
    for fam in ("animal", "attribute", "composite"):
        p, c = _point(sweep, 0.5, fam), _cell(t, "half", fam)
        assert p["local_edges_median"] == c["local_edges_median"]
        assert p["global_edges_median"] == c["global_edges_median"]


def test_ends_behave_like_the_single_dictionaries(sweep):
    t = table(CFG)
    # alpha = 1 silences the attribute nodes: the animal dictionary; alpha = 0 the reverse.
    assert _point(sweep, 1.0, "animal")["local_edges_median"] == _cell(t, "animal", "animal")["local_edges_median"]
    assert _point(sweep, 0.0, "attribute")["local_edges_median"] == 1
    # The own node carries alpha of an animal circuit's input, 1 - alpha of an attribute circuit's.
    for alpha in (0.25, 0.75):
        assert _point(sweep, alpha, "animal")["own_share_median"] == pytest.approx(alpha, abs=0.05)
        assert _point(sweep, alpha, "attribute")["own_share_median"] == pytest.approx(1 - alpha, abs=0.05)


def test_no_alpha_makes_both_families_simple(sweep):
    for alpha in sweep["alphas"]:
        a = _point(sweep, alpha, "animal")["local_edges_median"]
        b = _point(sweep, alpha, "attribute")["global_edges_median"]
        assert a > 1 or b > 1


def test_bad_steps():
    with pytest.raises(ConfigError) as info:
        alpha_sweep(CFG, steps=1)
    assert info.value.field == "steps"
    r = TestClient(create_app()).get("/api/v1/sweep?preset=bunny&steps=99")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "steps"


def test_api_sweep_matches_function():
    r = TestClient(create_app()).get("/api/v1/sweep?preset=bunny&steps=3")
    assert r.status_code == 200
    body = r.json()
    expected = alpha_sweep(Config(preset="bunny"), steps=3)
    assert body == expected


def _sae_point(key: str, ev: float, animal: float, attribute: float) -> dict:
    cells = [{"family": f, "local_edges_median": v, "global_edges_median": v, "own_share_median": None,
              "error_share_median": 0.0} for f, v in (("animal", animal), ("attribute", attribute))]
    return {"key": key, "id": key, "sparsity_name": "l1", "sparsity": 1.0,
            "metrics": {"explained_variance": ev}, "cells": cells}


def test_sae_verdict_ignores_saes_below_the_reconstruction_floor() -> None:
    degenerate = _sae_point("relu:8", EV_FLOOR / 5, 1, 1)  # explains little: its edges look few
    real = _sae_point("relu:64", 0.97, 3, 40)
    assert _best([degenerate, real], "local")["key"] == "relu:64"
    assert _best([degenerate], "global") is None
