"""The samples sweep: each point is exactly the table at that dataset size; its grid is bounded."""

import pytest
from fastapi.testclient import TestClient

from basisgraph.config import Config, ConfigError
from basisgraph.core.cost import Budget
from basisgraph.core.counts import table
from basisgraph.core.sweep import SAMPLES_GRID, samples_grid, samples_sweep
from basisgraph.web import app as web_app
from basisgraph.web.app import create_app
from basisgraph.web.compute import encode

CFG = Config(animals=120, attributes=12, circuits=4)
QUERY = "animals=120&attributes=12&circuits=4"


@pytest.fixture(scope="module")
def client():
    web_app.clear_cache()
    with TestClient(create_app()) as c:
        yield c


def test_every_point_equals_the_table_at_that_size(client):
    r = client.get(f"/api/v1/sweep/samples?{QUERY}&max_samples=2000")
    assert r.status_code == 200
    body = r.json()
    assert body["samples"] == [500, 1000, 2000]
    assert body["config"]["samples"] == 2000  # samples is what varies: the largest point
    assert [b["id"] for b in body["bases"]] == [b["id"] for b in table(CFG)["bases"]]
    for s in body["samples"]:
        t = table(CFG.model_copy(update={"samples": s}))
        pts = [p for p in body["points"] if p["samples"] == s]
        assert len(pts) == len(t["cells"])
        for p, c in zip(pts, t["cells"]):
            assert (p["basis"], p["family"]) == (c["basis"], c["family"])
            for k in ("global_edges_median", "local_edges_median", "error_share_median"):
                assert p[k] == c[k], (s, p["basis"], p["family"], k)


def test_global_counts_grow_with_samples(client):
    # More inputs reach more animals: the attribute circuits' global count under the animal
    # dictionary cannot shrink from 500 to 2000 inputs in this configuration.
    body = client.get(f"/api/v1/sweep/samples?{QUERY}&max_samples=2000").json()
    g = {p["samples"]: p["global_edges_median"] for p in body["points"]
         if p["basis"] == "animal" and p["family"] == "attribute"}
    assert g[2000] > g[500]


def test_same_bytes_every_time(client):
    a = client.get(f"/api/v1/sweep/samples?{QUERY}&max_samples=1000").content
    web_app.clear_cache()
    b = client.get(f"/api/v1/sweep/samples?{QUERY}&max_samples=1000").content
    assert a == b
    assert a == encode(samples_sweep(CFG.model_copy(update={"samples": 1000}), [500, 1000]))


@pytest.mark.parametrize("value", ["100", "30000", "abc", "1000.5"])
def test_bad_max_samples_is_422_naming_it(client, value):
    r = client.get(f"/api/v1/sweep/samples?{QUERY}&max_samples={value}")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "max_samples"


def test_grid_stops_at_the_data_limit():
    wide = Config(animals=50, attributes=1024, random_dims=1024)  # 20M / 2048 dims: 9765 inputs
    assert samples_grid(wide) == [500, 1000, 2000, 4000, 8000]
    with pytest.raises(ConfigError) as info:
        samples_grid(wide, 16000)
    assert info.value.field == "max_samples" and "to 9765" in info.value.allowed


def test_grid_stops_at_the_cost_model():
    tight = Budget(seconds=0.5)
    grid = samples_grid(Config(), budget=tight)  # defaults: 0.14 s + 0.22 s, then 0.38 s more
    assert grid == [500, 1000]
    with pytest.raises(ConfigError) as info:
        samples_grid(Config(), 2000, tight)
    assert info.value.field == "max_samples" and "from 500 to 1000" in info.value.allowed
    assert samples_grid(Config(preset="bunny"), budget=tight) == list(SAMPLES_GRID)


def test_api_names_max_samples_past_the_budget(client):
    r = client.get("/api/v1/sweep/samples?animals=5000&max_samples=20000")
    assert r.status_code == 422
    item = r.json()["detail"][0]
    assert item["loc"][-1] == "max_samples" and "from 500 to" in item["allowed"]
