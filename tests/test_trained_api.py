"""The trained-model part of the API: build jobs, the table and panels on the trained MLP.

One tiny model (6 animals, 3 attributes, 2 circuits per family, a 50-step SAE) is built once per
module through POST /api/v1/trained/jobs, in the spawned training worker, into a temporary cache
directory (BASISGRAPH_CACHE). The tiny settings replace trained_jobs.SETTINGS and reach the
worker through the job's arguments.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.config import Config
from basisgraph.decomposition import panels as trained_graphs
from basisgraph.decomposition.mlp import TrainConfig
from basisgraph.decomposition.panels import Settings, trained_panel
from basisgraph.decomposition.spd import SPDConfig
from basisgraph.decomposition.table import trained_table
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.jobs import registry as jobs_registry
from basisgraph.jobs import trained as trained_jobs
from basisgraph.jobs.kind import JOB_SECONDS_ENV
from basisgraph.web.routes import trained as trained_api

TINY = {"animals": 6, "attributes": 3, "samples": 200, "circuits": 2}
CFG = Config(**TINY)
Q = urlencode(TINY)
OTHER = urlencode({**TINY, "animals": 7})  # never built
SETTINGS = Settings(TrainConfig(steps=60, batch=128, train_samples=800, heldout_samples=400),
                    SPDConfig(steps=40, batch=64, components_in=8, components_out=8, train_samples=800),
                    (SAEConfig(kind="relu", steps=50),))
SAE_ID = "sae:relu:9"
STAGES = ["SAE relu:9", "train MLP", "decompose (SPD)", trained_jobs.READOUT_STAGE]
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("trained-api-cache")
    mp.setenv("BASISGRAPH_CACHE", str(root))
    mp.setattr(trained_jobs, "SETTINGS", SETTINGS)
    trained_graphs.clear_cache()
    try:
        yield root
    finally:
        trained_graphs.clear_cache()
        mp.undo()


@pytest.fixture(autouse=True)
def _env(cache, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(cache))


@pytest.fixture(scope="module")
def client(cache):
    api.clear_cache()
    with TestClient(api.create_app(timeout_s=60)) as c:
        yield c
    api.clear_cache()


def _wait(client, job: dict) -> tuple[dict, list[dict]]:
    """Poll a job until done or failed; every status seen, in order."""
    seen = [job]
    deadline = time.monotonic() + DEADLINE_S
    while job["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            pytest.fail(f"the trained-model job did not finish in {DEADLINE_S:g} s; last status {job}")
        time.sleep(0.05)
        r = client.get(job["poll"])
        assert r.status_code in (200, 202), r.text
        job = r.json()
        assert (r.status_code == 200) == (job["status"] in ("done", "failed")), job
        assert 0.0 <= job["progress"] <= 1.0
        seen.append(job)
    return job, seen


@pytest.fixture(scope="module")
def built(client) -> dict:
    """Build the tiny model through the API; what the API said before, during and after."""
    before = {"lookup": client.get(f"/api/v1/trained/jobs?{Q}"),
              "table": client.get(f"/api/v1/trained/table?{Q}"),
              "graph": client.get(f"/api/v1/trained/graph?{Q}&basis=spd&circuit=animal:bunny")}
    r = client.post(f"/api/v1/trained/jobs?{Q}", json={})
    assert r.status_code == 202, r.text
    first = r.json()
    job, seen = _wait(client, first)
    assert job["status"] == "done", f"the job failed: {job}"
    return {"before": before, "post": r, "first": first, "job": job, "seen": seen}


def _circuits() -> list[str]:
    from basisgraph.core.study import get_study

    return [c.id for c in get_study(CFG).model.circuits]


# --------------------------------------------------------------------------------------------
# Before building


def _check_not_built(r, query: str) -> None:
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["field"] == "model" and body["detail"].startswith("model:")
    assert body["train"] == f"/api/v1/trained/jobs?{query}"
    assert f"POST {body['train']}" in body["detail"]
    assert body["job"]["status"] == "untrained"
    assert r.headers["cache-control"] == "no-store"


def test_unbuilt_model_is_404_naming_model_and_never_trains(client, cache) -> None:
    before = sorted(p.name for p in cache.rglob("*"))
    _check_not_built(client.get(f"/api/v1/trained/table?{OTHER}"), OTHER)
    _check_not_built(client.get(f"/api/v1/trained/graph?{OTHER}&basis=spd&circuit=animal:bunny"), OTHER)
    # A bad basis does not hide that the model is missing.
    _check_not_built(client.get(f"/api/v1/trained/graph?{OTHER}&basis=nope"), OTHER)
    look = client.get(f"/api/v1/trained/jobs?{OTHER}")
    assert look.status_code == 200 and look.json()["status"] == "untrained"
    assert look.json()["progress"] == 0.0
    assert client.get(look.json()["poll"]).status_code == 404  # nothing was started
    time.sleep(0.3)
    assert sorted(p.name for p in cache.rglob("*")) == before


def test_before_building_the_routes_said_untrained(built) -> None:
    b = built["before"]
    assert b["lookup"].status_code == 200
    look = b["lookup"].json()
    assert look["status"] == "untrained" and look["id"] == built["first"]["id"]
    _check_not_built(b["table"], Q)
    _check_not_built(b["graph"], Q)


@pytest.mark.parametrize("query, field", [
    (f"animals={trained_jobs.MAX_ANIMALS + 1}&attributes=3&samples=200", "animals"),
    (f"animals=6&attributes={trained_jobs.MAX_DIMS + 1}&samples=200", "attributes"),
    (f"animals=6&attributes={trained_jobs.MAX_DIMS - 1}&random_dims=2&samples=200", "attributes"),
    (f"animals=60&attributes=30&samples=200&circuits={trained_jobs.MAX_CIRCUITS + 1}", "circuits"),
])
@pytest.mark.parametrize("route", ["post:/api/v1/trained/jobs", "get:/api/v1/trained/jobs",
                                   "get:/api/v1/trained/table", "get:/api/v1/trained/graph"])
def test_too_large_is_422_naming_the_field(client, route, query, field) -> None:
    method, path = route.split(":", 1)
    r = getattr(client, method)(f"{path}?{query}", **({"json": {}} if method == "post" else {}))
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"] == ["query", field], item
    assert item["allowed"], item


def test_at_the_bounds_is_not_422(client) -> None:
    query = urlencode({"animals": trained_jobs.MAX_ANIMALS, "attributes": trained_jobs.MAX_DIMS,
                       "circuits": trained_jobs.MAX_CIRCUITS, "samples": 200})
    r = client.get(f"/api/v1/trained/jobs?{query}")
    assert r.status_code == 200 and r.json()["status"] == "untrained", r.text


def test_a_full_queue_is_429(client, monkeypatch) -> None:
    monkeypatch.setattr(jobs_registry, "MAX_PENDING", -1)
    r = client.post(f"/api/v1/trained/jobs?{OTHER}", json={})
    assert r.status_code == 429, r.text
    assert "Retry-After" in r.headers
    assert client.get(f"/api/v1/trained/jobs?{OTHER}").json()["status"] == "untrained"


def test_unknown_job_is_404_naming_job(client) -> None:
    for job_id in ("0" * 64, "nope"):
        r = client.get(f"/api/v1/trained/jobs/{job_id}")
        assert r.status_code == 404, r.text
        assert r.json()["field"] == "job"


# --------------------------------------------------------------------------------------------
# The build job


def test_post_is_202_then_done(built) -> None:
    first, job = built["first"], built["job"]
    assert first["status"] in ("queued", "running")
    assert first["poll"] == f"/api/v1/trained/jobs/{first['id']}"
    assert built["post"].headers["location"] == first["poll"]
    assert first["id"] == trained_jobs.job_key(CFG, SETTINGS)
    assert first["query"] == Q
    assert job["progress"] == 1.0 and job["id"] == first["id"]
    assert job["table"] == f"/api/v1/trained/table?{Q}"
    assert set(job["result"]) == {"recovery", "fit"}


def test_progress_never_decreases_and_stages_are_reported(built) -> None:
    seen = built["seen"]
    progress = [s["progress"] for s in seen]
    assert all(b >= a for a, b in itertools.pairwise(progress)), progress
    assert progress[-1] == 1.0
    running = [s for s in seen if s["status"] == "running"]
    assert running, [s["status"] for s in seen]
    for s in running:
        assert s["stages"] == len(STAGES) and s["progress"] < 1.0, s
        assert s["stage_names"] == STAGES, s
        if s["stage"] == "loading":  # the worker starts: before the first stage
            assert (s["stage_index"], s["progress"]) == (0, 0.0), s
        else:
            assert s["stage"] == STAGES[s["stage_index"]], s
    indices = [s["stage_index"] for s in running]
    assert indices == sorted(indices), indices  # stages in order
    assert {s["status"] for s in seen} <= {"queued", "running", "measuring", "done"}


def test_post_again_when_cached_is_200_done(client, built) -> None:
    # Coverage, alpha and samples only change counting: the same model and job.
    for query in (Q, Q + "&coverage=0.5", urlencode({**TINY, "samples": 300, "alpha": 0.3})):
        t0 = time.perf_counter()
        r = client.post(f"/api/v1/trained/jobs?{query}", json={})
        assert time.perf_counter() - t0 < 10
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "done" and body["progress"] == 1.0
        assert body["id"] == built["job"]["id"]
        again = client.get(body["poll"])
        assert again.status_code == 200 and again.json()["status"] == "done"


def test_lookup_after_building_is_done(client, built) -> None:
    for query in (Q, Q + "&coverage=0.5", urlencode({**TINY, "samples": 300})):
        r = client.get(f"/api/v1/trained/jobs?{query}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "done" and r.json()["id"] == built["job"]["id"]
        assert r.json()["table"].startswith("/api/v1/trained/table?")


# --------------------------------------------------------------------------------------------
# The table and panels


def test_table_after_building(client, built) -> None:
    r = client.get(f"/api/v1/trained/table?{Q}")
    assert r.status_code == 200, r.text
    assert r.headers["server-timing"].startswith("compute;dur=")
    t = r.json()
    assert t["model"] == "trained" and "timings" not in t
    ids = [b["id"] for b in t["bases"]]
    assert ids[-3:] == ["mixed", "hidden", "spd"] and SAE_ID in ids
    assert [c["id"] for c in t["circuits"]] == _circuits()
    # The same as the Python call, and the same bytes when computed again.
    s = SETTINGS.resolve(CFG)
    ref = trained_table(CFG, s.train, s.spd, sae_cfgs=list(s.saes))
    assert "timings" not in ref  # one configuration, one JSON
    assert t == json.loads(json.dumps(ref))
    api.clear_cache()
    again = client.get(f"/api/v1/trained/table?{Q}")
    assert again.status_code == 200 and again.content == r.content
    assert again.headers["etag"] == r.headers["etag"]


def test_table_at_another_coverage(client, built) -> None:
    r = client.get(f"/api/v1/trained/table?{Q}&coverage=0.5")
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["config"]["coverage"] == 0.5
    base = client.get(f"/api/v1/trained/table?{Q}").json()
    assert [b["id"] for b in t["bases"]] == [b["id"] for b in base["bases"]]
    assert t["readout"]["layers"] == base["readout"]["layers"]  # one model
    more = client.get(f"/api/v1/trained/table?{urlencode({**TINY, 'samples': 300})}")
    assert more.status_code == 200, more.text
    assert more.json()["circuits"][0]["active_inputs"] != base["circuits"][0]["active_inputs"]
    assert more.json()["readout"]["layers"][0]["faithfulness_rel"] == base["readout"]["layers"][0][
        "faithfulness_rel"]


@pytest.mark.parametrize("basis", ["spd", "hidden", "mixed", "animal", SAE_ID])
def test_graph_is_the_python_panel(client, built, basis) -> None:
    table = client.get(f"/api/v1/trained/table?{Q}").json()
    for c in table["circuits"]:
        r = client.get(f"/api/v1/trained/graph?{Q}&" + urlencode({"basis": basis, "circuit": c["id"]}))
        assert r.status_code == 200, r.text
        assert "server-timing" in r.headers
        p = r.json()
        ref = trained_panel(CFG, basis, c["id"], "dataset", 40, SETTINGS)
        assert p == json.loads(json.dumps(ref))
        assert p["model"] == "trained" and p["basis"]["id"] == basis
        # A panel with no edge at all says None (as planted panels do); the table counts 0.
        assert (p["edge_count"] or 0) == c["stats"][basis]["global_edges"]


def test_graph_on_an_example_and_another_coverage(client, built) -> None:
    cid = _circuits()[0]
    r = client.get(f"/api/v1/trained/graph?{Q}&basis=spd&circuit={cid}&input=bunny&top=3")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["input"]["id"] == "bunny" and isinstance(p["active"], bool)
    assert p == json.loads(json.dumps(trained_panel(CFG, "spd", cid, "bunny", 3, SETTINGS)))
    half = client.get(f"/api/v1/trained/graph?{Q}&coverage=0.5&basis=hidden&circuit={cid}")
    assert half.status_code == 200, half.text
    assert half.json()["config"]["coverage"] == 0.5


@pytest.mark.parametrize("params, field", [
    ({"basis": "nope"}, "basis"),
    ({"basis": "sae:relu:46"}, "basis"),  # not trained: not a node set of this model
    ({"circuit": "animal:nope"}, "circuit"),
    ({"circuit": ""}, "circuit"),
    ({"input": "nope"}, "input"),
    ({"top": "0"}, "top"),
    ({"top": "abc"}, "top"),
])
def test_bad_graph_parameter_is_422_naming_it(client, built, params, field) -> None:
    query = urlencode({"basis": "spd", "circuit": _circuits()[0], **params})
    r = client.get(f"/api/v1/trained/graph?{Q}&{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", field]


def test_built_table_params_only_for_a_built_model(client, built) -> None:
    # The server warms the default trained table at startup only when that model is built.
    assert trained_api.built_table_params(CFG) == (*trained_graphs.cache_state(CFG, SETTINGS), SETTINGS)
    assert trained_api.built_table_params(CFG.model_copy(update={"seed": 99})) is None


def test_link_previews_of_the_trained_model(client, built) -> None:
    planted = client.get(f"/api/v1/preview.png?{Q}")
    trained = client.get(f"/api/v1/preview.png?{Q}&model=trained")
    assert planted.status_code == trained.status_code == 200
    assert trained.headers["content-type"] == "image/png" and trained.content != planted.content
    # Not built: the planted chart, never an error.
    other = urlencode({**TINY, "seed": 98})
    assert (client.get(f"/api/v1/preview.png?{other}&model=trained").content
            == client.get(f"/api/v1/preview.png?{other}").content)
    assert client.get(f"/api/v1/preview.png?{Q}&model=nope").status_code == 422
    # A shared link to the trained view previews it.
    head = client.get(f"/?v=1&{Q}&model=trained").text
    assert re.search(r'og:image" content="[^"]*preview\.png\?[^"]*model=trained', head)


def test_job_routes_read_the_link_version() -> None:
    # A v=1 page asks for the v=1 study's model: the job's configuration follows `v` like the
    # table's (without it, today's defaults); an unknown version is a 422 naming `v`.
    from fastapi.testclient import TestClient

    from basisgraph.web.app import create_app

    client = TestClient(create_app())
    tiny = "animals=40&attributes=6&samples=400&circuits=4"
    old = client.get(f"/api/v1/trained/jobs?v=1&{tiny}").json()
    assert old["config"]["residual"] == "minnorm" and old["config"]["overlay_sampling"] == "topup"
    assert client.get(f"/api/v1/trained/jobs?{tiny}").json()["config"]["residual"] == "sparse"
    bad = client.get(f"/api/v1/trained/jobs?v=7&{tiny}")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "v"


# --------------------------------------------------------------------------------------------
# The superposed target (issue 13): its own build, table and panels, chosen by `target`


@pytest.fixture(scope="module")
def superposed(client, built) -> dict:
    """Build the tiny superposed model through the API (after the aligned one)."""
    r = client.post(f"/api/v1/trained/jobs?{Q}&target=superposed", json={})
    assert r.status_code == 202, r.text
    job, seen = _wait(client, r.json())
    assert job["status"] == "done", f"the job failed: {job}"
    return {"first": r.json(), "job": job, "seen": seen}


def test_target_names_are_the_mlp_targets() -> None:
    from basisgraph.decomposition.mlp import TARGETS

    assert tuple(TARGETS) == trained_jobs.TARGET_NAMES
    assert trained_jobs.settings_for("aligned") is trained_jobs.SETTINGS


@pytest.mark.parametrize("route", ["post:/api/v1/trained/jobs", "get:/api/v1/trained/jobs",
                                   "get:/api/v1/trained/table", "get:/api/v1/trained/graph"])
@pytest.mark.parametrize("bad", ["nope", "Aligned", ""])
def test_bad_target_is_422_naming_target(client, route, bad) -> None:
    method, path = route.split(":", 1)
    r = getattr(client, method)(f"{path}?{Q}&target={bad}", **({"json": {}} if method == "post" else {}))
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"] == ["query", "target"], item
    assert "aligned" in item["allowed"] and "superposed" in item["allowed"], item


def test_superposed_settings_follow_mlp_targets() -> None:
    from basisgraph.decomposition.mlp import TARGETS

    s = trained_jobs.settings_for("superposed")
    want = TARGETS["superposed"]
    assert (s.train.hidden_fraction, s.train.l1_out, s.train.loss) == (
        want.hidden_fraction, want.l1_out, want.loss)
    assert s.train.steps == SETTINGS.train.steps  # the tiny budget is kept
    assert s.spd.init == "random" and s.spd.steps == SETTINGS.spd.steps
    assert trained_jobs.job_key(CFG, s) != trained_jobs.job_key(CFG, SETTINGS)


def test_superposed_build_is_its_own_job(client, built, superposed) -> None:
    first, job = superposed["first"], superposed["job"]
    assert first["id"] != built["job"]["id"]
    assert first["query"] == f"{Q}&target=superposed"
    assert job["table"] == f"/api/v1/trained/table?{Q}&target=superposed"
    stages = {s["stage"] for s in superposed["seen"] if s["status"] == "running"}
    assert stages - {"loading"} <= set(STAGES), stages
    look = client.get(f"/api/v1/trained/jobs?{Q}&target=superposed").json()
    assert look["status"] == "done" and look["id"] == first["id"]
    # The aligned model is still the default, and still built.
    assert client.get(f"/api/v1/trained/jobs?{Q}").json()["id"] == built["job"]["id"]


def test_superposed_table_is_the_readout_functions(client, superposed) -> None:
    from basisgraph.decomposition.panels import view_table

    r = client.get(f"/api/v1/trained/table?{Q}&target=superposed")
    assert r.status_code == 200, r.text
    t = r.json()
    s = trained_jobs.settings_for("superposed")
    assert t == json.loads(json.dumps(view_table(CFG, s)))
    rs = s.resolve(CFG)
    assert t == json.loads(json.dumps(trained_table(CFG, rs.train, rs.spd, sae_cfgs=list(rs.saes))))
    assert t["target"] == "superposed" and client.get(f"/api/v1/trained/table?{Q}").json()["target"] == "aligned"
    assert t["readout"]["train"]["hidden_fraction"] == 0.5 and t["readout"]["spd"]["init"] == "random"
    ids = [b["id"] for b in t["bases"]]
    assert ids[-3:] == ["mixed", "hidden", "spd"] and SAE_ID in ids
    # The read-out names every circuit once: recovered and causal, recovered only, or missed.
    for fam, f in t["readout"]["recovery_strict"]["families"].items():
        names = f["names"]
        listed = names["causal"] + names["not_causal"] + names["missed"]
        want = [c["id"].split(":", 1)[1] for c in t["circuits"] if c["family"] == fam]
        assert sorted(listed) == sorted(want), (fam, names)
        assert len(names["causal"]) == f["recovered_and_causal"]
        assert len(names["causal"]) + len(names["not_causal"]) == f["recovered"]
    assert {c["basis"] for c in t["ablation"]["cells"]} == set(ids)


def test_superposed_panel_is_the_python_panel(client, superposed) -> None:
    cid = _circuits()[0]
    r = client.get(f"/api/v1/trained/graph?{Q}&target=superposed&basis=spd&circuit={cid}")
    assert r.status_code == 200, r.text
    s = trained_jobs.settings_for("superposed")
    ref = trained_panel(CFG, "spd", cid, "dataset", 40, s.resolve(CFG))
    assert r.json() == json.loads(json.dumps(ref))
    assert r.json()["target"] == "superposed" and "disagreement" in r.json()["ablation"]
    aligned = client.get(f"/api/v1/trained/graph?{Q}&basis=spd&circuit={cid}").json()
    assert aligned["target"] == "aligned" and aligned["nodes"] != r.json()["nodes"]


def test_preview_and_export_follow_the_target(client, superposed) -> None:
    s = trained_jobs.settings_for("superposed")
    assert trained_api.built_table_params(CFG, "superposed") == (*trained_graphs.cache_state(CFG, s), s)
    assert client.get(f"/api/v1/preview.png?{Q}&model=trained&target=nope").status_code == 422
    assert client.get(f"/api/v1/preview.png?{Q}&model=trained&target=superposed").status_code == 200
    head = client.get(f"/?v=2&{Q}&model=trained&target=superposed").text
    assert re.search(r'og:image" content="[^"]*preview\.png\?[^"]*model=trained&amp;target=superposed', head)
    page = client.get(f"/api/v1/export.html?v=2&{Q}&model=trained&target=superposed")
    assert page.status_code == 200, page.text[:300]
    assert re.search(r'"target":\s*"superposed"', page.text)
    assert not re.search(r'"target":\s*"superposed"', client.get(f"/api/v1/export.html?v=2&{Q}&model=trained").text)


def test_superposed_build_is_under_the_cost_cap(client, monkeypatch) -> None:
    # The superposed target goes through the same cap: past it, 422 naming `animals`.
    big = urlencode({"animals": 1000, "attributes": 50, "samples": 200})
    monkeypatch.setattr(trained_jobs, "SETTINGS", trained_jobs.DEFAULT)
    est = trained_jobs.estimate_s(Config(animals=1000, attributes=50), trained_jobs.settings_for("superposed"))
    monkeypatch.setenv(JOB_SECONDS_ENV, str(est / 2))
    r = client.post(f"/api/v1/trained/jobs?{big}&target=superposed", json={})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "animals"]
    monkeypatch.setenv(JOB_SECONDS_ENV, str(est * 2))
    look = client.get(f"/api/v1/trained/jobs?{big}&target=superposed")
    assert look.status_code == 200 and look.json()["estimate_s"] <= est * 2
