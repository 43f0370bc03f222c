"""The HTTP API through FastAPI's TestClient: contract, validation, caching and determinism."""

from __future__ import annotations

import gzip
import json
import re
import time

import jsonschema
import numpy as np
import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.config import OPTIONAL, Config, ConfigError
from basisgraph.web.compute import Computer, encode

BUNNY = "preset=bunny"
SMALL = "animals=200&attributes=20&samples=300"

# The parts of docs/api.md's table contract the page relies on.
TABLE_SCHEMA = {
    "type": "object",
    "required": ["version", "config", "families", "bases", "cells", "circuits"],
    "properties": {
        "version": {"const": 1},
        # keys at an OPTIONAL default are left out (they change no earlier number)
        "config": {"type": "object", "required": [k for k in Config.model_fields if k not in OPTIONAL]},
        "families": {"type": "array", "items": {"type": "string"}},
        "bases": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "label", "atoms", "is_dictionary", "reconstruction_error",
                         "reconstruction_norm_ratio"]}},
        "cells": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["basis", "family", "circuits", "local_edges_median", "global_edges_median",
                         "union_nodes_median", "own_share_median"],
            "properties": {"local_edges_median": {"type": ["number", "null"]},
                           "global_edges_median": {"type": ["number", "null"]}}}},
        "circuits": {"type": "array", "items": {"type": "object", "required": ["id", "family", "label", "stats"]}},
    },
}


@pytest.fixture(scope="module")
def client():
    api.clear_cache()
    with TestClient(api.create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def bunny_model(client) -> dict:
    resp = client.get(f"/api/v1/model?{BUNNY}")
    assert resp.status_code == 200, resp.text
    return resp.json()




def _roundtrip(obj: object) -> object:
    """What a Python result looks like after JSON (tuples become lists, and so on)."""
    return json.loads(encode(obj))


def _field_error(resp) -> dict:
    assert resp.status_code == 422, resp.text
    assert "Traceback" not in resp.text
    (item,) = resp.json()["detail"]
    assert item["msg"] and item["allowed"]
    return item


def test_health(client) -> None:
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("query", "field", "allowed_has"),
    [
        ("animals=1", "animals", "2 to 100000"),
        ("animals=abc", "animals", "integer"),
        ("animals=", "animals", "integer"),
        ("animals=1e9", "animals", "integer"),
        ("attributes=0", "attributes", "1 to 1024"),
        ("alpha=2", "alpha", "0.0 to 1.0"),
        ("alpha=nan", "alpha", "0.0 to 1.0"),
        ("coverage=0", "coverage", "greater than 0"),
        ("coverage=x", "coverage", "number"),
        ("seed=-1", "seed", "integer"),
        ("active=4&animals=3", "active", "at most animals (3)"),
        ("preset=bunny&active=5", "active", "at most animals (4)"),
        ("samples=20000&attributes=1024", "samples", "20000000"),
        ("preset=nope", "preset", "post, bunny, wide, small"),
    ],
)
@pytest.mark.parametrize("endpoint", ["table", "model"])
def test_bad_config_is_422_naming_the_field(client, endpoint, query, field, allowed_has) -> None:
    item = _field_error(client.get(f"/api/v1/{endpoint}?{query}"))
    assert item["loc"] == ["query", field]
    assert allowed_has in item["allowed"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("basis", "nope"), ("circuit", "nope"), ("input", "nope"), ("top", "0"), ("top", "abc"), ("top", "5000")],
)
def test_bad_graph_parameter_is_422_naming_it(client, bunny_model, param, value) -> None:
    params = {"basis": "half", "circuit": bunny_model["circuits"][0]["id"], "input": "dataset", "top": "10"}
    params[param] = value
    query = "&".join(f"{k}={v}" for k, v in params.items())
    item = _field_error(client.get(f"/api/v1/graph?{BUNNY}&{query}"))
    assert item["loc"] == ["query", param]


def test_graph_requires_basis_and_circuit(client) -> None:
    resp = client.get(f"/api/v1/graph?{BUNNY}")
    assert resp.status_code == 422
    assert {tuple(i["loc"]) for i in resp.json()["detail"]} == {("query", "basis"), ("query", "circuit")}


def test_unknown_keys_are_ignored(client) -> None:
    plain = client.get(f"/api/v1/table?{BUNNY}")
    extra = client.get(f"/api/v1/table?{BUNNY}&v=2&utm_source=x&basis=half")
    assert plain.status_code == extra.status_code == 200
    assert plain.content == extra.content


def test_link_version_picks_the_defaults(client) -> None:
    # v=1 fills the keys it predates with version 1's values; today's query spells them out.
    old = client.get(f"/api/v1/table?{BUNNY}&v=1")
    spelled = client.get(f"/api/v1/table?{BUNNY}&residual=minnorm&overlay_sampling=topup")
    assert old.status_code == spelled.status_code == 200
    assert old.json()["cells"] == spelled.json()["cells"]
    assert "residual" not in old.json()["config"]  # a version-1 body, unchanged
    assert client.get(f"/api/v1/table?{BUNNY}").json()["config"]["residual"] == "sparse"
    bad = client.get("/api/v1/table?residual=dense")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "residual"]


def test_table_matches_contract_and_python(client) -> None:
    from basisgraph.core.counts import table

    resp = client.get(f"/api/v1/table?{SMALL}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    jsonschema.validate(body, TABLE_SCHEMA)
    expected = table(Config.model_validate({"animals": 200, "attributes": 20, "samples": 300}))
    assert body == _roundtrip(expected)


def test_model_matches_python(client, bunny_model) -> None:
    from basisgraph.core.graphs import model_info

    assert bunny_model == _roundtrip(model_info(Config(preset="bunny")))
    assert {"animals", "attributes", "circuits", "examples", "bases"} <= bunny_model.keys()


@pytest.mark.parametrize("input_id", ["dataset", "cute-bunny"])
def test_graph_matches_python(client, bunny_model, input_id) -> None:
    from basisgraph.core.graphs import panel

    circuit = bunny_model["circuits"][0]["id"]
    resp = client.get(f"/api/v1/graph?{BUNNY}&basis=half&circuit={circuit}&input={input_id}&top=3")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == _roundtrip(panel(Config(preset="bunny"), "half", circuit, input_id, 3))
    ids = {n["id"] for n in body["nodes"]}
    assert all(link["source"] in ids for link in body["links"])


def test_etag_and_304(client) -> None:
    first = client.get(f"/api/v1/table?{BUNNY}", headers={"Accept-Encoding": "identity"})
    etag = first.headers["etag"]
    assert etag.startswith('"') and len(etag) == 66
    assert first.headers["cache-control"] == "public, max-age=3600"
    again = client.get(f"/api/v1/table?{BUNNY}", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    for sent in (f'"other", W/{etag}', "*"):
        assert client.get(f"/api/v1/table?{BUNNY}", headers={"If-None-Match": sent}).status_code == 304
    stale = client.get(f"/api/v1/table?{BUNNY}", headers={"If-None-Match": '"stale"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200 and stale.content == first.content


def test_versioned_answers_are_immutable_and_gzip_has_its_own_etag(client) -> None:
    plain = client.get(f"/api/v1/table?{BUNNY}&v=1", headers={"Accept-Encoding": "identity"})
    zipped = client.get(f"/api/v1/table?{BUNNY}&v=1", headers={"Accept-Encoding": "gzip"})
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"] != plain.headers["etag"]
    assert zipped.json() == plain.json() and "accept-encoding" in zipped.headers["vary"].lower()
    assert client.get(f"/api/v1/table?{BUNNY}&v=99").status_code == 422


def test_head_answers_every_get_route(client) -> None:
    for url in (f"/api/v1/table?{BUNNY}", "/api/v1/health", "/api/v1/config", "/vendor/d3.min.js",
                f"/api/v1/graph?{BUNNY}&basis=animal&circuit=animal:bunny"):
        head, get = client.head(url), client.get(url)
        assert head.status_code == get.status_code == 200, url
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]


def test_gzip(client) -> None:
    resp = client.get(f"/api/v1/table?{BUNNY}", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    raw = client.get(f"/api/v1/table?{BUNNY}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert json.loads(gzip.decompress(gzip.compress(raw.content))) == resp.json()


def test_bytes_are_deterministic(client) -> None:
    url = f"/api/v1/graph?{BUNNY}&basis=animal&circuit=animal:bunny&input=dataset"
    first, second = client.get(url), client.get(url)
    assert first.status_code == 200 and first.content == second.content
    api.clear_cache()  # recomputed from scratch: still the same bytes
    assert client.get(url).content == first.content
    table_1 = client.get(f"/api/v1/table?{BUNNY}")
    api.clear_cache()
    table_2 = client.get(f"/api/v1/table?{BUNNY}")
    assert table_1.content == table_2.content and table_1.headers["etag"] == table_2.headers["etag"]
    # The compute time is still reported, in a header rather than in the body.
    assert re.fullmatch(r'compute;dur=\d+\.\d;desc="first computation"', table_2.headers["server-timing"])
    assert "timings" not in table_2.json()


def test_cache_is_keyed_on_normalised_config(client) -> None:
    client.get(f"/api/v1/table?{BUNNY}")
    entries = client.app.state.computer.stats()["response_cache"]["entries"]
    # Same config spelled differently: explicit defaults, other order, another float spelling.
    client.get("/api/v1/table?coverage=0.9&preset=bunny&animals=4&alpha=0.50")
    assert client.app.state.computer.stats()["response_cache"]["entries"] == entries


def test_json_encoding_is_compact_ordered_and_numpy_safe(client, monkeypatch) -> None:
    monkeypatch.setattr(api, "_compute", lambda *a: {"z": np.float64(1.5), "a": np.arange(3), "n": None})
    api.clear_cache()
    resp = client.get("/api/v1/table?seed=4242")
    api.clear_cache()
    assert resp.content == b'{"z":1.5,"a":[0,1,2],"n":null}'


def test_config_error_from_core_is_422(client, monkeypatch) -> None:
    def refuse(*_):
        raise ConfigError("circuit", "animal:unicorn", "a circuit id listed by /api/v1/model")

    monkeypatch.setattr(api, "_compute", refuse)
    api.clear_cache()
    item = _field_error(client.get("/api/v1/table?seed=4243"))
    assert item["loc"] == ["query", "circuit"]
    assert item["value"] == "animal:unicorn"


def test_slow_compute_is_503_not_a_hang(monkeypatch) -> None:
    monkeypatch.setattr(api, "_compute", lambda *a: time.sleep(0.5) or {"late": True})
    api.clear_cache()
    with TestClient(api.create_app(timeout_s=0.05)) as c:
        started = time.monotonic()
        resp = c.get("/api/v1/table?seed=4244")
        assert time.monotonic() - started < 0.45
    assert resp.status_code == 503
    assert "longer than" in resp.json()["detail"] and resp.headers["retry-after"]
    time.sleep(0.6)  # let the abandoned worker finish before the cache is cleared
    api.clear_cache()


def test_warm_start_computes_the_default_study(monkeypatch) -> None:
    seen: list[tuple[str, Config]] = []
    monkeypatch.setattr(api, "_compute", lambda endpoint, config, params: seen.append((endpoint, config)) or {})
    api.clear_cache()
    with TestClient(api.create_app(warm=True)):
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    api.clear_cache()
    assert sorted(seen, key=lambda s: s[0]) == [("model", Config()), ("table", Config())]


def test_concurrent_identical_requests_compute_once(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(api, "_compute", lambda endpoint, *a: calls.append(endpoint) or time.sleep(0.2) or {})
    api.clear_cache()
    computer = Computer(api._body)
    key = ("table", Config(seed=4245).key(), ())
    first, second = computer.submit(key), computer.submit(key)
    assert first is second
    assert first.result(timeout=5) == second.result(timeout=5)
    assert calls == ["table"]
    assert computer.cached(key) == first.result()  # now from the response cache
    assert calls == ["table"]
    computer.shutdown()
    api.clear_cache()


def test_openapi_documents_config_keys(client) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/table", "/api/v1/model", "/api/v1/graph"):
        names = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert set(Config.model_fields) <= names, path
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/vendor/swagger-ui-bundle.js" in docs.text
    assert "https://" not in docs.text  # no CDN


def test_config_endpoint_lists_every_field(client) -> None:
    body = client.get("/api/v1/config").json()
    assert [f["name"] for f in body["fields"]] == list(Config.model_fields)
    assert body["presets"]["bunny"]["animals"] == 4


def test_static_files(client) -> None:
    d3 = client.get("/vendor/d3.min.js")
    assert d3.status_code == 200 and b'"7.9.0"' in d3.content
    assert client.get("/vendor/../pyproject.toml").status_code == 404
    assert client.get("/vendor/nope.js").status_code == 404
    assert client.get("/favicon.ico").status_code in (200, 204)
    index = client.get("/")
    if (api.frontend_dir() / "index.html").is_file():
        assert index.status_code == 200 and "<html" in index.text.lower()
    else:
        assert index.status_code == 404 and "not built yet" in index.text


def test_table_across_seeds(client) -> None:
    from basisgraph.core.seeds import table_across_seeds

    r = client.get(f"/api/v1/table?{BUNNY}&seeds=3")
    assert r.status_code == 200
    assert r.json() == _roundtrip(table_across_seeds(Config(preset="bunny"), 3))
    assert all("across_seeds" in c for c in r.json()["cells"])
    assert "across_seeds" not in client.get(f"/api/v1/table?{BUNNY}&seeds=1").json()["cells"][0]
    bad = client.get(f"/api/v1/table?{BUNNY}&seeds=10")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "seeds"
    assert bad.json()["detail"][0]["allowed"] == "an integer from 1 to 9"


def test_too_many_seeds_for_the_budget_name_seeds(client) -> None:
    # The defaults fit alone but not nine times over: the 422 names seeds and what fits.
    r = client.get("/api/v1/table?v=2&seeds=9")
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"][-1] == "seeds" and item["allowed"].startswith("an integer from 1 to ")
    largest = int(item["allowed"].split(" to ")[1].split(" ")[0])
    assert 1 <= largest < 9
