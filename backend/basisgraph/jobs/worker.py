"""The training worker: one process per cache directory that takes jobs from the store, runs them
and writes their progress back, and the server's handle that starts and stops it.

Steps of the worker (`main`, run as `python -m basisgraph.jobs.worker ROOT [REDIS_URL]`):
1. Tie its life to the server's: a thread reads its stdin, a pipe whose other end only the server
   holds, and exits the moment it closes (server stopped or SIGKILLed); on Linux the kernel also
   sends SIGKILL when the spawning thread dies (PR_SET_PDEATHSIG).
2. Take the cache's worker lock (one trainer per cache: two would share the two cores), remove the
   partial files of dead processes, and fail the jobs a dead worker left "running".
3. Claim the oldest queued job of any kind and run it; a watcher thread sends a heartbeat every
   second and exits the process at once when the job is cancelled (no CPU spent after DELETE).
4. After each job, keep the cache within its byte budget; exit after IDLE_EXIT_S without work.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from basisgraph.jobs import budget
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs import trained as trained_jobs
from basisgraph.jobs.kind import Cancelled, JobKind
from basisgraph.jobs.redisstore import RedisStore
from basisgraph.jobs.store import JobRecord, SQLiteStore, Store
from basisgraph.lifecycle import die_with_parent

__all__ = ["KINDS", "WorkerProcess", "open_store", "cache_lock", "clean_partial", "recover", "main"]

KINDS: dict[str, JobKind] = {k.name: k for k in (sae_jobs.KIND, trained_jobs.KIND)}
HEARTBEAT_S = 1.0  # how often a running job's worker says it is alive (and checks for cancel)
STALE_S = 30.0  # on Redis, a running job without a heartbeat this long has lost its worker
POLL_S = 0.25  # how often an idle worker looks for a queued job
IDLE_EXIT_S = 60.0  # an idle worker exits (frees torch's memory); the server restarts it on demand
REPORT_EVERY_S = 0.1  # progress writes at most this often (a phase change is always written)
# Temporary names the cache writers use: x.tmp<pid> (mlp, spd) and x.<pid>.tmp (sae, store).
_PARTIAL = re.compile(r"\.tmp(\d+)$|\.(\d+)\.tmp$")


def open_store(root: Path, redis_url: str | None) -> Store:
    """The job store: Redis when a URL is given, else SQLite in the cache directory."""
    return RedisStore(redis_url) if redis_url else SQLiteStore(Path(root) / "jobs" / "jobs.sqlite")


@contextlib.contextmanager
def cache_lock(root: Path, blocking: bool) -> Iterator[bool]:
    """Hold the cache's worker lock (yields False when not blocking and another holds it)."""
    path = Path(root) / "jobs" / "worker.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())  # who holds it, for people and tests
        yield True
    finally:
        os.close(fd)  # releases the lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_partial(root: Path, own: bool = False) -> list[Path]:
    """Remove the half-written files of dead processes (and this one's when `own`)."""
    removed = []
    for path in Path(root).rglob("*tmp*"):
        m = _PARTIAL.search(path.name)
        if not m or not path.is_file():
            continue
        pid = int(m.group(1) or m.group(2))
        if (pid == os.getpid() and own) or (pid != os.getpid() and not _alive(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def recover(root: Path, store: Store, redis: bool) -> None:
    """After a worker or server died: fail the jobs it left running, remove its partial files.
    With SQLite, a free cache lock proves no worker runs on it, so every running job is failed;
    on Redis other machines may be running jobs, so only the silent ones are."""
    with cache_lock(root, blocking=False) as free:
        if free:
            clean_partial(root)
        if free and not redis:
            store.interrupt(float("inf"))  # a worker marks a job running only under the lock
    if redis:
        store.interrupt(time.time() - STALE_S)


# --------------------------------------------------------------------------------------------
# The worker process


def _die_with_parent() -> None:
    die_with_parent()

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()  # returns at EOF: the server closed the pipe or died
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _run(store: Store, root: Path, job: JobRecord) -> None:
    done = threading.Event()

    def watch() -> None:
        while not done.wait(HEARTBEAT_S):
            if not store.report(job.id, job.attempt, None, None) and not done.is_set():
                clean_partial(root, own=True)
                os._exit(0)  # cancelled: stop now, whatever the job is computing

    last = {"t": 0.0, "phase": None}

    def report(progress: float, detail: dict) -> bool:
        phase = (detail.get("phase"), detail.get("stage"))
        now = time.monotonic()
        if phase == last["phase"] and now - last["t"] < REPORT_EVERY_S:
            return True
        last.update(t=now, phase=phase)
        return store.report(job.id, job.attempt, progress, detail)

    threading.Thread(target=watch, daemon=True, name="heartbeat").start()
    status, result, error = "done", None, None
    try:
        result = KINDS[job.kind].run(job.spec, report)
    except Cancelled:
        status = "cancelled"
    except Exception as exc:  # the job failed; the worker goes on with the next one
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        done.set()  # before finishing: the watcher must not take "finished" for "cancelled"
    if status == "cancelled":
        clean_partial(root, own=True)
    else:
        store.finish(job.id, job.attempt, status, result=result, error=error)


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    root, redis_url = Path(args[0]), (args[1] if len(args) > 1 and args[1] else None)
    os.environ["BASISGRAPH_CACHE"] = str(root)  # the cache writers read it
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(5)  # the server keeps the upper hand on a busy machine
    store = open_store(root, redis_url)
    with cache_lock(root, blocking=True):
        clean_partial(root)
        store.interrupt(float("inf") if redis_url is None else time.time() - STALE_S)
        idle = time.monotonic()
        while time.monotonic() - idle < IDLE_EXIT_S:
            job = store.claim()
            if job is None:
                time.sleep(POLL_S)
                continue
            started = time.time()
            _run(store, root, job)
            budget.enforce(root, keep_since=started)
            idle = time.monotonic()
    return 0


# --------------------------------------------------------------------------------------------
# The server's handle


class WorkerProcess:
    """Starts the worker when a job waits, restarts it after it exits while jobs wait, stops it
    with the server. One monitor thread spawns it (so PR_SET_PDEATHSIG follows that thread)."""

    def __init__(self, root: Path, redis_url: str | None, has_queued: Callable[[], bool],
                 after_exit: Callable[[], None]):
        self.root, self.redis_url = Path(root), redis_url
        self._has_queued, self._after_exit = has_queued, after_exit
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def wake(self) -> None:
        """A job was queued: make sure a worker runs."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._monitor, daemon=True, name="job-worker")
                self._thread.start()
        self._wake.set()

    def _monitor(self) -> None:
        while not self._stop.is_set():
            if not self._has_queued():
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "basisgraph.jobs.worker", str(self.root), self.redis_url or ""],
                stdin=subprocess.PIPE, env={**os.environ, "BASISGRAPH_CACHE": str(self.root)})
            self.proc.wait()
            self.proc.stdin.close()
            if not self._stop.is_set():
                self._after_exit()  # fail what it left running, remove its partial files
                self._stop.wait(0.5)  # a worker that dies at once is not restarted in a loop

    def stop(self) -> None:
        """Stop the worker (server shutdown): a running job is abandoned, not waited for."""
        self._stop.set()
        self._wake.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def pid(self) -> int | None:
        """The running worker's pid, if any."""
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None


if __name__ == "__main__":
    sys.exit(main())
