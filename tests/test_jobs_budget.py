"""The disk cache's byte budget: least recently used entries go first, the job store and files
being written stay, usage is reported, and the worker keeps the budget after each job."""

from __future__ import annotations

import os
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.jobs import budget
from jobs_servers import wait_until


def _file(path, size: int, age_s: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_lru_eviction_keeps_the_store_and_files_being_written(tmp_path) -> None:
    a = [_file(tmp_path / "sae" / f"{'a' * 64}{ext}", 1000, 300) for ext in (".json", ".pt")]
    b = [_file(tmp_path / "sae" / f"{'b' * 64}{ext}", 1000, 200) for ext in (".json", ".pt")]
    c = _file(tmp_path / "mlp-cafe.pt", 1000, 100)
    store = _file(tmp_path / "jobs" / "jobs.sqlite", 3000, 900)
    writing = _file(tmp_path / "spd-beef.pt.tmp" f"{os.getpid()}", 1000, 900)
    # b was read recently (an access time newer than its modification): it is not the oldest.
    os.utime(b[0], (time.time() - 50, time.time() - 200))
    assert budget.cache_usage(tmp_path)["bytes"] == 9000
    removed = budget.enforce(tmp_path, budget=8000)
    assert sorted(removed) == sorted(a)  # the least recently used entry, both of its files
    removed = budget.enforce(tmp_path, budget=6500)
    assert removed == [c]  # then c (used 100 s ago) before b (read 50 s ago)
    removed = budget.enforce(tmp_path, budget=0)
    assert sorted(removed) == sorted(b)
    assert store.exists() and writing.exists()
    assert budget.enforce(tmp_path, budget=0) == []


def test_recently_used_entries_are_kept(tmp_path) -> None:
    old = _file(tmp_path / "mlp-old.pt", 1000, 100)
    new = _file(tmp_path / "mlp-new.pt", 1000, 0)
    assert budget.enforce(tmp_path, budget=0, keep_since=time.time() - 10) == [old]
    assert new.exists()


def test_usage_reports_bytes_and_budget(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(budget.BUDGET_ENV, "12345")
    _file(tmp_path / "sae" / "x.pt", 321, 0)
    usage = budget.cache_usage(tmp_path)
    assert usage == {"bytes": 321, "budget": 12345, "files": 1, "path": str(tmp_path)}
    monkeypatch.delenv(budget.BUDGET_ENV)
    assert budget.cache_budget() == 2 * 1024**3


@pytest.mark.slow
def test_the_worker_keeps_the_budget_after_a_job(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    monkeypatch.setenv(budget.BUDGET_ENV, str(60_000))
    stale = _file(tmp_path / "sae" / f"{'c' * 64}.pt", 100_000, 3600)
    with TestClient(api.create_app(timeout_s=30)) as client:
        query = urlencode({"animals": 40, "attributes": 6, "samples": 200})
        job = client.post(f"/api/v1/sae/jobs?{query}", json={"kind": "relu", "steps": 50}).json()
        done = wait_until(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            client.get(job["poll"]).json()), 120, "the SAE job")
        assert done["status"] == "done", done
        wait_until(lambda: not stale.exists(), 10, "the stale entry to be evicted")
        assert (tmp_path / "sae" / f"{job['id']}.pt").exists()  # the new SAE stays
        assert client.get(job["poll"]).json()["status"] == "done"


def test_a_server_start_brings_the_cache_within_its_budget(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))
    monkeypatch.setenv(budget.BUDGET_ENV, str(100_000))  # the job store takes a few kB of it
    old = _file(tmp_path / "mlp-old.pt", 60_000, 200)
    new = _file(tmp_path / "mlp-new.pt", 60_000, 100)
    with TestClient(api.create_app(timeout_s=30)):
        assert not old.exists() and new.exists()
