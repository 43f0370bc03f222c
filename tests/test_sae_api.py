"""The SAE part of the API: background training jobs, the table and panels with an SAE, the sweep.

Every test trains tiny SAEs (40 animals, 6 attributes, 200 steps) into a temporary cache
directory (BASISGRAPH_CACHE), which the worker process is handed explicitly.
"""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.cli.main import main
from basisgraph.config import parse_config
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.dictionaries.table import sae_table
from basisgraph.jobs import registry as jobs_registry
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs.store import JobRecord, SQLiteStore

TINY = {"animals": 40, "attributes": 6, "samples": 200}
CFG = parse_config(TINY)
Q = urlencode(TINY)
SAE = "kind=relu&l1=1&steps=200"  # width defaults to animals + attributes = 46
METRICS = ("l0", "explained_variance", "dead_fraction", "shrinkage", "mcc_animals", "mcc_attributes",
           "match_animals", "match_attributes")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("sae-api-cache")
    mp.setenv("BASISGRAPH_CACHE", str(root))
    try:
        yield root
    finally:
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


def _wait(client, job: dict, timeout: float = 180.0) -> tuple[dict, list[float]]:
    seen = [job["progress"]]
    deadline = time.monotonic() + timeout
    while job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job did not finish: {job}"
        time.sleep(0.05)
        r = client.get(job["poll"])
        assert r.status_code in (200, 202), r.text
        job = r.json()
        assert (r.status_code == 200) == (job["status"] in ("done", "failed"))
        assert 0.0 <= job["progress"] <= 1.0
        seen.append(job["progress"])
    return job, seen


@pytest.fixture(scope="module")
def trained(client) -> dict:
    """The relu SAE of SAE, trained through the API: (first POST answer, final job, progress)."""
    r = client.post(f"/api/v1/sae/jobs?{Q}&{SAE}", json={})
    assert r.status_code == 202, r.text
    first = r.json()
    job, seen = _wait(client, first)
    return {"first": first, "job": job, "seen": seen}


def test_post_is_202_then_done_with_metrics(trained) -> None:
    first, job = trained["first"], trained["job"]
    assert first["status"] in ("queued", "running")
    assert set(first) >= {"id", "status", "progress", "poll"}
    assert first["poll"] == f"/api/v1/sae/jobs/{first['id']}"
    assert first["basis"] == "sae:relu:46"
    assert job["status"] == "done", job
    assert job["progress"] == 1.0
    for key in METRICS:
        assert job["metrics"][key] is not None, key
    assert "loss_curve" not in job["metrics"]
    assert job["table"].startswith("/api/v1/sae/table?")


def test_progress_is_monotone(trained) -> None:
    seen = trained["seen"]
    assert all(b >= a for a, b in itertools.pairwise(seen)), seen
    assert seen[-1] == 1.0


def test_progress_never_goes_down_while_running(cache) -> None:
    """The store keeps the largest progress the worker has reported for the running attempt."""
    scfg = SAEConfig(steps=100).resolve(CFG)
    req = sae_jobs.request(CFG, scfg)
    store = SQLiteStore(cache / "progress-test.sqlite")
    job, _ = store.submit(JobRecord(req.id, "sae", req.spec), max_pending=4)
    assert job.status == "queued" and job.progress == 0.0
    job = store.claim()
    assert store.report(job.id, job.attempt, 0.475, {"phase": "running", "step": 50})
    assert store.report(job.id, job.attempt, 0.095, {"phase": "running", "step": 10})
    st = store.get(job.id)
    assert (st.status, st.progress) == ("running", 0.475)
    assert not store.report(job.id, job.attempt - 1, 0.9, None)  # a stale attempt is ignored
    assert store.get(job.id).progress == 0.475


def test_cached_sae_answers_done_at_once(client, trained) -> None:
    t0 = time.perf_counter()
    r = client.post(f"/api/v1/sae/jobs?{Q}&{SAE}&coverage=0.5", json={})  # coverage is not part of an SAE
    assert time.perf_counter() - t0 < 5
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "done" and body["progress"] == 1.0
    assert body["id"] == trained["job"]["id"]
    assert body["metrics"] == trained["job"]["metrics"]
    again = client.get(body["poll"])
    assert again.status_code == 200 and again.json()["status"] == "done"


@pytest.mark.parametrize("query, field, allowed_has", [
    ("kind=gelu", "kind", "relu"),
    ("width=0", "width", "184"),
    ("width=185", "width", "184"),  # 4 x (animals + attributes)
    ("width=abc", "width", "integer"),
    ("steps=20001", "steps", "20000"),
    ("steps=0", "steps", "20000"),
    ("l1=-1", "l1", "1000"),
    ("sae_seed=-1", "sae_seed", "4294967295"),
    ("kind=topk&k=50", "k", "46"),
    ("kind=matryoshka&width=6", "width", "attributes"),
])
@pytest.mark.parametrize("endpoint", ["post:/api/v1/sae/jobs", "get:/api/v1/sae/table"])
def test_bad_sae_value_is_422_naming_it(client, endpoint, query, field, allowed_has) -> None:
    method, path = endpoint.split(":", 1)
    r = getattr(client, method)(f"{path}?{Q}&{query}", **({"json": {}} if method == "post" else {}))
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"] == ["query", field]
    assert allowed_has in item["allowed"], item


def test_bad_config_is_422_for_sae_routes(client) -> None:
    for r in (client.post("/api/v1/sae/jobs?animals=1", json={}), client.get("/api/v1/sae/table?animals=1"),
              client.get("/api/v1/sae/sweep?animals=1")):
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "animals"]


def test_width_bound_follows_8192(client) -> None:
    r = client.post("/api/v1/sae/jobs?animals=5000&width=8193", json={})
    assert r.status_code == 422 and "8192" in r.json()["detail"][0]["allowed"]
    # The default width (animals + attributes) is bounded too.
    r = client.post("/api/v1/sae/jobs?animals=9000", json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "width"]


def test_untrained_is_404_naming_sae_and_never_trains(client, cache) -> None:
    before = sorted(p.name for p in (cache / "sae").glob("*"))
    r = client.get(f"/api/v1/sae/table?{Q}&kind=relu&steps=7")
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["field"] == "sae" and body["detail"].startswith("sae:")
    assert "POST /api/v1/sae/jobs" in body["detail"]
    circuit = client.get(f"/api/v1/model?{Q}").json()["circuits"][0]["id"]
    g = client.get(f"/api/v1/graph?{Q}&basis=sae:relu:46&steps=7&circuit={circuit}")
    assert g.status_code == 404 and g.json()["field"] == "sae"
    assert client.get("/api/v1/sae/jobs/" + "0" * 64).status_code == 404
    assert client.get("/api/v1/sae/jobs/nope").status_code == 404
    time.sleep(0.5)
    assert sorted(p.name for p in (cache / "sae").glob("*")) == before


def test_table_with_sae_matches_python_and_the_plain_table(client, trained) -> None:
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}")
    assert r.status_code == 200, r.text
    t = r.json()
    assert [b["id"] for b in t["bases"]][-1] == "sae:relu:46"
    entry = t["bases"][-1]
    # The job reports the training time too; the table leaves wall-clock times out.
    assert "train_s" not in entry["sae"]["metrics"]
    assert entry["sae"]["metrics"] == {k: v for k, v in trained["job"]["metrics"].items() if k != "train_s"}
    assert entry["sae"]["key"] == trained["job"]["id"]
    ref = sae_table(CFG, [SAEConfig(steps=200)], train=False)
    assert t["cells"] == ref["cells"] and t["circuits"] == ref["circuits"]
    plain = client.get(f"/api/v1/table?{Q}").json()
    planted = [c for c in t["cells"] if not c["basis"].startswith("sae:")]
    assert planted == plain["cells"]
    assert t["bases"][:-1] == plain["bases"]


def test_table_with_the_learned_view(client, trained) -> None:
    plain = client.get(f"/api/v1/sae/table?{Q}&{SAE}").json()
    assert "learned" not in plain  # without the parameter the body is as before
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=input")
    assert r.status_code == 200, r.text
    t = r.json()
    ref = sae_table(CFG, [SAEConfig(steps=200)], train=False, learned=True, fit="input")
    assert t["learned"] == json.loads(json.dumps(ref["learned"]))
    assert t["learned"]["sources"] == ["sae:relu:46"] and t["learned"]["oracle"] is None
    assert {k: v for k, v in t.items() if k != "learned"} == plain
    bad = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=oracle")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "learned"]


def test_sae_panel(client, trained) -> None:
    circuit = client.get(f"/api/v1/model?{Q}").json()["circuits"][0]["id"]
    r = client.get(f"/api/v1/graph?{Q}&basis=sae:relu:46&{SAE}&circuit={circuit}")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["basis"]["id"] == "sae:relu:46" and p["basis"]["atoms"] == 46
    labels = [n["label"] for n in p["nodes"] if n["kind"] == "sae"]
    assert labels and all(label.startswith("≈") for label in labels)
    table = client.get(f"/api/v1/sae/table?{Q}&{SAE}").json()
    stats = next(c for c in table["circuits"] if c["id"] == circuit)["stats"]["sae:relu:46"]
    assert p["edge_count"] == stats["global_edges"]
    # kind and width come from the id; a query value that disagrees is a 422 naming it.
    bad = client.get(f"/api/v1/graph?{Q}&basis=sae:relu:46&kind=topk&circuit={circuit}")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "kind"]


def test_sweep_lists_cached_saes(client, trained) -> None:
    r = client.get(f"/api/v1/sae/sweep?{Q}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache"
    sw = r.json()
    point = next(p for p in sw["points"] if p["key"] == trained["job"]["id"])
    assert (point["kind"], point["width"], point["sparsity_name"], point["sparsity"]) == ("relu", 46, "l1", 1.0)
    table = client.get(f"/api/v1/sae/table?{Q}&{SAE}").json()
    cells = {c["family"]: c for c in table["cells"] if c["basis"] == "sae:relu:46"}
    for c in point["cells"]:
        assert c["global_edges_median"] == cells[c["family"]]["global_edges_median"]
        assert c["local_edges_median"] == cells[c["family"]]["local_edges_median"]
        assert c["error_share_median"] == cells[c["family"]]["error_share_median"]
    best = sw["best"]["global"]
    assert best["key"] in {p["key"] for p in sw["points"]}
    assert best["explained_variance"] is not None and best["error_share_attribute"] is not None
    empty = client.get("/api/v1/sae/sweep?animals=41&attributes=6&samples=200").json()
    assert empty["points"] == [] and empty["best"] == {"local": None, "global": None}


def test_cached_lists_the_sweeps_saes_without_counting(client, trained) -> None:
    r = client.get(f"/api/v1/sae/cached?{Q}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache"
    listed = r.json()["saes"]
    points = client.get(f"/api/v1/sae/sweep?{Q}").json()["points"]
    assert listed == [{k: p[k] for k in listed[0]} for p in points]  # the same SAEs, same names
    assert "cells" not in listed[0] and "metrics" not in listed[0]
    assert client.get("/api/v1/sae/cached?animals=41&attributes=6&samples=200").json()["saes"] == []
    assert client.get("/api/v1/sae/cached?animals=1").status_code == 422


def test_server_answers_while_training_and_torch_is_untouched(cache, monkeypatch) -> None:
    import torch

    threads = torch.get_num_threads()
    with TestClient(api.create_app(timeout_s=60)) as c:
        r = c.post(f"/api/v1/sae/jobs?{Q}&kind=relu&width=184&steps=20000&sae_seed=7", json={})
        assert r.status_code == 202, r.text
        job = r.json()
        deadline = time.monotonic() + 120
        while job["status"] in ("queued",) or job["progress"] == 0:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
            job = c.get(job["poll"]).json()
        assert job["status"] in ("running", "measuring")
        t0 = time.perf_counter()
        assert c.get("/api/v1/health").status_code == 200
        assert c.get("/api/v1/table?preset=bunny").status_code == 200
        assert time.perf_counter() - t0 < 5
        # The same SAE asked again joins the running job.
        again = c.post(f"/api/v1/sae/jobs?{Q}&kind=relu&width=184&steps=20000&sae_seed=7", json={})
        assert again.status_code == 202 and again.json()["id"] == job["id"]
        # A full queue is a 429, not an unbounded backlog.
        monkeypatch.setattr(jobs_registry, "MAX_PENDING", 0)
        busy = c.post(f"/api/v1/sae/jobs?{Q}&kind=relu&steps=300&sae_seed=8", json={})
        assert busy.status_code == 429 and "Retry-After" in busy.headers
        later = c.get(job["poll"]).json()
        assert later["progress"] >= job["progress"]
        worker = jobs_registry.registry().worker.proc
    # Leaving the app stops the worker without waiting for the run.
    assert torch.get_num_threads() == threads
    assert worker is not None and worker.poll() is not None


def test_sae_sweep_cli(cache, tmp_path, capsys) -> None:
    out = tmp_path / "sweep.json"
    code = main(["sae-sweep", "--animals", "40", "--attributes", "6", "--samples", "200",
                 "--widths", "6,46", "--sparsities", "1", "--steps", "60", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr()
    assert "sae:relu:6" in text.out and "sae:relu:46" in text.out
    assert "[2/2]" in text.err and "#" in text.err  # progress bars
    sw = json.loads(out.read_text())
    assert [(p["width"], p["steps"]) for p in sw["points"]] == [(6, 60), (46, 60)]
    assert main(["sae-sweep", "--animals", "40", "--attributes", "6", "--widths", "x"]) == 2
    assert "widths" in capsys.readouterr().err


def test_lookup_never_starts_a_job(client, trained) -> None:
    r = client.get(f"/api/v1/sae/jobs?{Q}&{SAE}")
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert r.json()["id"] == trained["job"]["id"]
    fresh = client.get(f"/api/v1/sae/jobs?{Q}&kind=relu&steps=9")
    assert fresh.status_code == 200 and fresh.json()["status"] == "untrained"
    assert client.get(fresh.json()["poll"]).status_code == 404  # still nothing started
    assert client.get(f"/api/v1/sae/jobs?{Q}&steps=0").status_code == 422
