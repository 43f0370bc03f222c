"""Load benchmark on loopback: does a cached answer stay fast while the server computes?

    python bench/bench_load.py [--seconds 60] [--concurrency 32]

Steps:
1. Start `basisgraph serve` (a real uvicorn) on a free port with an empty cache directory, and
   warm the default table so it is cached.
2. Phase "cached": `concurrency` keep-alive connections request the cached /api/v1/table for
   `seconds`; report requests per second, errors, p50/p99 latency and the server's resident
   memory at the start and the end.
3. Phase "saturated": the same, while 4 expensive uncached tables are requested over and over
   and 2 long training jobs run; report the cached p99 and /api/v1/health's p99 besides.
4. Phase "memory": 24 distinct configurations near the largest the cost model admits, one
   after another; report the peak resident memory of the server and its compute workers.
5. Print the figures against the targets (>= 1000 req/s with 0 errors; p99 <= 50 ms; memory
   under the documented ceiling of 3 GB).

The load generator is `wrk` when it is installed (Debian's package), else a small asyncio
HTTP/1.1 client; either shares the two cores with the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TABLE = "/api/v1/table"
HEALTH = "/api/v1/health"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            line = next(x for x in Path(f"/proc/{p}/status").read_text().splitlines() if x.startswith("VmRSS:"))
            total += int(line.split()[1])
        except (OSError, StopIteration):
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids] + [g for k in kids for g in _children(int(k))]


async def _client(port: int, path: str, stop: float, lat: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\r\n".encode()
    try:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(x.split(b":")[1]) for x in head.split(b"\r\n")
                           if x.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(str(status))
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def _load(port: int, path: str, seconds: float, concurrency: int) -> tuple[list[float], list[str]]:
    lat: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    await asyncio.gather(*(_client(port, path, stop, lat, errors) for _ in range(concurrency)))
    return lat, errors


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


def _get(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, data=body,
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _background(base: str, stop: float) -> subprocess.Popen:
    """Expensive uncached requests in a loop (another process, so they queue on the server)."""
    code = f"""
import time, urllib.request, urllib.error, concurrent.futures
def hit(i):
    n = 0
    while time.monotonic() < {stop}:
        n += 1
        try:
            urllib.request.urlopen("{base}{TABLE}?animals=7000&seed=" + str(1000 * i + n), timeout=60).read()
        except urllib.error.HTTPError:
            pass
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    list(ex.map(hit, range(4)))
"""
    return subprocess.Popen([sys.executable, "-c", code])


def _start_jobs(base: str) -> list[int]:
    codes = []
    for seed in (1, 2):
        status, _ = _get(f"{base}/api/v1/sae/jobs?animals=200&attributes=20&steps=20000&sae_seed={seed}", "POST", b"{}")
        codes.append(status)
    return codes


def _ms(text: str) -> float:
    value = float(text.rstrip("usm"))
    return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value


def _wrk(port: int, path: str, seconds: float, concurrency: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency",
                          "-H", "Accept-Encoding: gzip", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    pct = {ln.split()[0]: _ms(ln.split()[1]) for ln in lines if ln.strip().startswith(("50%", "99%"))}
    bad = sum(int(ln.split(":")[1]) for ln in lines if "Non-2xx" in ln)
    sock = [ln for ln in lines if "Socket errors" in ln]
    if sock:
        bad += sum(int(x.split()[-1]) for x in sock[0].split(":", 1)[1].split(","))
    total = int(next(ln for ln in lines if "requests in" in ln).split()[0])
    return {"requests": total, "rps": round(total / seconds), "errors": bad,
            "p50_ms": round(pct["50%"], 2), "p99_ms": round(pct["99%"], 2), "client": "wrk"}


def _phase(name: str, port: int, pid: int, seconds: float, concurrency: int, extra: bool) -> dict:
    rss0 = _rss_mb(pid)
    if shutil.which("wrk"):
        out = {"phase": name, **_wrk(port, TABLE, seconds, concurrency)}
    else:
        lat, errors = asyncio.run(_load(port, TABLE, seconds, concurrency))
        out = {"phase": name, "requests": len(lat), "rps": round(len(lat) / seconds), "errors": len(errors),
               "p50_ms": round(_pct(lat, 0.5), 2), "p99_ms": round(_pct(lat, 0.99), 2), "client": "asyncio"}
    out.update({"rss_start_mb": round(rss0), "rss_end_mb": round(_rss_mb(pid))})
    if extra:
        hl, herr = asyncio.run(_load(port, HEALTH, min(10.0, seconds), 2))
        out.update({"health_p99_ms": round(_pct(hl, 0.99), 2), "health_errors": len(herr)})
    return out


BIG = [{"animals": 90000}, {"attributes": 1000, "animals": 1500}, {"samples": 20000, "animals": 20000},
       {"random_dims": 1000}, {"circuits": 64, "animals": 60000}, {"active": 16, "animals": 80000}]


def _memory(base: str, pid: int) -> dict:
    """Peak RSS (server + workers) over a run of large, distinct configurations: each asks for
    more than the budget, and is then sent again at the largest value the 422 names."""
    peak, codes = _rss_mb(pid), []
    for i in range(24):
        params = {**BIG[i % len(BIG)], "seed": 500 + i}
        for route in ("table", "model"):
            status, body = _get(f"{base}/api/v1/{route}?" + "&".join(f"{k}={v}" for k, v in params.items()))
            if status == 422:
                item = json.loads(body)["detail"][0]
                largest = item.get("allowed", "").split(" to ")[-1].split(" ")[0]
                if largest.isdigit():
                    params[item["loc"][-1]] = int(largest)
                    status, _ = _get(f"{base}/api/v1/{route}?" + "&".join(f"{k}={v}" for k, v in params.items()))
            codes.append(status)
            peak = max(peak, _rss_mb(pid))
    return {"phase": "memory", "requests": len(codes), "status": {c: codes.count(c) for c in set(codes)},
            "peak_rss_mb": round(peak), "end_rss_mb": round(_rss_mb(pid))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "BASISGRAPH_CACHE": cache}
        server = subprocess.Popen([sys.executable, "-m", "basisgraph.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    if _get(base + HEALTH)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            assert _get(base + TABLE)[0] == 200, "the default table did not compute"
            results = [_phase("cached", port, server.pid, args.seconds, args.concurrency, extra=True)]
            stop = time.monotonic() + args.seconds + 5
            bg = _background(base, stop)
            jobs = _start_jobs(base)
            time.sleep(2)
            sat = _phase("saturated", port, server.pid, args.seconds, args.concurrency, extra=True)
            sat["jobs_started"] = jobs
            results.append(sat)
            bg.wait(timeout=120)
            results.append(_memory(base, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=20)
    for r in results:
        print(json.dumps(r))
    c, s, m = results
    print(f"cached: {c['rps']} req/s, {c['errors']} errors (target >= 1000, 0); p99 {c['p99_ms']} ms; "
          f"RSS {c['rss_start_mb']} -> {c['rss_end_mb']} MB")
    print(f"saturated: cached p99 {s['p99_ms']} ms, health p99 {s['health_p99_ms']} ms (targets <= 50 ms), "
          f"{s['errors']} errors on the cached route; RSS {s['rss_start_mb']} -> {s['rss_end_mb']} MB")
    print(f"memory: peak {m['peak_rss_mb']} MB over {m['requests']} large requests (ceiling 3072 MB), "
          f"statuses {m['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
