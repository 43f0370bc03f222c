"""Helpers for the job tests that need real processes: a uvicorn server of the app on a free
loopback port, a redis-server, HTTP calls, and whether a process still lives."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
__all__ = ["free_port", "serve", "http", "alive", "wait_until", "redis_server", "worker_pid",
           "cpu_seconds"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, ctype: str = "application/json",
         raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of one request; a JSON `body` unless `raw` is given."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Content-Type": ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(check, timeout: float, what: str, every: float = 0.1) -> Any:
    """Call check() until it returns something truthy; AssertionError naming `what` past timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(cache: Path) -> int | None:
    """The pid written into the cache's worker lock by the worker holding it."""
    try:
        text = (cache / "jobs" / "worker.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and alive(int(text)) else None


@contextlib.contextmanager
def serve(cache: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The app under uvicorn on a free port, its cache at `cache`: (base URL, process)."""
    port = free_port()
    environ = {**os.environ, "BASISGRAPH_CACHE": str(cache), "PYTHONPATH": str(REPO / "backend"), **env}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "basisgraph.web.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=environ, cwd=REPO)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, "the server exited at start"
        with contextlib.suppress(OSError):
            return http("GET", f"{url}/api/v1/health")[0] == 200
        return False

    try:
        wait_until(ready, 60, "the server to answer /health", every=0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port (no persistence): its URL. Missing
    redis-server: skip, or fail under CI=true (`make test` installs it)."""
    import pytest

    exe = shutil.which("redis-server")
    if exe is None:
        reason = "redis-server is not installed (make test installs Debian's redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true the Redis tests must run, not skip")
        pytest.skip(reason)
    import redis

    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"

    def ready() -> bool:
        assert proc.poll() is None, "redis-server exited at start"
        with contextlib.suppress(redis.exceptions.ConnectionError):
            return bool(redis.Redis.from_url(url).ping())
        return False

    try:
        wait_until(ready, 20, "redis-server to answer PING")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
