"""Writing one panel as a file: Neuronpedia graph JSON, GraphML (networkx) or CSV.

The Neuronpedia / circuit-tracer viewer format has `metadata`, `qParams`, `nodes` and `links`.
A planted model has no prompt or layers, so every feature node sits at layer 0 of a one-token
"prompt" naming the input, and the circuit output is a logit-like node at layer 1.
"""

from __future__ import annotations

import csv
import io
import json
import re

import networkx as nx

__all__ = ["to_neuronpedia", "to_graphml", "to_csv", "write_panel", "FORMATS"]

FORMATS = ("json", "graphml", "csv")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "graph"


def to_neuronpedia(p: dict) -> dict:
    """A panel in Neuronpedia's graph JSON schema (metadata, qParams, nodes, links)."""
    circuit = p["circuit"]
    slug = _slug(f"basisgraph-{p['basis']['id']}-{circuit['id']}-{p['input']['id']}")
    nodes = []
    for n in p["nodes"]:
        if n["kind"] == "error":
            ftype, feature = "mlp reconstruction error", None
        elif n["kind"] == "more":
            ftype, feature = "cross layer transcoder", None
        else:
            ftype, feature = "cross layer transcoder", n.get("rank")
        nodes.append({"node_id": f"0_{n['id']}", "feature": feature, "layer": "0", "ctx_idx": 0,
                      "feature_type": ftype, "jsNodeId": f"0_{n['id']}", "clerp": n["label"],
                      "influence": n["abs"], "activation": n["weight"]})
    target = f"1_{circuit['id']}"
    nodes.append({"node_id": target, "feature": None, "layer": "1", "ctx_idx": 0,
                  "feature_type": "logit", "jsNodeId": target, "clerp": circuit["label"],
                  "influence": None, "activation": p["output"]})
    links = [{"source": f"0_{lk['source']}", "target": target, "weight": lk["weight"]}
             for lk in p["links"]]
    return {"metadata": {"slug": slug, "scan": "basisgraph-planted",
                         "prompt_tokens": [p["input"]["label"]], "prompt": p["input"]["label"],
                         "node_threshold": p["config"]["coverage"],
                         "info": {"basis": p["basis"]["id"], "edge_count": p["edge_count"],
                                  "config": p["config"]}},
            "qParams": {"pinnedIds": [target], "supernodes": [], "linkType": "both",
                        "clickedId": target, "sg_pos": ""},
            "nodes": nodes, "links": links}


def _graph(p: dict) -> nx.DiGraph:
    g = nx.DiGraph(basis=p["basis"]["id"], circuit=p["circuit"]["id"], input=p["input"]["id"],
                   edge_count=p["edge_count"] if p["edge_count"] is not None else -1)
    for n in p["nodes"]:
        g.add_node(n["id"], label=n["label"], kind=n["kind"], weight=n["weight"] or 0.0)
    g.add_node(p["circuit"]["node"], label=p["circuit"]["label"], kind="circuit",
               weight=p["output"] or 0.0)
    for lk in p["links"]:
        g.add_edge(lk["source"], lk["target"], weight=lk["weight"] or 0.0)
    return g


def to_graphml(p: dict) -> str:
    """A panel as GraphML text."""
    return "\n".join(nx.generate_graphml(_graph(p))) + "\n"


def to_csv(p: dict) -> str:
    """A panel's links as CSV: source, source label, kind, target, weight, |weight|."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["source", "source_label", "kind", "target", "weight", "abs_weight"])
    by_id = {n["id"]: n for n in p["nodes"]}
    for lk in p["links"]:
        n = by_id[lk["source"]]
        w.writerow([lk["source"], n["label"], n["kind"], lk["target"], lk["weight"], n["abs"]])
    return buf.getvalue()


def write_panel(p: dict, fmt: str) -> str:
    """Serialise a panel in one of FORMATS."""
    if fmt == "json":
        return json.dumps(to_neuronpedia(p), indent=1) + "\n"
    if fmt == "graphml":
        return to_graphml(p)
    return to_csv(p)
