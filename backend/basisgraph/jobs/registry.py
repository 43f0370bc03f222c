"""The one job registry of the server: SAE and trained-model jobs in one queue with one cap.

- `submit(request)`: "done" at once when the artefact is cached; joins the queued or running job
  of the same id (deduplication); else queues it, refusing with JobsBusy when more than
  MAX_PENDING jobs of any kind wait behind the running one.
- `lookup(request)`: the same answer without starting anything ("untrained" when unknown).
- `status(id)` / `cancel(id)`: any kind, or only `kind` (the per-kind URLs).
- Job state is in the store (SQLite in the cache, or Redis), so every server process and a
  restarted server see it; a job whose worker died reports "failed", never 404.

The answer is one dict per job: id, kind, status (queued, running, measuring, done, failed,
cancelled, untrained), progress (0..1, never lower than the last answer of the same attempt),
poll URL, the kind's description, and while unfinished queue_position and elapsed_s.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from basisgraph.cache import cache_dir
from basisgraph.jobs import budget
from basisgraph.jobs.kind import JobKind, JobRequest
from basisgraph.jobs.store import FINISHED, UNFINISHED, JobRecord, JobsBusy, Store
from basisgraph.jobs.worker import HEARTBEAT_S, KINDS, WorkerProcess, open_store, recover

__all__ = ["MAX_PENDING", "REDIS_ENV", "JobsBusy", "Registry", "registry", "shutdown_all", "KINDS"]

MAX_PENDING = 4  # jobs that may wait behind the running one, counted over every kind
REDIS_ENV = "BASISGRAPH_REDIS_URL"
PREFIX = "/api/v1"

_LOCK = threading.Lock()
_REGISTRIES: dict[tuple[str, str], Registry] = {}


def registry() -> Registry:
    """The registry of the current cache directory and Redis URL (started on first use)."""
    root, url = str(cache_dir()), os.environ.get(REDIS_ENV, "")
    with _LOCK:
        reg = _REGISTRIES.get((root, url))
        if reg is None:
            reg = _REGISTRIES[(root, url)] = Registry(Path(root), url or None)
    return reg


def shutdown_all() -> None:
    """Stop every worker this process started (server shutdown); jobs stay in their stores."""
    with _LOCK:
        regs = list(_REGISTRIES.values())
        _REGISTRIES.clear()
    for reg in regs:
        reg.shutdown()


class Registry:
    """Jobs of one cache directory (and Redis URL); see the module docstring."""

    def __init__(self, root: Path, redis_url: str | None):
        self.root, self.redis_url = root, redis_url
        self.store: Store = open_store(root, redis_url)
        self.worker = WorkerProcess(root, redis_url, self.store.has_queued, self._recover)
        self._recover()  # a previous server's worker may have died mid-job
        budget.enforce(root)  # the CLI may have filled the cache past its budget meanwhile
        if self.store.has_queued():
            self.worker.wake()  # jobs queued before a restart run now

    def _recover(self) -> None:
        recover(self.root, self.store, redis=self.redis_url is not None)

    # ----------------------------------------------------------------------------------------
    # Answers

    def _answer(self, kind: JobKind, job_id: str, spec: dict[str, Any], status: str,
                progress: float, **extra: Any) -> dict[str, Any]:
        out = {"id": job_id, "kind": kind.name, "status": status,
               "progress": round(min(max(progress, 0.0), 1.0), 4),
               "poll": f"{PREFIX}/{kind.name}/jobs/{job_id}"}
        out.update(kind.describe(spec, status))
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    def _done(self, kind: JobKind, job_id: str, spec: dict[str, Any], result: dict[str, Any],
              estimate_s: float | None = None) -> dict[str, Any]:
        kind.touch(spec)  # a use: the disk budget evicts the least recently used
        return self._answer(kind, job_id, spec, "done", 1.0, estimate_s=estimate_s, **result)

    def _view(self, job: JobRecord) -> dict[str, Any]:
        kind = KINDS[job.kind]
        if job.status in FINISHED:
            cached = kind.cached_result(job.spec)
            if cached is not None:  # done, or built since by another route
                result = {**cached, **job.result} if job.status == "done" else cached
                return self._done(kind, job.id, job.spec, result, job.estimate_s)
            error = ("evicted from the disk cache (its byte budget); submit it again"
                     if job.status == "done" else job.error)
            status = "failed" if job.status == "done" else job.status
            return self._answer(kind, job.id, job.spec, status, job.progress, error=error,
                                estimate_s=job.estimate_s)
        extra: dict[str, Any] = {"estimate_s": job.estimate_s,
                                 "elapsed_s": round(time.time() - job.submitted, 1)}
        # Claimed but not reported yet (the worker is loading torch): still "queued", first in line.
        status = "queued" if job.status == "running" and not job.detail else job.status
        if status == "queued":
            extra["queue_position"] = sum(1 for j in self.store.unfinished() if j.seq < job.seq)
        else:
            detail = dict(job.detail)
            status = detail.pop("phase", "running")
            extra.update(detail)
        out = self._answer(kind, job.id, job.spec, status, job.progress, **extra)
        for key in ("step", "steps"):  # the worker's report (None before a stage starts) wins
            if key in job.detail:
                out[key] = job.detail[key]
        return out

    def _get(self, job_id: str, kind: str | None) -> JobRecord | None:
        job = self.store.get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            return None
        if job.status == "running" and job.heartbeat < time.time() - 3 * HEARTBEAT_S:
            self._recover()  # its worker may have died: if so, report it failed
            job = self.store.get(job_id) or job
        return job

    # ----------------------------------------------------------------------------------------
    # Operations

    def submit(self, req: JobRequest) -> dict[str, Any]:
        """Start `req` unless it is cached (done) or unfinished (joined); JobsBusy past the cap."""
        kind = KINDS[req.kind]
        record = JobRecord(req.id, req.kind, req.spec, estimate_s=req.estimate_s)
        cached = kind.cached_result(req.spec)
        if cached is not None:
            self.store.remember(JobRecord(req.id, req.kind, req.spec, status="done", progress=1.0,
                                          result=cached, estimate_s=req.estimate_s))
            return self._done(kind, req.id, req.spec, cached, req.estimate_s)
        job, created = self.store.submit(record, max_pending=MAX_PENDING)
        if created or job.status == "queued":
            self.worker.wake()
        return self._view(job)

    def lookup(self, req: JobRequest) -> dict[str, Any]:
        """The status of `req` without starting anything."""
        kind = KINDS[req.kind]
        cached = kind.cached_result(req.spec)
        if cached is not None:
            job = self.store.get(req.id)
            result = {**cached, **(job.result if job is not None else {})}
            return self._done(kind, req.id, req.spec, result, req.estimate_s)
        job = self._get(req.id, req.kind)
        if job is not None:
            return self._view(job)
        return self._answer(kind, req.id, req.spec, "untrained", 0.0, estimate_s=req.estimate_s)

    def status(self, job_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """The job `job_id` (of `kind`, if given), or None if unknown."""
        job = self._get(job_id, kind)
        if job is not None:
            return self._view(job)
        for k in ([KINDS[kind]] if kind is not None else KINDS.values()):
            spec = k.spec_of(job_id)
            cached = None if spec is None else k.cached_result(spec)
            if cached is not None:
                return self._done(k, job_id, spec, cached)
        return None

    def cancel(self, job_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """Cancel a queued or running job; a finished one is reported as it is. None if unknown."""
        job = self._get(job_id, kind)
        if job is None:
            return None
        if job.status in UNFINISHED:
            job = self.store.cancel(job_id) or job
        return self._view(job)

    def shutdown(self) -> None:
        """Stop this process's worker (a running job is failed by the next start)."""
        self.worker.stop()
