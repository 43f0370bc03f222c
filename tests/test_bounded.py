"""Bounded compute in the web layer: admission before work, deadlines that stop work, one
computation per identical request, limits on waiting work, and cached answers that never wait
behind a computation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.config import Config
from basisgraph.core import counts, deadline
from basisgraph.core.cost import Budget
from basisgraph.web import workers
from basisgraph.web.compute import encode

BUNNY = "preset=bunny"


@pytest.fixture(autouse=True)
def _fresh():
    api.clear_cache()
    yield
    api.clear_cache()


def test_over_budget_is_422_naming_the_field_before_any_work(monkeypatch):
    calls = []
    monkeypatch.setattr(api, "_compute", lambda *a: calls.append(a) or {})
    with TestClient(api.create_app()) as c:
        resp = c.get("/api/v1/table?animals=100000&attributes=256")
    assert resp.status_code == 422
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["query", "animals"]
    largest = int(item["allowed"].split(" to ")[1].split(" ")[0])
    assert 2 <= largest < 100000
    assert calls == []  # refused before anything was computed
    # The largest value it names is admitted.
    with TestClient(api.create_app()) as c:
        assert c.get(f"/api/v1/table?animals={largest}&attributes=256").status_code == 200
    assert len(calls) == 1


def test_deadline_stops_the_core():
    with deadline.until(time.monotonic() - 1), pytest.raises(deadline.DeadlineExceeded):
        counts.table(Config(preset="bunny", seed=8801))
    counts.table(Config(preset="bunny", seed=8801))  # no deadline: the same call completes


def test_a_timed_out_computation_stops_using_cpu(monkeypatch):
    state = {"stopped_at": None, "spins": 0}

    def spin(*_):
        try:
            while True:  # CPU-bound work that checks its deadline, as the core does
                state["spins"] += 1
                deadline.check()
        except deadline.DeadlineExceeded:
            state["stopped_at"] = time.monotonic()
            raise

    monkeypatch.setattr(api, "_compute", spin)
    with TestClient(api.create_app(timeout_s=0.1, limit_s=0.3)) as c:
        t0 = time.monotonic()
        resp = c.get("/api/v1/table?seed=8802")
        assert resp.status_code == 503 and resp.headers["retry-after"]
        time.sleep(0.6)
        assert state["stopped_at"] is not None and state["stopped_at"] - t0 < 0.55
        spins = state["spins"]
        time.sleep(0.2)
        assert state["spins"] == spins  # nothing runs any more


def test_identical_concurrent_requests_compute_once(monkeypatch):
    calls = []
    monkeypatch.setattr(api, "_compute", lambda *a: calls.append(a) or time.sleep(0.3) or {"n": 1})
    with TestClient(api.create_app()) as c:
        out = []
        threads = [threading.Thread(target=lambda: out.append(c.get("/api/v1/table?seed=8803")))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in out] == [200] * 4
    assert len({r.content for r in out}) == 1 and len(calls) == 1


def test_waiting_work_is_limited_per_client_and_globally(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(api, "_compute", lambda *a: release.wait(5) or {})
    app = api.create_app(timeout_s=5)
    computer = app.state.computer
    computer.per_client, computer.max_pending = 2, 3
    with TestClient(app) as c:
        for seed in (1, 2):
            computer.submit(("table", Config(seed=seed).key(), ()), client="testclient")
        resp = c.get("/api/v1/table?seed=3")  # this client has two waiting already
        assert resp.status_code == 503 and "client" in resp.json()["detail"]
        computer.submit(("table", Config(seed=4).key(), ()), client="other")
        resp = c.get("/api/v1/table?seed=5")
        assert resp.status_code == 503 and "server" in resp.json()["detail"]
        release.set()


def test_cached_answers_and_health_never_wait_behind_computations(monkeypatch):
    real = api._compute
    gate = threading.Event()
    monkeypatch.setattr(api, "_compute", lambda e, cfg, p: real(e, cfg, p) if cfg.seed == 0 else gate.wait(5) or {})
    with TestClient(api.create_app(timeout_s=5)) as c:
        assert c.get(f"/api/v1/table?{BUNNY}").status_code == 200  # cached from now on
        busy = [threading.Thread(target=c.get, args=(f"/api/v1/table?seed={s}",)) for s in range(10, 16)]
        for t in busy:
            t.start()
        time.sleep(0.2)  # both compute threads are now held, and more requests wait
        worst = 0.0
        for url in (f"/api/v1/table?{BUNNY}", "/api/v1/health") * 10:
            t0 = time.monotonic()
            assert c.get(url).status_code == 200
            worst = max(worst, time.monotonic() - t0)
        gate.set()
        for t in busy:
            t.join()
    assert worst < 0.5  # a cached answer is sent from the event loop, not queued


def test_health_reports_the_caches():
    with TestClient(api.create_app(budget=Budget())) as c:
        body = c.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["compute"]["response_cache"]["budget"] > 0 and body["studies"]["budget"] > 0


def _sleepy(key):
    if key == "sleep":
        time.sleep(60)  # never checks its deadline: only a kill stops it
    return key


def test_worker_pool_kills_a_computation_past_its_deadline(monkeypatch):
    monkeypatch.setattr(workers, "GRACE_S", 0.2)
    pool = workers.WorkerPool(_sleepy, 1)
    try:
        assert pool.run("hi", time.monotonic() + 30) == "hi"
        (pid,) = pool.pids()
        t0 = time.monotonic()
        with pytest.raises(deadline.DeadlineExceeded):
            pool.run("sleep", time.monotonic() + 0.3)
        assert time.monotonic() - t0 < 3
        state = Path(f"/proc/{pid}/stat")
        assert not state.exists() or state.read_text().split()[2] in "ZX"  # gone (or reaped soon)
        assert pool.pids() != [pid] and pool.run("again", time.monotonic() + 30) == "again"
    finally:
        pool.shutdown()


def test_served_mode_computes_in_worker_processes():
    with TestClient(api.create_app(processes=1)) as c:
        resp = c.get(f"/api/v1/table?{BUNNY}&seed=8804")
        bad = c.get(f"/api/v1/graph?{BUNNY}&seed=8804&basis=animal&circuit=animal:unicorn")
        pids = c.app.state.computer._processes.pids()
    assert resp.status_code == 200
    assert resp.json() == json.loads(encode(counts.table(Config(preset="bunny", seed=8804))))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "circuit"]  # raised in the worker
    assert pids and all(not Path(f"/proc/{p}/stat").exists() or Path(f"/proc/{p}/stat").read_text().split()[2] in "ZX"
                        for p in pids)  # stopped with the app
