"""The job store's contract, on SQLite and on a real redis-server, and two servers sharing one
Redis queue (BASISGRAPH_REDIS_URL). The redis-server is started here on a free loopback port;
without it these tests skip, and fail under CI=true."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode

import pytest

from basisgraph.jobs.redisstore import RedisStore
from basisgraph.jobs.store import JobRecord, JobsBusy, SQLiteStore
from jobs_servers import http, redis_server, serve, wait_until

TINY = urlencode({"animals": 40, "attributes": 6, "samples": 200})


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteStore(tmp_path / "jobs.sqlite")
    # A fresh key prefix per test: the module's redis-server is shared.
    return RedisStore(request.getfixturevalue("redis_url"), prefix=f"test:{uuid.uuid4().hex}:")


def _job(i: int, kind: str = "sae") -> JobRecord:
    return JobRecord(f"{i:064x}", kind, {"n": i}, estimate_s=1.0)


def test_store_contract(store) -> None:
    a, created = store.submit(_job(1), max_pending=1)
    assert created and a.status == "queued" and a.attempt == 1
    again, created = store.submit(_job(1), max_pending=1)
    assert not created and again.seq == a.seq  # deduplicated
    b, _ = store.submit(_job(2, "trained"), max_pending=1)
    with pytest.raises(JobsBusy):  # the cap counts both kinds
        store.submit(_job(3), max_pending=1)
    assert [j.id for j in store.unfinished()] == [a.id, b.id] and store.has_queued()
    claimed = store.claim()
    assert claimed.id == a.id and claimed.status == "running"
    assert store.report(a.id, 1, 0.5, {"phase": "running", "step": 5})
    assert store.report(a.id, 1, 0.2, {"phase": "running", "step": 2})
    assert store.get(a.id).progress == 0.5  # never lower
    assert not store.report(a.id, 0, 0.9, None)  # another attempt's write is dropped
    store.finish(a.id, 1, "done", result={"metrics": {"l0": 1}})
    done = store.get(a.id)
    assert (done.status, done.progress, done.result) == ("done", 1.0, {"metrics": {"l0": 1}})
    assert store.cancel(b.id).status == "cancelled"
    assert store.claim() is None and not store.has_queued()  # a cancelled job is never claimed
    assert store.cancel(a.id).status == "done"  # a finished job stays as it is
    # Re-submitted: a new attempt from zero, and the old attempt's worker cannot write to it.
    a2, created = store.submit(_job(1), max_pending=1)
    assert created and a2.attempt == 2 and a2.progress == 0.0 and a2.seq > a.seq
    running = store.claim()
    assert running.attempt == 2
    assert not store.report(a.id, 1, 0.9, None)
    store.finish(a.id, 1, "failed", error="late")
    assert store.get(a.id).status == "running"
    # A worker that stopped reporting: interrupted, reported as failed.
    assert store.interrupt(time.time() + 1) == 1
    assert store.get(a.id).status == "failed" and "interrupted" in store.get(a.id).error
    store.remember(JobRecord(f"{9:064x}", "trained", {}, status="done", progress=1.0))
    store.remember(JobRecord(a.id, "sae", {}, status="done"))  # known ids are left alone
    assert store.get(f"{9:064x}").status == "done" and store.get(a.id).status == "failed"
    assert store.get("nope") is None and store.cancel("nope") is None


@pytest.mark.slow
def test_two_servers_share_one_redis_queue(redis_url, tmp_path) -> None:
    cache = tmp_path / "cache"
    env = {"BASISGRAPH_REDIS_URL": redis_url}
    with serve(cache, **env) as (a, _), serve(cache, **env) as (b, _):
        code, long = http("POST", f"{a}/api/v1/sae/jobs?{TINY}", {"kind": "relu", "steps": 20000})
        assert code == 202, long
        code, short = http("POST", f"{b}/api/v1/sae/jobs?{TINY}", {"kind": "relu", "steps": 200})
        assert code == 202, short
        # One queue: either server lists both, in submission order, and reports either job.
        for url in (a, b):
            assert [j["id"] for j in http("GET", f"{url}/api/v1/jobs")[1]["jobs"]] == [long["id"], short["id"]]
        assert http("GET", f"{b}{long['poll']}")[1]["id"] == long["id"]
        # The same job asked of the other server joins it.
        code, joined = http("POST", f"{b}/api/v1/sae/jobs?{TINY}", {"kind": "relu", "steps": 20000})
        assert code == 202 and joined["id"] == long["id"]
        # Cancelled through the other server: the worker moves on to the next job.
        code, gone = http("DELETE", f"{b}/api/v1/jobs/{long['id']}")
        assert code == 200 and gone["status"] == "cancelled", gone
        done = wait_until(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            http("GET", f"{a}{short['poll']}")[1]), 120, "the short job")
        assert done["status"] == "done" and done["metrics"]["l0"] is not None, done
        assert http("GET", f"{a}{long['poll']}")[1]["status"] == "cancelled"
