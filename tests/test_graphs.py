"""Graph panels: edge counts vs the coverage curve, the folded node, totals and bad requests."""

from __future__ import annotations

import numpy as np
import pytest

from basisgraph.config import Config, ConfigError, parse_config
from basisgraph.core.counts import table
from basisgraph.core.graphs import MAX_TOP, coverage_curve, model_info, panel
from basisgraph.core.model import MAG_HIGH
from basisgraph.core.study import get_study

SMALL = parse_config({"animals": 300, "attributes": 20, "samples": 500, "coverage": 0.75})
BUNNY = Config(preset="bunny")
BUNNY_V1 = Config(preset="bunny", residual="minnorm", overlay_sampling="topup")  # label tie-break


def _panels(cfg: Config, inputs=None, top: int = 40):
    study = get_study(cfg)
    circuits = [c.id for c in study.model.circuits]
    if len(circuits) > 9:
        circuits = circuits[::7]  # every family, a few each
    for basis in study.node_sets:
        for cid in circuits:
            for inp in inputs or ["dataset", *study.examples]:
                yield panel(cfg, basis, cid, inp, top)


def _shown(p: dict) -> list[dict]:
    return [n for n in p["nodes"] if n["kind"] not in ("more", "error")]


@pytest.mark.parametrize("coverage", [0.9, 0.75, 0.07, 1.0])
def test_coverage_curve_matches_edge_count(coverage):
    cfg = parse_config({"animals": 300, "attributes": 20, "samples": 500, "coverage": coverage})
    checked = 0
    for p in _panels(cfg, inputs=["dataset", "bunny", "cute-bunny"]):
        curve = p["coverage_curve"]
        assert len(curve) == 101 and curve[0] == 0
        assert curve == sorted(curve)
        if p["edge_count"] is None:
            assert curve == [0] * 101 and p["nonzero_edges"] == 0
            continue
        assert p["edge_count"] == curve[round(coverage * 100)]
        assert curve[100] <= p["nonzero_edges"]
        checked += 1
    assert checked > 20


def test_coverage_curve_by_hand():
    assert coverage_curve(np.array([3.0, 1.0, 0.0, 0.0]))[75] == 1
    assert coverage_curve(np.array([3.0, 1.0, 0.0, 0.0]))[76] == 2
    assert coverage_curve(np.array([1.0, 1.0, 1.0, 1.0]))[50:52] == [2, 3]
    assert coverage_curve(np.zeros(3)) == [0] * 101


@pytest.mark.parametrize("cfg", [SMALL, BUNNY], ids=["small", "bunny"])
def test_folded_node_and_totals(cfg):
    for p in _panels(cfg, top=5):
        shown = _shown(p)
        more = [n for n in p["nodes"] if n["kind"] == "more"]
        error = [n for n in p["nodes"] if n["kind"] == "error"]
        assert len(error) == 1 and p["nodes"][-1] is error[0]
        assert len(shown) == min(5, p["nonzero_edges"])
        assert len(shown) + (more[0]["count"] if more else 0) == p["nonzero_edges"]
        if more:
            assert more[0]["label"] == f"+{more[0]['count']} more"
        ranks = [n["abs"] for n in shown]
        assert ranks == sorted(ranks, reverse=True)
        weights = sum(n["weight"] for n in p["nodes"])
        scale = sum(n["abs"] for n in p["nodes"]) + abs(p["total"])
        assert weights == pytest.approx(p["total"], abs=1e-5 * scale + 1e-12), (p["basis"]["id"], p["circuit"])
        if p["basis"]["is_dictionary"]:
            assert abs(error[0]["weight"]) <= 1e-5 * scale


def test_links_point_from_nodes_to_the_circuit():
    for p in _panels(BUNNY):
        ids = {n["id"] for n in p["nodes"]}
        assert len(ids) == len(p["nodes"])
        # The circuit is its own node, distinct from a feature node named like it (animal:bunny).
        target = p["circuit"]["node"]
        assert target == f"circuit:{p['circuit']['id']}" and target not in ids
        for lk in p["links"]:
            assert lk["source"] in ids and lk["target"] == target
        weighted = {n["id"] for n in p["nodes"] if n["weight"] not in (0.0, None)}
        assert weighted <= {lk["source"] for lk in p["links"]}


def test_exact_zeros_are_not_edges():
    # Orthogonal attribute atoms give the other 49 attributes round-off edges (~1e-16): not edges.
    p = panel(Config(), "attribute", "attribute:cute", "bunny", top=3)
    assert p["edge_count"] == 1
    assert p["nonzero_edges"] == 1
    assert [n["id"] for n in p["nodes"]] == ["attribute:cute", "error"]
    assert p["coverage_curve"][100] == 1
    assert [lk["source"] for lk in p["links"]] == ["attribute:cute"]


def test_bunny_panels_draw_every_edge():
    for p in _panels(BUNNY):
        assert all(n["kind"] != "more" for n in p["nodes"])
        assert len(_shown(p)) == p["nonzero_edges"]


def test_dataset_panel_counts_equal_the_table():
    t = table(SMALL)
    per = {c["id"]: c["stats"] for c in t["circuits"]}
    study = get_study(SMALL)
    for basis in study.node_sets:
        for c in study.model.circuits:
            p = panel(SMALL, basis, c.id)
            assert p["edge_count"] == per[c.id][basis]["global_edges"], (basis, c.id)
            assert p["input"]["id"] == "dataset"


def test_inactive_example():
    p = panel(BUNNY, "half", "composite:bunny+cute", "bunny")
    assert p["active"] is False and p["output"] == 0.0
    assert p["edge_count"] is None and p["nonzero_edges"] == 0
    assert p["coverage_curve"] == [0] * 101
    assert [n["kind"] for n in p["nodes"]] == ["error"] and p["links"] == []


def test_active_example_by_the_numbers():
    p = panel(BUNNY_V1, "mixed", "composite:bunny+cute", "cute-bunny")
    assert p["active"] is True and p["output"] > 0
    assert p["edge_count"] == 2
    assert {n["id"] for n in _shown(p)} == {"animal:bunny", "attribute:cute"}
    assert "oracle" not in p["basis"]  # a version-1 body
    # Version 2 keeps the least-|weight| exact fit without looking at labels: in two dimensions
    # that is bunny + elephant, absent here, so its edge is 0 and the rest sits in the error node.
    p2 = panel(BUNNY, "mixed", "composite:bunny+cute", "cute-bunny")
    assert p2["basis"]["oracle"] == "oracle: uses the true features"
    assert p2["edge_count"] == 1 and _shown(p2)[0]["id"] == "animal:bunny"
    err = next(n for n in p2["nodes"] if n["id"] == "error")
    assert abs(err["weight"]) > 0.1
    info = {c["id"]: c for c in model_info(BUNNY)["circuits"]}
    assert info["composite:bunny+cute"]["mixed_exact_fits"] == 15
    p = panel(BUNNY, "animal", "animal:bunny", "bunny")
    assert p["edge_count"] == 1 and _shown(p)[0]["id"] == "animal:bunny"
    assert _shown(p)[0]["weight"] == pytest.approx(MAG_HIGH)  # examples: c = MAG_HIGH, |f| = 1
    assert p["output"] == pytest.approx(MAG_HIGH - get_study(BUNNY).model.circuit("animal:bunny").bias)


@pytest.mark.parametrize("kwargs, field", [
    ({"basis": "nope"}, "basis"),
    ({"circuit": "animal:unicorn"}, "circuit"),
    ({"input": "nope"}, "input"),
    ({"top": 0}, "top"),
    ({"top": MAX_TOP + 1}, "top"),
])
def test_bad_requests_name_the_field(kwargs, field):
    args = {"basis": "half", "circuit": "animal:bunny", "input": "dataset", "top": 40} | kwargs
    with pytest.raises(ConfigError) as info:
        panel(BUNNY, **args)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_top_range_ends():
    assert len(_shown(panel(SMALL, "animal", "attribute:cute", top=1))) == 1
    p = panel(SMALL, "animal", "attribute:cute", top=MAX_TOP)
    assert all(n["kind"] != "more" for n in p["nodes"])


def test_model_info():
    info = model_info(BUNNY_V1)
    study = get_study(BUNNY_V1)
    assert [c["id"] for c in info["circuits"]] == [c.id for c in study.model.circuits]
    for c in info["circuits"]:
        got = {m["node"]: m["weight"] for m in c["mixed"]}
        want = {r["node"]: r["weight"] for r in c["reads"]}
        assert got.keys() == want.keys()
        for k in got:
            assert got[k] == pytest.approx(want[k], abs=1e-5)
    examples = {e["id"]: e for e in info["examples"]}
    assert examples["cute-bunny"]["animals"] == ["bunny"] and examples["cute-bunny"]["overlay"] == "cute"
    assert examples["bunny"]["overlay"] is None
    assert [b["id"] for b in info["bases"]] == list(study.node_sets)
    assert len(info["geometry"]["cosines"]) == 4 and len(info["geometry"]["cosines"][0]) == 2
