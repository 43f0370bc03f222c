"""The job store on Redis (BASISGRAPH_REDIS_URL): several server processes, on one machine or
several sharing a cache volume, see the same jobs and feed one queue. Same interface as
store.SQLiteStore, with redis-py only (RQ forks a process per job, which would import torch for
every job and defeat the one-trainer-per-cache lock; this queue is a Redis sorted set instead).

Keys, under a prefix (default "basisgraph:jobs:"):
- `job:<id>`: the JobRecord as JSON;
- `seq`: the submission counter (queue order over every kind);
- `open`: sorted set of unfinished ids by seq (the cap and queue positions);
- `queue`: sorted set of queued ids by seq (ZPOPMIN hands the oldest to one worker only);
- `lock`: held while a submission checks the cap and deduplicates.
Record updates are optimistic transactions (WATCH on the job's key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import redis

from basisgraph.jobs.store import UNFINISHED, JobRecord, JobsBusy

__all__ = ["RedisStore", "PREFIX"]

PREFIX = "basisgraph:jobs:"


def _load(raw: bytes | str | None) -> JobRecord | None:
    return None if raw is None else JobRecord(**json.loads(raw))


def _start(job: JobRecord) -> JobRecord | None:
    # A popped id whose job was cancelled meanwhile is dropped (_update leaves it as it is).
    return replace(job, status="running", heartbeat=time.time()) if job.status == "queued" else None


class RedisStore:
    """Jobs in Redis (see the module docstring)."""

    def __init__(self, url: str, prefix: str = PREFIX):
        self.r = redis.Redis.from_url(url)
        self.p = prefix

    def _key(self, job_id: str) -> str:
        return f"{self.p}job:{job_id}"

    def _update(self, job_id: str, change: Callable[[JobRecord], JobRecord | None]) -> JobRecord | None:
        """Apply `change` to the stored job atomically (None from it: leave it as it is)."""
        key = self._key(job_id)

        def tx(pipe: redis.client.Pipeline) -> JobRecord | None:
            old = _load(pipe.get(key))
            new = None if old is None else change(old)
            pipe.multi()
            if new is not None:
                pipe.set(key, json.dumps(asdict(new)))
                if new.status not in UNFINISHED:
                    pipe.zrem(f"{self.p}open", job_id)
                    pipe.zrem(f"{self.p}queue", job_id)
            return new or old

        return self.r.transaction(tx, key, value_from_callable=True)

    def get(self, job_id: str) -> JobRecord | None:
        """The job `job_id`, or None if it was never submitted."""
        return _load(self.r.get(self._key(job_id)))

    def submit(self, job: JobRecord, max_pending: int) -> tuple[JobRecord, bool]:
        """Queue `job` unless its id is unfinished (then that one, False); JobsBusy past the cap."""
        with self.r.lock(f"{self.p}lock", timeout=10, blocking_timeout=10):
            old = self.get(job.id)
            if old is not None and old.status in UNFINISHED:
                return old, False
            busy = self.r.zcard(f"{self.p}open")
            if busy > max_pending:
                raise JobsBusy(f"{busy} training jobs are running or waiting; retry later")
            seq = int(self.r.incr(f"{self.p}seq"))
            new = replace(job, status="queued", seq=seq, attempt=(old.attempt if old else 0) + 1,
                          progress=0.0, detail={}, result={}, error=None, submitted=time.time(),
                          heartbeat=0.0)
            pipe = self.r.pipeline()
            pipe.set(self._key(job.id), json.dumps(asdict(new)))
            pipe.zadd(f"{self.p}open", {job.id: seq})
            pipe.zadd(f"{self.p}queue", {job.id: seq})
            pipe.execute()
        return new, True

    def unfinished(self) -> list[JobRecord]:
        """Running and queued jobs of every kind, in queue order."""
        ids = [i.decode() for i in self.r.zrange(f"{self.p}open", 0, -1)]
        found = [_load(raw) for raw in self.r.mget([self._key(i) for i in ids])] if ids else []
        return sorted((j for j in found if j is not None and j.status in UNFINISHED), key=lambda j: j.seq)

    def has_queued(self) -> bool:
        """Whether a job waits for a worker."""
        return self.r.zcard(f"{self.p}queue") > 0

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now marked running (None when nothing waits)."""
        while True:
            popped = self.r.zpopmin(f"{self.p}queue")
            if not popped:
                return None
            job_id = popped[0][0].decode()
            job = self._update(job_id, _start)
            if job is not None and job.status == "running":
                return job

    def report(self, job_id: str, attempt: int, progress: float | None,
               detail: dict[str, Any] | None) -> bool:
        """Record progress (never lowered) and a heartbeat; False when the job is no longer
        running under `attempt`: the worker should stop."""
        ok = []

        def change(j: JobRecord) -> JobRecord | None:
            if j.attempt != attempt or j.status != "running":
                return None
            ok.append(True)
            return replace(j, heartbeat=time.time(),
                           progress=j.progress if progress is None else max(j.progress, progress),
                           detail=j.detail if detail is None else detail)

        self._update(job_id, change)
        return bool(ok)

    def finish(self, job_id: str, attempt: int, status: str, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        """End a running job as done or failed (ignored when it is not this attempt's any more)."""
        self._update(job_id, lambda j: replace(
            j, status=status, result=result or {}, error=error, heartbeat=time.time(),
            progress=1.0 if status == "done" else j.progress)
            if j.attempt == attempt and j.status == "running" else None)

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued or running job (a finished one stays as it is); None if unknown."""
        return self._update(job_id, lambda j: replace(j, status="cancelled",
                                                      error="cancelled by a DELETE request")
                            if j.status in UNFINISHED else None)

    def remember(self, job: JobRecord) -> None:
        """Store `job` (a done one found in the cache) unless its id is already known."""
        self.r.set(self._key(job.id), json.dumps(asdict(replace(job, submitted=time.time()))), nx=True)

    def interrupt(self, heartbeat_before: float) -> int:
        """Fail the running jobs silent since `heartbeat_before`; returns how many."""
        count = 0
        for job in self.unfinished():
            if job.status == "running" and job.heartbeat < heartbeat_before:
                self._update(job.id, lambda j: replace(
                    j, status="failed", error="interrupted: the worker stopped (server restart or "
                    "crash); submit it again to retry")
                    if j.status == "running" and j.heartbeat < heartbeat_before else None)
                count += 1
        return count
