"""Worker processes for the web layer's computations, so the server process only serves.

Computing in the server's own threads would make every cached answer share the interpreter
lock with numpy-heavy work; in worker processes the event loop keeps a core's worth of time,
and the workers run at a lower priority. Steps of one task:
1. A compute thread of the server takes an idle worker and sends it (key, deadline, cache dir).
2. The worker computes under that deadline (`core.deadline`, checked between steps) and sends
   back the encoded body, or the exception.
3. If no answer comes by the deadline plus a grace period (a step that never checks), the
   thread kills the worker and starts a fresh one: a computation never outlives its deadline
   by more than the grace.
Workers come from a forkserver (a clean process that imported the package once), so starting
one is fast and never copies the server's threads or locks. A worker also exits when the server
dies (its pipe closes and, on Linux, the kernel sends it SIGKILL).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Hashable
from multiprocessing.connection import Connection
from typing import Any

from basisgraph.core import deadline
from basisgraph.lifecycle import die_with_parent

__all__ = ["WorkerPool"]

GRACE_S = 2.0  # how long past its deadline a computation may take to notice it
NICE = 5  # workers' priority below the server's


def _worker_main(conn: Connection, compute: Callable[[Hashable], Any]) -> None:
    die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    while True:
        try:
            key, until, cache = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if cache is None:
            os.environ.pop("BASISGRAPH_CACHE", None)
        else:
            os.environ["BASISGRAPH_CACHE"] = cache
        try:
            with deadline.until(until):
                result = ("ok", compute(key))
        except BaseException as exc:  # sent back and raised in the server thread
            result = ("error", exc)
        try:
            conn.send(result)
        except (OSError, ValueError):
            return
        except Exception as exc:  # an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


class _Worker:
    def __init__(self, ctx: Any, compute: Callable[[Hashable], Any]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, compute), daemon=True)
        self.proc.start()
        child.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


class WorkerPool:
    """`size` worker processes that run `compute(key)`; `run` blocks the calling thread."""

    def __init__(self, compute: Callable[[Hashable], Any], size: int = 2):
        self._compute = compute
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["basisgraph.web.app"])
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        # Started off the caller's thread: the server answers /health while its workers start.
        threading.Thread(target=lambda: [self._add() for _ in range(size)], daemon=True,
                         name="basisgraph-workers").start()

    def _add(self) -> None:
        w = _Worker(self._ctx, self._compute)
        with self._lock:
            if self._closed:  # shut down while this one was starting
                w.kill()
                return
            self._all.append(w)
        self._idle.put(w)

    def run(self, key: Hashable, until: float) -> Any:
        """compute(key) in a worker, stopped at `until` (monotonic seconds) plus the grace."""
        worker = self._idle.get()
        try:
            worker.conn.send((key, until, os.environ.get("BASISGRAPH_CACHE")))
            if not worker.conn.poll(max(0.0, until - time.monotonic()) + GRACE_S):
                raise deadline.DeadlineExceeded("the computation ran past its deadline and was stopped")
            status, value = worker.conn.recv()
        except (deadline.DeadlineExceeded, EOFError, OSError) as exc:
            with self._lock:
                self._all.remove(worker)
            worker.kill()
            self._add()  # a fresh worker takes its place
            if isinstance(exc, deadline.DeadlineExceeded):
                raise
            raise RuntimeError("a compute worker died") from exc
        self._idle.put(worker)
        if status == "error":
            raise value
        return value

    def pids(self) -> list[int]:
        """Process ids of the workers (tests and benchmarks)."""
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None]

    def shutdown(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), []
        for w in workers:
            w.kill()
