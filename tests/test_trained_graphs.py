"""Panels on the trained MLP (trained_graphs): counts agree with the trained table, the `hidden`
node set is exact, every panel's weights add up, spd node ids, errors, and nothing trains.

One tiny model (6 animals, 3 attributes, 2 circuits per family) is trained and decomposed once
per module into a temporary cache directory (BASISGRAPH_CACHE), in about two seconds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from basisgraph.cache import NotCachedError
from basisgraph.config import Config, ConfigError
from basisgraph.core.graphs import MAX_TOP
from basisgraph.decomposition import panels as trained_graphs
from basisgraph.decomposition.mlp import TrainConfig
from basisgraph.decomposition.panels import Settings, trained_node_sets, trained_panel, trained_view
from basisgraph.decomposition.spd import SPDConfig
from basisgraph.decomposition.table import spd_edges, trained_table
from basisgraph.dictionaries.config import SAEConfig

CFG = Config(animals=6, attributes=3, samples=200, circuits=2)
SETTINGS = Settings(TrainConfig(steps=60, batch=128, train_samples=800, heldout_samples=400),
                    SPDConfig(steps=40, batch=64, components_in=8, components_out=8, train_samples=800),
                    (SAEConfig(kind="relu", steps=50),))
SAE_ID = "sae:relu:9"  # width animals + attributes


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("trained-graphs-cache")
    mp.setenv("BASISGRAPH_CACHE", str(root))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trained_graphs.clear_cache()
    try:
        yield root
    finally:
        trained_graphs.clear_cache()
        torch.set_num_threads(threads)
        mp.undo()


@pytest.fixture(autouse=True)
def _env(cache, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(cache))


@pytest.fixture(scope="module")
def built(cache) -> dict:
    """Train and decompose the tiny model (and its SAE) once: the table and the view."""
    s = SETTINGS.resolve(CFG)
    table = trained_table(CFG, s.train, s.spd, train=True, sae_cfgs=list(s.saes))
    view = trained_view(CFG, SETTINGS)
    return {"table": table, "view": view, "circuits": [c["id"] for c in table["circuits"]]}


def _inputs(view) -> list[str]:
    return ["dataset", *view.study.examples]


def _by_id(panel: dict) -> dict[str, dict]:
    return {n["id"]: n for n in panel["nodes"]}


def _label(view, vec: np.ndarray) -> str:
    """'≈name 0.97' ('≈−name' if opposite): the animal, attribute or dim nearest vec by |cos|."""
    dirs = view.dirs / np.linalg.norm(view.dirs, axis=1, keepdims=True)
    cos = dirs @ (vec / np.linalg.norm(vec))
    j = int(np.argmax(np.abs(cos)))
    return f"≈{'' if cos[j] >= 0 else '−'}{view.names[j]} {abs(cos[j]):.2f}"


def test_node_sets_match_the_table(built) -> None:
    view, table = built["view"], built["table"]
    ids = trained_node_sets(view)
    assert ids == [b["id"] for b in table["bases"]]
    assert ids[-3:] == ["mixed", "hidden", "spd"] and SAE_ID in ids and "animal" in ids
    assert len(built["circuits"]) == 6  # 2 per family


def test_dataset_edge_count_is_the_tables_global_count(built) -> None:
    view, table = built["view"], built["table"]
    checked = 0
    for c in table["circuits"]:
        for basis in trained_node_sets(view):
            p = trained_panel(CFG, basis, c["id"], "dataset", 40, SETTINGS)
            stats = c["stats"][basis]
            if stats is None:
                continue
            assert (p["edge_count"] or 0) == stats["global_edges"], (c["id"], basis)  # None: no edge
            checked += 1
    assert checked > 0


def test_edge_count_follows_the_coverage(built) -> None:
    """Coverage only changes counting: the same cached model, counted at tau = 0.5."""
    view = built["view"]
    half = CFG.model_copy(update={"coverage": 0.5})
    s = SETTINGS.resolve(half)
    table = trained_table(half, s.train, s.spd, sae_cfgs=list(s.saes), run=view.run)
    differs = False
    for c, c90 in zip(table["circuits"], built["table"]["circuits"]):
        for basis in trained_node_sets(view):
            p = trained_panel(half, basis, c["id"], "dataset", 40, SETTINGS)
            assert p["config"]["coverage"] == 0.5
            assert (p["edge_count"] or 0) == c["stats"][basis]["global_edges"], (c["id"], basis)
            differs |= c["stats"][basis]["global_edges"] != c90["stats"][basis]["global_edges"]
    assert differs  # tau = 0.5 needs fewer edges somewhere


def test_hidden_node_set_is_exact(built) -> None:
    """sum_h (W_in[h] . a) delta[h] = (W_in^T delta) . a = grad . a: the error node is 0."""
    view = built["view"]
    nonzero = 0
    for cid in built["circuits"]:
        for input_ in _inputs(view):
            p = trained_panel(CFG, "hidden", cid, input_, MAX_TOP, SETTINGS)
            err = _by_id(p)["error"]
            assert err["weight"] == 0.0 and err["abs"] == 0.0, (cid, input_, err)
            nonzero += p["total"] != 0.0
    assert nonzero > 0


def test_hidden_edges_by_hand(built) -> None:
    """Dataset edges: mean over all inputs of (W_in[h] . a) delta_k[h], on the active rows."""
    view = built["view"]
    study = view.study
    w_in, b_in, w_out = view.w_in, view.b_in, view.w_out
    acts = study.data.acts
    n = len(acts)
    for k, cid in enumerate(built["circuits"]):
        rows = study.pre[:, k] > 0
        x = acts[rows]
        delta = w_out[k] * (x @ w_in.T + b_in > 0)
        edges = ((x @ w_in.T) * delta).sum(0) / n  # (hidden,)
        total = float(np.sum((delta @ w_in) * x)) / n
        p = trained_panel(CFG, "hidden", cid, "dataset", MAX_TOP, SETTINGS)
        assert p["total"] == pytest.approx(total, rel=1e-5, abs=1e-12)
        assert p["basis"]["atoms"] == w_in.shape[0]
        nodes = _by_id(p)
        for h, e in enumerate(edges):
            node = nodes.get(f"hidden:{h}")
            if node is None:
                assert abs(e) <= 1e-12 * np.abs(edges).sum(), (cid, h, e)
            else:
                assert node["weight"] == pytest.approx(e, rel=1e-5), (cid, h)
                assert node["kind"] == "hidden" and node["label"] == _label(view, w_in[h])


@pytest.mark.parametrize("top", [1, 40])
def test_drawn_weights_add_up_to_the_total(built, top) -> None:
    view = built["view"]
    for cid in built["circuits"]:
        for basis in trained_node_sets(view):
            for input_ in _inputs(view):
                p = trained_panel(CFG, basis, cid, input_, top, SETTINGS)
                nodes = p["nodes"]
                assert p["model"] == "trained" and p["input"]["id"] == input_
                assert nodes[-1]["id"] == "error"
                drawn = [n for n in nodes if n["kind"] not in ("more", "error")]
                more = [n for n in nodes if n["kind"] == "more"]
                assert len(drawn) == min(top, p["nonzero_edges"])
                assert len(more) == (p["nonzero_edges"] > top)
                if more:
                    assert more[0]["count"] == p["nonzero_edges"] - top
                    assert more[0]["label"] == f"+{more[0]['count']} more"
                scale = sum(abs(n["weight"]) for n in nodes) + abs(p["total"])
                got = sum(n["weight"] for n in nodes)
                assert got == pytest.approx(p["total"], abs=1e-5 * scale + 1e-12), (cid, basis, input_)
                assert [n["abs"] for n in drawn] == sorted((n["abs"] for n in drawn), reverse=True)


def _spd_id(group: list[int]) -> str:
    return "spd:" + "+".join(f"c{c}" for c in group)


def test_spd_nodes_are_the_groups(built) -> None:
    view = built["view"]
    study = view.study
    C = SETTINGS.spd.components_in
    assert sorted(c for g in view.groups for c in g) == list(range(C))  # each subcomponent once
    ids = {_spd_id(g) for g in view.groups}
    n = len(study.data.acts)
    V = view.run.dec.V[0].detach().double().numpy()  # (C, d) read directions
    for k, cid in enumerate(built["circuits"]):
        p = trained_panel(CFG, "spd", cid, "dataset", MAX_TOP, SETTINGS)
        assert p["basis"]["atoms"] == len(view.groups) and not p["basis"]["is_dictionary"]
        drawn = [nd for nd in p["nodes"] if nd["kind"] == "spd"]
        assert {nd["id"] for nd in drawn} <= ids
        assert len(drawn) == p["nonzero_edges"]
        rows = np.flatnonzero(study.pre[:, k] > 0)
        edges = spd_edges(view.run, study, view.readout.g_in, k, rows, view.groups).sum(0) / n
        for g, e in zip(view.groups, edges):
            node = _by_id(p).get(_spd_id(g))
            if node is not None:
                assert node["weight"] == pytest.approx(e, rel=1e-5)
                if len(g) == 1:
                    assert node["label"] == _label(view, V[g[0]])


def test_a_cluster_is_one_node_with_the_sum_of_its_members(built, monkeypatch) -> None:
    view = built["view"]
    # A circuit with at least two spd edges (which one depends on the tiny training run).
    panels = {c: trained_panel(CFG, "spd", c, "dataset", MAX_TOP, SETTINGS) for c in built["circuits"]}
    cid = next(c for c, p in panels.items() if sum(nd["kind"] == "spd" for nd in p["nodes"]) >= 2)
    single = panels[cid]
    top2 = [nd for nd in single["nodes"] if nd["kind"] == "spd"][:2]
    a, b = sorted(int(nd["id"].removeprefix("spd:c")) for nd in top2)
    groups = [[a, b]] + [[c] for c in range(SETTINGS.spd.components_in) if c not in (a, b)]
    merged_view = dataclasses.replace(view, groups=groups)
    monkeypatch.setattr(trained_graphs, "trained_view", lambda cfg, settings: merged_view)
    p = trained_panel(CFG, "spd", cid, "dataset", MAX_TOP, SETTINGS)
    assert p["basis"]["atoms"] == len(groups)
    node = _by_id(p)[f"spd:c{a}+c{b}"]
    V = view.run.dec.V[0].detach().double().numpy()
    assert node["label"] == _label(view, V[a]) + " +1"  # the first member's name, + the others
    assert node["weight"] == pytest.approx(top2[0]["weight"] + top2[1]["weight"], rel=1e-5)
    assert f"spd:c{a}" not in _by_id(p) and f"spd:c{b}" not in _by_id(p)
    assert p["total"] == single["total"]
    assert _by_id(p)["error"]["weight"] == pytest.approx(_by_id(single)["error"]["weight"], rel=1e-5)


def test_dictionary_and_mixed_node_ids(built) -> None:
    view = built["view"]
    study = view.study
    for cid in built["circuits"]:
        p = trained_panel(CFG, SAE_ID, cid, "dataset", MAX_TOP, SETTINGS)
        assert p["basis"] == {"id": SAE_ID, "label": view.node_sets[SAE_ID].label, "atoms": 9,
                              "is_dictionary": True}
        assert {nd["id"] for nd in p["nodes"]} - {"more", "error"} <= set(view.node_sets[SAE_ID].node_ids)
        m = trained_panel(CFG, "mixed", cid, "dataset", MAX_TOP, SETTINGS)
        picked, _ = study.recipes[cid]
        recipe = {study.node_sets["mixed"].node_ids[int(i)] for i in picked}
        assert {nd["id"] for nd in m["nodes"]} - {"more", "error"} <= recipe


def test_example_input_panel(built) -> None:
    view = built["view"]
    eid = next(iter(view.study.examples))
    cid = built["circuits"][0]
    p = trained_panel(CFG, "spd", cid, eid, 40, SETTINGS)
    assert p["input"] == {"id": eid, "label": view.study.examples[eid][0]}
    assert isinstance(p["active"], bool)
    assert p["circuit"]["id"] == cid and p["circuit"]["node"] == f"circuit:{cid}"
    d = trained_panel(CFG, "spd", cid, "dataset", 40, SETTINGS)
    assert 0.0 <= d["active"] <= 1.0 and d["input"]["label"] == "all 200 inputs (mean)"


@pytest.mark.parametrize("kwargs, field", [
    ({"basis": "nope"}, "basis"),
    ({"basis": "sae:relu:46"}, "basis"),  # not cached: not a node set of this model
    ({"circuit": "animal:nope"}, "circuit"),
    ({"input": "nope"}, "input"),
    ({"top": 0}, "top"),
    ({"top": MAX_TOP + 1}, "top"),
])
def test_unknown_values_name_the_field(built, kwargs, field) -> None:
    args = {"basis": "spd", "circuit": built["circuits"][0], "input": "dataset", "top": 40, **kwargs}
    with pytest.raises(ConfigError) as err:
        trained_panel(CFG, args["basis"], args["circuit"], args["input"], args["top"], SETTINGS)
    assert err.value.field == field


def test_not_cached_raises_and_never_trains(built, tmp_path, monkeypatch) -> None:
    # Another configuration in the built cache.
    with pytest.raises(NotCachedError):
        trained_panel(CFG.model_copy(update={"circuits": 1}), "spd", "animal:bunny", "dataset", 40,
                      SETTINGS)
    # Other settings in the built cache.
    other = dataclasses.replace(SETTINGS, spd=SPDConfig(**{**SETTINGS.spd.__dict__, "seed": 3}))
    with pytest.raises(NotCachedError):
        trained_panel(CFG, "spd", built["circuits"][0], "dataset", 40, other)
    # An empty cache directory stays empty.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("BASISGRAPH_CACHE", str(empty))
    trained_graphs.clear_cache()
    try:
        with pytest.raises(NotCachedError):
            trained_panel(CFG, "spd", built["circuits"][0], "dataset", 40, SETTINGS)
        assert list(empty.rglob("*")) == []
    finally:
        trained_graphs.clear_cache()
