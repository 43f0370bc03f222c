"""Bounded computation behind the JSON routes: cheap answers never wait behind expensive ones.

Steps of one request for a computed body:
1. Look the body up in the response cache (bounded in bytes). A hit is answered on the event
   loop: no thread, no queue, nothing that a running computation can hold up.
2. On a miss, predict the computation's cost from its configuration (`core.cost`); over the
   interactive budget is a 422 naming the field that makes it too big, before any work.
3. Join an identical computation already in flight (single-flight), or start one on the
   compute threads. At most `max_pending` computations wait or run at once, and one client at
   most `per_client` of them; past that the answer is 503 with Retry-After, at once.
4. Wait at most `timeout_s` for it (503 past that). The computation itself runs under a
   deadline (`core.deadline`) of `limit_s` and stops there: a computation nobody waits for no
   longer burns CPU. A finished one fills the cache, so a retry of a slow request finds it.

Bodies are encoded once (deterministic JSON) and, when large enough, gzipped once: a hit never
re-encodes or re-compresses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import hashlib
import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from basisgraph.core import deadline
from basisgraph.core.memo import ByteLRU
from basisgraph.web.workers import WorkerPool

__all__ = ["Body", "Busy", "TimedOut", "Computer", "encode"]

GZIP_MIN = 500  # bytes: smaller bodies are sent as they are


def _jsonable(obj: Any) -> Any:
    # numpy scalars and arrays can slip out of the core; anything else is a bug worth a 500.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def encode(obj: Any) -> bytes:
    """Byte-deterministic JSON: key order as built, no spaces, no NaN."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_jsonable).encode()


@dataclass(frozen=True)
class Body:
    """One computed response body with its validators, encoded and compressed once."""

    data: bytes  # the JSON (or other) body
    etag: str  # strong ETag of `data`
    gz: bytes | None  # gzip of `data` (None when too small to be worth it)
    compute_ms: float  # time of the first computation (sent as Server-Timing, never in the body)
    media_type: str = "application/json"

    @property
    def size(self) -> int:
        """Bytes held in memory."""
        return len(self.data) + len(self.gz or b"")

    @staticmethod
    def of(data: bytes, compute_ms: float, media_type: str = "application/json") -> Body:
        """A Body for `data`: its ETag and, above GZIP_MIN bytes, its gzip (mtime 0: stable bytes)."""
        gz = gzip.compress(data, compresslevel=6, mtime=0) if len(data) >= GZIP_MIN else None
        return Body(data, '"' + hashlib.sha256(data).hexdigest() + '"', gz, compute_ms, media_type)


class Busy(Exception):
    """Too many computations wait already (globally or for this client)."""

    def __init__(self, scope: str, limit: int):
        super().__init__(f"{limit} computations are already waiting {scope}; retry shortly")
        self.scope, self.limit = scope, limit


class TimedOut(Exception):
    """The wait for a computation ran past the request's timeout."""


class Computer:
    """The response cache, the admission counters and the compute threads of one app.

    `compute(key)` returns the response body for a key (raising ConfigError and the like for
    bad input); it runs under a deadline of `limit_s`, on one of `threads` threads or, given a
    `pool`, in one of its worker processes (one thread per worker waits on it).
    """

    def __init__(self, compute: Callable[[Hashable], Body], *, threads: int = 2,
                 cache_bytes: int = 128 << 20, max_pending: int = 32, per_client: int = 16,
                 timeout_s: float = 10.0, limit_s: float = 30.0, pool: WorkerPool | None = None):
        self._compute = compute
        self._processes = pool  # None: compute on the threads themselves (tests, notebooks)
        self.cache: ByteLRU[Body] = ByteLRU(cache_bytes, size=lambda b: b.size)
        self.max_pending = max_pending  # computations waiting or running, all clients
        self.per_client = per_client  # of those, started by one client
        self.timeout_s = timeout_s  # a request waits this long, then gets 503
        self.limit_s = limit_s  # a computation is stopped this long after it starts
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="basisgraph")
        self._inflight: dict[Hashable, tuple[concurrent.futures.Future, str]] = {}
        self._lock = threading.Lock()

    # -- the two paths ------------------------------------------------------------------------

    def cached(self, key: Hashable) -> Body | None:
        """The cached body for `key`, or None (never blocks on a computation)."""
        return self.cache.get(key)

    def submit(self, key: Hashable, client: str = "") -> concurrent.futures.Future:
        """The in-flight computation of `key`, joined or started. Raises Busy past the limits."""
        with self._lock:
            hit = self._inflight.get(key)
            if hit is not None:
                return hit[0]
            if len(self._inflight) >= self.max_pending:
                raise Busy("on this server", self.max_pending)
            if client and sum(c == client for _, c in self._inflight.values()) >= self.per_client:
                raise Busy("for this client", self.per_client)
            future = self._pool.submit(self._run, key)
            self._inflight[key] = (future, client)
        future.add_done_callback(lambda f: self._done(key, f))
        return future

    async def get(self, key: Hashable, client: str = "") -> Body:
        """The body for `key`: from the cache, or computed within the timeout (TimedOut, Busy)."""
        body = self.cached(key)
        if body is not None:
            return body
        future = self.submit(key, client)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout_s)
        except (TimeoutError, deadline.DeadlineExceeded):
            raise TimedOut(f"computing this took longer than {self.timeout_s:g} s") from None

    def get_sync(self, key: Hashable, client: str = "") -> Body:
        """`get` for code that runs on a thread (the HTML export assembles several bodies)."""
        body = self.cached(key)
        if body is not None:
            return body
        try:
            return self.submit(key, client).result(timeout=self.timeout_s)
        except (concurrent.futures.TimeoutError, deadline.DeadlineExceeded):
            raise TimedOut(f"computing this took longer than {self.timeout_s:g} s") from None

    # -- internals ----------------------------------------------------------------------------

    def _run(self, key: Hashable) -> Body:
        until = time.monotonic() + self.limit_s
        if self._processes is not None:
            return self._processes.run(key, until)
        with deadline.until(until):
            return self._compute(key)

    def _done(self, key: Hashable, future: concurrent.futures.Future) -> None:
        with self._lock:
            if self._inflight.get(key, (None,))[0] is future:
                del self._inflight[key]
        if not future.cancelled() and future.exception() is None:
            self.cache.put(key, future.result())

    def pending(self) -> int:
        """Computations waiting or running now."""
        with self._lock:
            return len(self._inflight)

    def stats(self) -> dict[str, Any]:
        """What /health reports: the response cache and the computations in flight."""
        return {"response_cache": self.cache.stats(), "pending": self.pending(),
                "max_pending": self.max_pending}

    def clear(self) -> None:
        """Forget every cached body (tests and benchmarks)."""
        self.cache.clear()

    def shutdown(self) -> None:
        """Stop accepting work; running computations end at their deadlines."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown()
