"""The one job registry through the API: a cap and a queue across SAE and trained-model jobs,
deduplication, cancel, the cost cap, and JSON-only job creation."""

from __future__ import annotations

import signal
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.config import Config
from basisgraph.decomposition.mlp import TrainConfig
from basisgraph.decomposition.panels import Settings
from basisgraph.decomposition.spd import SPDConfig
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.jobs import registry as jobs_registry
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs import trained as trained_jobs
from jobs_servers import cpu_seconds, wait_until

TINY = {"animals": 40, "attributes": 6, "samples": 200}
Q = urlencode(TINY)
LONG = {"kind": "relu", "steps": 20000}  # about 100 s: always cancelled long before the end
TRAINED_Q = urlencode({"animals": 6, "attributes": 3, "samples": 200, "circuits": 2})
SETTINGS = Settings(TrainConfig(steps=20000, batch=128, train_samples=800, heldout_samples=400),
                    SPDConfig(steps=40, batch=64, components_in=8, components_out=8, train_samples=800),
                    (SAEConfig(kind="relu", steps=50),))


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    monkeypatch.setattr(trained_jobs, "SETTINGS", SETTINGS)
    with TestClient(api.create_app(timeout_s=30)) as c:
        yield c


def _post(client, path: str, body: dict | None = None):
    return client.post(path, json={} if body is None else body)


def test_one_cap_and_one_queue_across_kinds(client, monkeypatch) -> None:
    monkeypatch.setattr(jobs_registry, "MAX_PENDING", 1)  # one running and one waiting
    a = _post(client, f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 1})
    b = _post(client, f"/api/v1/trained/jobs?{TRAINED_Q}")
    assert a.status_code == 202 and b.status_code == 202, (a.text, b.text)
    a, b = a.json(), b.json()
    assert b["status"] == "queued" and b["queue_position"] == 1  # the SAE job is ahead of it
    # Both kinds count against one cap: neither kind may add a third job.
    for path, body in ((f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 2}),
                       (f"/api/v1/trained/jobs?{urlencode({'animals': 7, 'attributes': 3, 'samples': 200, 'circuits': 2})}", {})):
        busy = _post(client, path, body)
        assert busy.status_code == 429 and "Retry-After" in busy.headers, busy.text
    queue = client.get("/api/v1/jobs").json()
    assert [j["id"] for j in queue["jobs"]] == [a["id"], b["id"]] and queue["max_pending"] == 1
    # Cancel the first: it stops, and the trained-model job moves up.
    gone = client.delete(f"/api/v1/jobs/{a['id']}")
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled", gone.text
    assert client.get(a["poll"]).json()["status"] == "cancelled"
    moved = wait_until(lambda: (lambda j: j if j["status"] != "queued" else None)(
        client.get(b["poll"]).json()), 60, "the trained-model job to start")
    assert moved["status"] == "running" and "queue_position" not in moved
    gone = client.delete(b["poll"])
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled", gone.text


@pytest.mark.slow
def test_cancel_stops_the_worker_and_a_resubmission_starts_from_zero(client) -> None:
    job = _post(client, f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 3}).json()
    running = wait_until(lambda: (lambda j: j if j["progress"] > 0 else None)(
        client.get(job["poll"]).json()), 120, "progress")
    worker = jobs_registry.registry().worker.proc
    assert worker is not None and worker.poll() is None
    r = client.delete(job["poll"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["progress"] == running["progress"] or r.json()["progress"] >= running["progress"]
    # The job stops: its worker (idle now, or gone) soon spends no more CPU on it.
    def idle() -> bool:
        before = cpu_seconds(worker.pid)
        time.sleep(0.5)
        return cpu_seconds(worker.pid) - before < 0.05

    wait_until(idle, 15, "the worker to stop computing", every=0)
    # Cancelling again, or an unknown or wrong-kind id.
    assert client.delete(job["poll"]).json()["status"] == "cancelled"
    assert client.delete("/api/v1/jobs/" + "0" * 64).status_code == 404
    assert client.delete(f"/api/v1/trained/jobs/{job['id']}").status_code == 404
    again = _post(client, f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 3})
    assert again.status_code == 202
    assert again.json()["progress"] == 0.0 and again.json()["status"] == "queued"
    client.delete(job["poll"])


@pytest.mark.slow
def test_a_killed_worker_fails_its_job_and_the_queue_goes_on(client) -> None:
    first = _post(client, f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 5}).json()
    second = _post(client, f"/api/v1/sae/jobs?{Q}", {**LONG, "sae_seed": 6}).json()
    wait_until(lambda: client.get(first["poll"]).json()["progress"] > 0, 120, "progress")
    worker = jobs_registry.registry().worker.proc
    worker.send_signal(signal.SIGKILL)  # what the out-of-memory killer does
    failed = wait_until(lambda: (lambda j: j if j["status"] == "failed" else None)(
        client.get(first["poll"]).json()), 30, "the job to be reported failed")
    assert "interrupted" in failed["error"]
    started = wait_until(lambda: (lambda j: j if j["progress"] > 0 else None)(
        client.get(second["poll"]).json()), 120, "the next job to run on a new worker")
    assert started["status"] in ("running", "measuring")
    assert jobs_registry.registry().worker.proc.pid != worker.pid
    client.delete(second["poll"])


def test_identical_jobs_are_one(client) -> None:
    first = _post(client, f"/api/v1/sae/jobs?{Q}&kind=relu&steps=20000&sae_seed=4").json()
    # The same SAE with its parameters in the body, and with a field that does not change it.
    second = _post(client, f"/api/v1/sae/jobs?{Q}&coverage=0.5", {**LONG, "sae_seed": 4, "width": 46})
    assert second.status_code == 202 and second.json()["id"] == first["id"]
    queue = client.get("/api/v1/jobs").json()["jobs"]
    assert [j["id"] for j in queue] == [first["id"]]
    assert jobs_registry.registry().store.get(first["id"]).attempt == 1
    client.delete(first["poll"])


@pytest.mark.parametrize("ctype, body", [
    ("application/x-www-form-urlencoded", b"kind=relu&steps=20000"),  # an HTML form
    ("text/plain", b"{}"),  # what a no-cors fetch may send
    ("multipart/form-data; boundary=x", b"--x--"),
    (None, b""),
])
def test_a_form_or_no_cors_post_starts_nothing(client, ctype, body) -> None:
    headers = {} if ctype is None else {"Content-Type": ctype}
    for path in (f"/api/v1/sae/jobs?{Q}&{urlencode(LONG)}", f"/api/v1/trained/jobs?{TRAINED_Q}"):
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == 415, r.text
        assert "application/json" in r.json()["detail"]
        assert (r.json()["field"], r.json()["allowed"]) == ("content-type", "application/json")
    assert client.get("/api/v1/jobs").json()["jobs"] == []
    assert client.get(f"/api/v1/sae/jobs?{Q}&{urlencode(LONG)}").json()["status"] == "untrained"


@pytest.mark.parametrize("body", ["[1]", '{"width": [1]}', "not json", ""])
def test_a_bad_json_body_is_422_naming_body(client, body) -> None:
    r = client.post(f"/api/v1/sae/jobs?{Q}", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "body"], r.text


def test_cost_cap_names_width_or_steps_with_the_largest_value(client, monkeypatch) -> None:
    monkeypatch.setenv("BASISGRAPH_JOB_SECONDS", "60")
    cfg = Config()
    for query, field in (("width=4200&steps=3000", "width"), ("width=1050&steps=20000", "steps")):
        r = _post(client, f"/api/v1/sae/jobs?{query}")
        assert r.status_code == 422, r.text
        item = r.json()["detail"][0]
        assert item["loc"] == ["query", field], item
        largest = int(item["allowed"].split(" to ")[1].split()[0])
        values = dict(p.split("=") for p in query.split("&"))
        fits = SAEConfig(width=int(values["width"]), steps=int(values["steps"]))
        fits = fits.model_copy(update={field: largest}).resolve(cfg)
        assert sae_jobs.check_cost(cfg, fits) <= 60  # the value named is allowed ...
        over = fits.model_copy(update={field: largest + 1})
        with pytest.raises(Exception, match=field):  # ... and one more is not
            sae_jobs.check_cost(cfg, over)
    assert client.get("/api/v1/jobs").json()["jobs"] == []
    # Looking up a costly SAE never fails on cost (it may have been trained by the CLI).
    look = client.get("/api/v1/sae/jobs?width=4200&steps=3000")
    assert look.status_code == 200 and look.json()["status"] == "untrained"
    assert look.json()["estimate_s"] > 60


def test_cost_cap_of_the_trained_model_names_animals(client, monkeypatch) -> None:
    monkeypatch.setenv("BASISGRAPH_JOB_SECONDS", "150")
    monkeypatch.setattr(trained_jobs, "SETTINGS", trained_jobs.DEFAULT)
    r = _post(client, "/api/v1/trained/jobs?animals=1000")
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"] == ["query", "animals"], item
    largest = int(item["allowed"].split(" to ")[1].split()[0])
    assert trained_jobs.estimate_s(Config(animals=largest), trained_jobs.DEFAULT) <= 150
    assert trained_jobs.estimate_s(Config(animals=largest + 1), trained_jobs.DEFAULT) > 150
    assert client.get("/api/v1/jobs").json()["jobs"] == []


def test_the_openapi_document_describes_job_responses(client) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/sae/jobs/{job_id}", "/api/v1/trained/jobs/{job_id}", "/api/v1/jobs/{job_id}"):
        for method in ("get", "delete"):
            schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/JobStatus"}, (path, method)
    assert doc["paths"]["/api/v1/sae/jobs"]["post"]["requestBody"]["required"] is True
