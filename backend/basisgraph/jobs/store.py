"""Where job state lives: a table that survives a restart and that every server process and the
worker can read. SQLite in the cache directory (`<cache>/jobs/jobs.sqlite`) is the default;
redisstore.RedisStore is the same interface on Redis (BASISGRAPH_REDIS_URL).

One row per job id (the id is a hash of what the job builds, so asking twice names one row):
- `submit` adds or re-queues a row, atomically with the pending-job cap (counted over every kind)
  and deduplication (an unfinished row is joined, not started again);
- the worker `claim`s the oldest queued row, `report`s progress (never lower than before, and only
  for its own `attempt`, so a previous run's late writes cannot show), and `finish`es it;
- `cancel` marks a row cancelled (the worker watching it stops); `interrupt` fails the rows whose
  worker died (a restart answers "failed", never 404).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

__all__ = ["JobRecord", "JobsBusy", "Store", "SQLiteStore", "UNFINISHED", "FINISHED"]

UNFINISHED = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


class JobsBusy(RuntimeError):
    """Too many jobs are already running or waiting."""


@dataclass(frozen=True)
class JobRecord:
    """One job as stored."""

    id: str  # sha256 hex of what the job builds (the kind's cache key)
    kind: str  # "sae" or "trained": which jobs.* module runs and describes it
    spec: dict[str, Any]  # the worker's arguments (JSON)
    status: str = "queued"  # queued, running, done, failed or cancelled
    seq: int = 0  # submission order over every kind: the queue order
    attempt: int = 0  # bumped by each (re)submission; the worker's writes carry it
    progress: float = 0.0  # 0..1, never lower than before within one attempt
    detail: dict[str, Any] = field(default_factory=dict)  # the last progress report (step, stage…)
    result: dict[str, Any] = field(default_factory=dict)  # what a done job reports (metrics…)
    error: str | None = None  # why it failed or was cancelled
    submitted: float = 0.0  # unix time of the submission
    heartbeat: float = 0.0  # unix time of the worker's last sign of life on it
    estimate_s: float = 0.0  # predicted run time (the cost model's seconds)


class Store(Protocol):
    """The operations the registry and the worker need; SQLiteStore and RedisStore have them."""

    def get(self, job_id: str) -> JobRecord | None: ...
    def submit(self, job: JobRecord, max_pending: int) -> tuple[JobRecord, bool]: ...
    def unfinished(self) -> list[JobRecord]: ...
    def has_queued(self) -> bool: ...
    def claim(self) -> JobRecord | None: ...
    def report(self, job_id: str, attempt: int, progress: float | None,
               detail: dict[str, Any] | None) -> bool: ...
    def finish(self, job_id: str, attempt: int, status: str, result: dict[str, Any] | None = None,
               error: str | None = None) -> None: ...
    def cancel(self, job_id: str) -> JobRecord | None: ...
    def remember(self, job: JobRecord) -> None: ...
    def interrupt(self, heartbeat_before: float) -> int: ...


_COLUMNS = ("id", "kind", "spec", "status", "seq", "attempt", "progress", "detail", "result", "error",
            "submitted", "heartbeat", "estimate_s")
_JSON = ("spec", "detail", "result")
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
    seq INTEGER NOT NULL, attempt INTEGER NOT NULL, progress REAL NOT NULL, detail TEXT NOT NULL,
    result TEXT NOT NULL, error TEXT, submitted REAL NOT NULL, heartbeat REAL NOT NULL,
    estimate_s REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (status, seq);
-- columns: {", ".join(_COLUMNS)}"""


def _row(values: tuple) -> JobRecord:
    doc = dict(zip(_COLUMNS, values))
    for k in _JSON:
        doc[k] = json.loads(doc[k])
    return JobRecord(**doc)


class SQLiteStore:
    """Jobs in one SQLite file (WAL, so readers never wait for the worker's writes)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        # A connection per call: cheap, and safe from any thread or process.
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _select(self, db: sqlite3.Connection, where: str, *args: Any) -> list[JobRecord]:
        rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE {where}", args).fetchall()
        return [_row(r) for r in rows]

    def _put(self, db: sqlite3.Connection, job: JobRecord) -> None:
        values = [getattr(job, c) for c in _COLUMNS]
        values = [json.dumps(v) if c in _JSON else v for c, v in zip(_COLUMNS, values)]
        db.execute(f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) VALUES "
                   f"({', '.join('?' * len(_COLUMNS))})", values)

    def get(self, job_id: str) -> JobRecord | None:
        """The job `job_id`, or None if it was never submitted to this store."""
        with self._tx() as db:
            found = self._select(db, "id = ?", job_id)
        return found[0] if found else None

    def submit(self, job: JobRecord, max_pending: int) -> tuple[JobRecord, bool]:
        """Queue `job` unless a job of its id is unfinished (then that one, False). Raises JobsBusy
        when more than `max_pending` jobs of any kind are running or waiting."""
        with self._tx(write=True) as db:
            old = self._select(db, "id = ?", job.id)
            if old and old[0].status in UNFINISHED:
                return old[0], False
            busy = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]
            if busy > max_pending:
                raise JobsBusy(f"{busy} training jobs are running or waiting; retry later")
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            new = replace(job, status="queued", seq=seq, attempt=(old[0].attempt if old else 0) + 1,
                          progress=0.0, detail={}, result={}, error=None, submitted=time.time(),
                          heartbeat=0.0)
            self._put(db, new)
        return new, True

    def unfinished(self) -> list[JobRecord]:
        """Running and queued jobs of every kind, in queue order."""
        with self._tx() as db:
            return self._select(db, "status IN ('queued', 'running') ORDER BY seq")

    def has_queued(self) -> bool:
        """Whether a job waits for a worker."""
        with self._tx() as db:
            return db.execute("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1").fetchone() is not None

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now marked running (None when nothing waits)."""
        with self._tx(write=True) as db:
            found = self._select(db, "status = 'queued' ORDER BY seq LIMIT 1")
            if not found:
                return None
            job = replace(found[0], status="running", heartbeat=time.time())
            self._put(db, job)
        return job

    def report(self, job_id: str, attempt: int, progress: float | None,
               detail: dict[str, Any] | None) -> bool:
        """Record progress (never lowered) and a heartbeat; False when the job is no longer
        running under `attempt` (cancelled or re-queued): the worker should stop."""
        with self._tx(write=True) as db:
            cur = db.execute(
                "UPDATE jobs SET heartbeat = ?, progress = MAX(progress, COALESCE(?, progress)), "
                "detail = COALESCE(?, detail) WHERE id = ? AND attempt = ? AND status = 'running'",
                (time.time(), progress, None if detail is None else json.dumps(detail), job_id, attempt))
            return cur.rowcount == 1

    def finish(self, job_id: str, attempt: int, status: str, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        """End a running job as done or failed (ignored when it is not this attempt's any more)."""
        with self._tx(write=True) as db:
            db.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, heartbeat = ?, "
                "progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END "
                "WHERE id = ? AND attempt = ? AND status = 'running'",
                (status, json.dumps(result or {}), error, time.time(), status, job_id, attempt))

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued or running job (a finished one stays as it is); None if unknown."""
        with self._tx(write=True) as db:
            db.execute("UPDATE jobs SET status = 'cancelled', error = 'cancelled by a DELETE request' "
                       "WHERE id = ? AND status IN ('queued', 'running')", (job_id,))
            found = self._select(db, "id = ?", job_id)
        return found[0] if found else None

    def remember(self, job: JobRecord) -> None:
        """Store `job` (a done one found in the cache) unless its id is already known."""
        with self._tx(write=True) as db:
            if not self._select(db, "id = ?", job.id):
                self._put(db, replace(job, submitted=time.time(), heartbeat=time.time()))

    def interrupt(self, heartbeat_before: float) -> int:
        """Fail the running jobs whose worker has not reported since `heartbeat_before` (it died
        with a server); returns how many."""
        with self._tx(write=True) as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'failed', error = 'interrupted: the worker stopped "
                "(server restart or crash); submit it again to retry' "
                "WHERE status = 'running' AND heartbeat < ?", (heartbeat_before,))
            return cur.rowcount
