"""Exports: Neuronpedia graph JSON (schema-valid), GraphML via networkx, and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import networkx as nx
import pytest

from basisgraph.config import Config
from basisgraph.core.graphs import panel
from basisgraph.share.graphfiles import FORMATS, to_csv, to_graphml, to_neuronpedia, write_panel

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "neuronpedia-graph-schema.json").read_text())
BUNNY = Config(preset="bunny")

# (basis, circuit, input, top): a folded node, an error node, an inactive input, the dataset.
CASES = [
    ("half", "attribute:cute", "dataset", 3),
    ("neuron", "composite:bunny+cute", "cute-bunny", 40),
    ("mixed", "animal:bunny", "cute-bunny", 40),
    ("attribute", "composite:bunny+cute", "bunny", 40),  # inactive: only the error node
    ("animal", "attribute:furry", "dataset", 1),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(map(str, c)))
def p(request):
    return panel(BUNNY, *request.param)


def test_schema_copy_matches_shared_reference():
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference" / "neuronpedia-graph-schema.json"
    if not shared.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert json.loads(shared.read_text()) == SCHEMA


def test_neuronpedia_json_validates(p):
    doc = json.loads(write_panel(p, "json"))
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA)
    assert doc == json.loads(json.dumps(to_neuronpedia(p)))


def test_neuronpedia_nodes_and_links(p):
    doc = to_neuronpedia(p)
    ids = [n["node_id"] for n in doc["nodes"]]
    assert len(ids) == len(set(ids)) == len(p["nodes"]) + 1
    assert all(n["jsNodeId"] == n["node_id"] for n in doc["nodes"])
    target = f"1_{p['circuit']['id']}"
    logits = [n for n in doc["nodes"] if n["feature_type"] == "logit"]
    assert [n["node_id"] for n in logits] == [target]
    assert doc["qParams"]["pinnedIds"] == [target] and doc["qParams"]["clickedId"] == target
    assert len(doc["links"]) == len(p["links"])
    for lk in doc["links"]:
        assert lk["source"] in ids and lk["source"] != target and lk["target"] == target
    meta = doc["metadata"]
    assert meta["info"]["basis"] == p["basis"]["id"] and meta["info"]["edge_count"] == p["edge_count"]
    assert meta["slug"].startswith("basisgraph-") and " " not in meta["slug"]


def test_graphml_parses(p):
    g = nx.read_graphml(io.StringIO(write_panel(p, "graphml")))
    assert g.is_directed()
    assert g.number_of_edges() == len(p["links"])
    assert g.graph["basis"] == p["basis"]["id"]
    assert g.graph["edge_count"] == (p["edge_count"] if p["edge_count"] is not None else -1)
    weights = sorted(d["weight"] for _, _, d in g.edges(data=True))
    assert weights == pytest.approx(sorted(lk["weight"] for lk in p["links"]))


def test_graphml_has_every_node_once(p):
    g = nx.read_graphml(io.StringIO(to_graphml(p)))
    assert g.number_of_nodes() == len(p["nodes"]) + 1
    assert nx.number_of_selfloops(g) == 0
    kinds = [d["kind"] for _, d in g.nodes(data=True)]
    assert kinds.count("circuit") == 1
    assert g.nodes[p["circuit"]["node"]]["kind"] == "circuit"


@pytest.mark.parametrize("basis, circuit", [("animal", "animal:bunny"), ("attribute", "attribute:cute"),
                                            ("half", "attribute:cute"), ("mixed", "animal:bunny")])
def test_graphml_keeps_a_node_named_like_its_circuit(basis, circuit):
    # The feature node animal:bunny and the circuit animal:bunny are two GraphML nodes.
    p = panel(BUNNY, basis, circuit, "dataset")
    assert circuit in {n["id"] for n in p["nodes"]}
    g = nx.read_graphml(io.StringIO(to_graphml(p)))
    assert nx.number_of_selfloops(g) == 0
    assert g.number_of_nodes() == len(p["nodes"]) + 1
    target = p["circuit"]["node"]
    assert target == f"circuit:{circuit}"
    assert g.nodes[circuit]["kind"] != "circuit" and g.nodes[target]["kind"] == "circuit"
    assert g.has_edge(circuit, target)


def test_csv_rows_are_links(p):
    rows = list(csv.DictReader(io.StringIO(write_panel(p, "csv"))))
    assert len(rows) == len(p["links"])
    header = to_csv(p).splitlines()[0].split(",")
    assert header == ["source", "source_label", "kind", "target", "weight", "abs_weight"]
    by_id = {n["id"]: n for n in p["nodes"]}
    for row, lk in zip(rows, p["links"]):
        assert row["source"] == lk["source"] and row["target"] == f"circuit:{p['circuit']['id']}"
        assert float(row["weight"]) == pytest.approx(lk["weight"])
        node = by_id[lk["source"]]
        assert row["kind"] == node["kind"]
        # abs_weight is the node's ranking magnitude: on the dataset the mean |edge|, which is
        # at least |mean edge| (an edge can change sign across inputs); on one input |edge|.
        assert float(row["abs_weight"]) == pytest.approx(node["abs"])
        assert float(row["abs_weight"]) >= abs(lk["weight"]) * (1 - 1e-6)
        if p["input"]["id"] != "dataset" and row["kind"] != "more":
            assert float(row["abs_weight"]) == pytest.approx(abs(lk["weight"]))


def test_formats():
    assert FORMATS == ("json", "graphml", "csv")
    p = panel(BUNNY, "half", "animal:bunny", "bunny")
    assert write_panel(p, "graphml").startswith("<graphml")
    assert write_panel(p, "csv").startswith("source,")
    assert write_panel(p, "json").endswith("\n")


def test_folded_node_survives_every_format():
    p = panel(BUNNY, "half", "attribute:cute", "dataset", top=1)
    assert any(n["kind"] == "more" for n in p["nodes"])
    doc = to_neuronpedia(p)
    assert "0_more" in {n["node_id"] for n in doc["nodes"]}
    assert "more" in nx.read_graphml(io.StringIO(to_graphml(p)))
    assert any(r["source"] == "more" for r in csv.DictReader(io.StringIO(to_csv(p))))
