"""Job system figures on loopback (prints them; not a timed test).

Steps:
1. Start the app under uvicorn with a fresh cache (SQLite job store).
2. POST a tiny SAE job (40 animals, 6 attributes, 2000 steps): time to first progress (worker
   start and torch import), time to done, and the cost model's prediction.
3. POST a long job; while it runs, GET its status 300 times: p50 and p99 latency.
4. DELETE it: time until the worker stops using CPU.
5. POST it again, SIGKILL the server: time until the worker is gone; restart: the job reads
   "failed" (never 404).

Run: `PYTHONPATH=backend python bench/bench_jobs.py`.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jobs_servers import alive, cpu_seconds, http, serve, wait_until, worker_pid

TINY = urlencode({"animals": 40, "attributes": 6, "samples": 200})


def _until(url: str, poll: str, done) -> tuple[float, dict]:
    t0 = time.perf_counter()
    job = wait_until(lambda: (lambda j: j if done(j) else None)(http("GET", url + poll)[1]), 600,
                     "the job", every=0.02)
    return time.perf_counter() - t0, job


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    post = f"/api/v1/sae/jobs?{TINY}"
    with serve(cache) as (url, server):
        code, job = http("POST", url + post, {"kind": "relu", "steps": 2000})
        first, _ = _until(url, job["poll"], lambda j: j["progress"] > 0)
        total, done = _until(url, job["poll"], lambda j: j["status"] in ("done", "failed"))
        print(f"tiny SAE job (2000 steps): POST {code}, first progress after {first:.2f} s, "
              f"{done['status']} after {first + total:.2f} s; predicted {job['estimate_s']} s, "
              f"trained in {done['metrics'].get('train_s')} s")

        code, long = http("POST", url + post, {"kind": "relu", "steps": 20000, "sae_seed": 5})
        _until(url, long["poll"], lambda j: j["progress"] > 0)
        lat = []
        for _ in range(300):
            t = time.perf_counter()
            http("GET", url + long["poll"])
            lat.append(time.perf_counter() - t)
        print(f"GET job status while it trains (300 requests): p50 {_pct(lat, 0.5):.1f} ms, "
              f"p99 {_pct(lat, 0.99):.1f} ms")

        pid = worker_pid(cache)
        t = time.perf_counter()
        http("DELETE", url + long["poll"])

        def idle() -> bool:
            before = cpu_seconds(pid)
            time.sleep(0.2)
            return cpu_seconds(pid) - before < 0.02

        wait_until(idle, 30, "the worker to go idle", every=0)
        print(f"DELETE of a running job: worker idle {time.perf_counter() - t:.2f} s later "
              f"(measured over 0.2 s windows)")

        code, again = http("POST", url + post, {"kind": "relu", "steps": 20000, "sae_seed": 5})
        _until(url, again["poll"], lambda j: j["progress"] > 0)
        pid = worker_pid(cache)
        t = time.perf_counter()
        server.send_signal(signal.SIGKILL)
        server.wait()
        wait_until(lambda: not alive(pid), 30, "the worker to die", every=0.01)
        print(f"SIGKILL of the server: worker {pid} gone {1000 * (time.perf_counter() - t):.0f} ms later")
    with serve(cache) as (url, _):
        code, after = http("GET", url + again["poll"])
        print(f"after restart: GET {again['poll'][-12:]} -> {code} {after['status']}: {after.get('error')}")


if __name__ == "__main__":
    main()
