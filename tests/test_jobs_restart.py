"""A server killed mid-job (SIGKILL) takes its worker with it, and the restarted server reports
the job as failed (never 404), cleans the dead worker's partial files and takes the job again."""

from __future__ import annotations

import signal
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from jobs_servers import alive, http, serve, wait_until, worker_pid

pytestmark = pytest.mark.slow

TINY = {"animals": 40, "attributes": 6, "samples": 200}
LONG_SAE = {"kind": "relu", "steps": 20000, "sae_seed": 11}  # about 100 s: killed long before


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sigkill_mid_job_leaves_no_orphan_and_no_404(tmp_path) -> None:
    cache = tmp_path / "cache"
    post = f"/api/v1/sae/jobs?{urlencode(TINY)}"
    with serve(cache) as (url, server):
        code, job = http("POST", url + post, LONG_SAE)
        assert code == 202, job
        running = wait_until(lambda: (lambda s: s if s[1]["progress"] > 0 else None)(
            http("GET", url + job["poll"])), 120, "the job to report progress")[1]
        assert running["status"] == "running", running
        pid = worker_pid(cache)
        assert pid is not None and pid != server.pid
        # What a worker killed while saving leaves behind: a temporary file of a dead process.
        partial = cache / "sae" / f"{job['id']}.pt.{_dead_pid()}.tmp"
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"\0" * 1024)
        server.send_signal(signal.SIGKILL)
        server.wait()
        wait_until(lambda: not alive(pid), 10, f"the worker {pid} to die with its server")

    with serve(cache) as (url, _):
        code, after = http("GET", url + job["poll"])
        assert code == 200, after
        assert after["status"] == "failed" and "interrupted" in after["error"], after
        assert after["id"] == job["id"]
        assert not partial.exists()
        code, unified = http("GET", f"{url}/api/v1/jobs/{job['id']}")
        assert code == 200 and unified["status"] == "failed"
        # Submitted again, it starts from zero: no stale progress of the interrupted run.
        code, again = http("POST", url + post, LONG_SAE)
        assert code == 202 and again["id"] == job["id"], again
        assert again["progress"] == 0.0 and again["status"] == "queued", again
        code, cancelled = http("DELETE", url + again["poll"])
        assert code == 200 and cancelled["status"] == "cancelled", cancelled
