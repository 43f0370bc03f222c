"""SAE training jobs for the web API: one background worker process, progress in a small file.

Training never runs inside a request. `submit` hands a (study Config, SAEConfig) pair to a
`ProcessPoolExecutor(max_workers=1)` whose worker is a fresh interpreter (spawn), so:
- the server keeps answering other requests while an SAE trains (the worker also lowers its
  own scheduling priority);
- torch's thread and determinism settings stay inside the worker;
- jobs run one at a time, in the order they were asked for; at most MAX_PENDING wait.

The job id is the SAE's cache key (sae.cache_key), so asking twice for the same SAE joins the
running job, and a cached SAE is "done" at once, even after a restart. The worker writes its
progress (step, steps, loss) to `<cache>/sae/jobs/<key>.json` about 100 times per run, under a
temporary name and then renamed; `status` reads it and never lets the reported progress go
down. The worker is handed the cache directory explicitly, so it writes where the server
reads, whatever the environment of the process that happened to start the pool.

`sae_from_query` turns API query values into a resolved SAEConfig, with bounds tighter than
SAEConfig's own, so a job cannot run for ever: width <= 4 (animals + attributes) and <= 8192,
steps <= 20000.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from basisgraph.cache import cache_dir, sae_doc
from basisgraph.config import Config, ConfigError
from basisgraph.dictionaries.config import SAEConfig, cache_key, parse_sae_config

__all__ = ["MAX_STEPS", "MAX_WIDTH", "WIDTH_FACTOR", "MAX_PENDING", "QUERY_KEYS", "JobsBusy",
           "sae_from_query", "sae_from_spec", "sae_query", "submit", "lookup", "status", "shutdown",
           "run_in_worker", "failure_message", "write_progress", "init_worker"]

MAX_STEPS = 20_000  # optimiser steps a job may ask for
MAX_WIDTH = 8192  # latents a job may ask for (also at most WIDTH_FACTOR * (animals + attributes))
WIDTH_FACTOR = 4
MAX_PENDING = 4  # jobs that may wait behind the running one
# API query key -> SAEConfig field. The study has a `seed` of its own, hence `sae_seed`.
QUERY_KEYS = {"kind": "kind", "width": "width", "l1": "l1", "k": "k", "aux": "aux",
              "steps": "steps", "sae_seed": "seed"}
_FIELD_OF = {v: k for k, v in QUERY_KEYS.items()}


class JobsBusy(RuntimeError):
    """Too many training jobs are already waiting."""


# --------------------------------------------------------------------------------------------
# Query values


def width_limit(cfg: Config) -> int:
    """Largest width a job may ask for under `cfg`."""
    return min(MAX_WIDTH, WIDTH_FACTOR * (cfg.animals + cfg.attributes))


def sae_from_query(cfg: Config, query: Mapping[str, Any]) -> SAEConfig:
    """The resolved SAEConfig named by API query values (unknown keys ignored).

    Raises ConfigError naming the query key (e.g. `sae_seed`, not `seed`) and its range.
    """
    values = {field: query[key] for key, field in QUERY_KEYS.items()
              if query.get(key) not in (None, "")}
    try:
        scfg = parse_sae_config(values)
    except ConfigError as exc:
        name = _FIELD_OF.get(exc.field, exc.field)
        allowed = exc.allowed
        if name == "width":
            allowed = f"an integer from 1 to {width_limit(cfg)}"
        elif name == "steps":
            allowed = f"an integer from 1 to {MAX_STEPS}"
        raise ConfigError(name, exc.value, allowed) from None
    limit = width_limit(cfg)
    width = cfg.animals + cfg.attributes if scfg.width is None else scfg.width
    if width > limit:
        raise ConfigError("width", width, f"an integer from 1 to {limit} (at most {WIDTH_FACTOR} x "
                          f"(animals + attributes) and at most {MAX_WIDTH}; the default is "
                          "animals + attributes)")
    if scfg.steps > MAX_STEPS:
        raise ConfigError("steps", scfg.steps, f"an integer from 1 to {MAX_STEPS}")
    return scfg.resolve(cfg)


def sae_from_spec(cfg: Config, spec: str) -> SAEConfig:
    """The resolved SAEConfig of a link's `sae` value, kind:width[:sparsity[:steps[:seed]]]
    (the page's spec; missing parts take their defaults). ConfigError names `sae` if malformed."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 5:
        raise ConfigError("sae", spec, "kind:width[:sparsity[:steps[:seed]]], e.g. relu:1050:1")
    kind = parts[0]
    query = {"kind": kind, "width": parts[1]}
    names = ["l1" if kind in ("relu", "matryoshka") else "k", "steps", "sae_seed"]
    query.update(zip(names, parts[2:]))
    return sae_from_query(cfg, query)


def sae_query(scfg: SAEConfig) -> dict[str, str]:
    """The API query keys of a resolved SAEConfig: kind, width, its sparsity, steps, sae_seed."""
    out = {"kind": scfg.kind, "width": str(scfg.width)}
    if scfg.uses_l1:
        out["l1"] = f"{scfg.l1:g}"
    else:
        out["k"] = str(scfg.k)
        if scfg.aux != SAEConfig.model_fields["aux"].default:
            out["aux"] = f"{scfg.aux:g}"
    out["steps"] = str(scfg.steps)
    out["sae_seed"] = str(scfg.seed)
    return out


# --------------------------------------------------------------------------------------------
# The worker (runs in the child process)


def write_progress(path: Path, doc: dict) -> None:
    """Replace a job's progress file atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def init_worker() -> None:
    """Give the server the upper hand on a busy machine."""
    with contextlib.suppress(OSError):
        os.nice(5)


def _train_job(cfg_json: str, sae_json: str, cache_root: str, progress_path: str) -> dict:
    """Train one SAE into the cache at `cache_root`; returns its id and metrics."""
    os.environ["BASISGRAPH_CACHE"] = cache_root
    from basisgraph.dictionaries.sae import train_sae  # torch is imported here, in the worker only

    cfg = Config.model_validate_json(cfg_json)
    scfg = SAEConfig.model_validate_json(sae_json)
    path = Path(progress_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_progress(path, {"status": "running", "step": 0, "steps": scfg.steps, "progress": 0.0})

    def report(step: int, steps: int, loss: float) -> None:
        write_progress(path, {"status": "running" if step < steps else "measuring",
                               "step": step, "steps": steps, "loss": round(loss, 6),
                               "progress": round(_TRAIN_SHARE * step / steps, 4)})

    t = train_sae(cfg, scfg, progress=report)
    path.unlink(missing_ok=True)
    return {"id": t.id, "metrics": _public_metrics(t.metrics)}


_TRAIN_SHARE = 0.95  # of the progress bar; the held-out metrics take the rest


def _public_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "loss_curve"}


# --------------------------------------------------------------------------------------------
# The registry (server process)


@dataclass
class _Job:
    key: str
    root: str
    config: Config
    sae: SAEConfig
    future: concurrent.futures.Future | None
    submitted: float
    progress: float = 0.0
    step: int = 0


_LOCK = threading.Lock()
_JOBS: dict[tuple[str, str], _Job] = {}  # (cache root, key) -> job
_POOL: concurrent.futures.ProcessPoolExecutor | None = None


def _pool() -> concurrent.futures.ProcessPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)
    return _POOL


def run_in_worker(fn, *args) -> concurrent.futures.Future:
    """Run fn(*args) in the one training worker process (SAE and trained-model jobs share it,
    so two trainings never compete for the two cores); a broken worker is replaced once."""
    global _POOL
    try:
        return _pool().submit(fn, *args)
    except concurrent.futures.process.BrokenProcessPool:
        _POOL = None
        return _pool().submit(fn, *args)


def failure_message(exc: BaseException) -> str:
    """One line on why a job failed; a dead worker is dropped so the next job starts a new one."""
    global _POOL
    if isinstance(exc, concurrent.futures.process.BrokenProcessPool):
        _POOL = None
        return "the training process stopped unexpectedly (out of memory?)"
    return f"{type(exc).__name__}: {exc}"[:300]


def _root() -> str:
    return str(cache_dir())


def _progress_path(root: str, key: str) -> Path:
    return Path(root) / "sae" / "jobs" / f"{key}.json"


def _unfinished() -> list[_Job]:
    return [j for j in _JOBS.values() if j.future is not None and not j.future.done()]


def submit(cfg: Config, scfg: SAEConfig) -> dict:
    """Start training (cfg, scfg) in the background unless it is cached or already running.

    Returns the job's status (see `status`). Raises JobsBusy when MAX_PENDING jobs wait.
    """
    scfg = scfg.resolve(cfg)
    key, root = cache_key(cfg, scfg), _root()
    with _LOCK:
        job = _JOBS.get((root, key))
        if job is not None and job.future is not None and not job.future.done():
            return _status(job)
        if sae_doc(key, root) is not None:
            job = _JOBS[(root, key)] = _Job(key, root, cfg, scfg, None, time.time(), 1.0)
            return _status(job)
        if len(_unfinished()) > MAX_PENDING:
            raise JobsBusy(f"{len(_unfinished())} training jobs are running or waiting; retry later")
        future = run_in_worker(_train_job, cfg.model_dump_json(), scfg.model_dump_json(), root,
                               str(_progress_path(root, key)))
        job = _JOBS[(root, key)] = _Job(key, root, cfg, scfg, future, time.time())
        return _status(job)


def lookup(cfg: Config, scfg: SAEConfig) -> dict:
    """The status of the SAE (cfg, scfg) without starting anything: its job's if one was
    submitted here, "done" if it is cached, else "untrained"."""
    scfg = scfg.resolve(cfg)
    key, root = cache_key(cfg, scfg), _root()
    doc = sae_doc(key, root)  # first: it may have been trained elsewhere since a failed job
    if doc is not None:
        return _describe(key, cfg, scfg, "done", 1.0, scfg.steps,
                         metrics=_public_metrics(doc.get("metrics", {})))
    with _LOCK:
        job = _JOBS.get((root, key))
        if job is not None:
            return _status(job)
    return _describe(key, cfg, scfg, "untrained", 0.0, 0)


def status(key: str) -> dict | None:
    """The status of job `key` under the current cache directory, or None if unknown.

    A key that was never submitted here but is in the cache reports "done".
    """
    root = _root()
    with _LOCK:
        job = _JOBS.get((root, key))
        if job is not None:
            return _status(job)
    doc = sae_doc(key, root)
    if doc is None:
        return None
    cfg = Config.model_validate(doc["config"])
    scfg = SAEConfig.model_validate(doc["sae"])
    return _describe(key, cfg, scfg, "done", 1.0, scfg.steps, metrics=_public_metrics(doc["metrics"]))


def _status(job: _Job) -> dict:
    """Status of a registered job; called with _LOCK held."""
    fut = job.future
    if fut is None:
        doc = sae_doc(job.key, job.root) or {}
        return _describe(job.key, job.config, job.sae, "done", 1.0, job.sae.steps,
                         metrics=_public_metrics(doc.get("metrics", {})))
    if fut.done():
        exc = fut.exception()
        if exc is not None:
            msg = failure_message(exc)
            return _describe(job.key, job.config, job.sae, "failed", job.progress, job.step,
                             error=msg[:300])
        job.progress, job.step = 1.0, job.sae.steps
        return _describe(job.key, job.config, job.sae, "done", 1.0, job.sae.steps,
                         metrics=fut.result()["metrics"])
    state, loss = "queued", None
    try:
        doc = json.loads(_progress_path(job.root, job.key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    if doc is not None:
        state, loss = doc.get("status", "running"), doc.get("loss")
        job.progress = max(job.progress, float(doc.get("progress", 0.0)))
        job.step = max(job.step, int(doc.get("step", 0)))
    elif job.progress > 0:
        state = "measuring"  # the worker removed its file and is about to return
    out = _describe(job.key, job.config, job.sae, state, job.progress, job.step, loss=loss)
    if state == "queued":
        ahead = [j for j in _unfinished() if j.submitted < job.submitted]
        out["queue_position"] = len(ahead)
    out["elapsed_s"] = round(time.time() - job.submitted, 1)
    return out


def _describe(key: str, cfg: Config, scfg: SAEConfig, state: str, progress: float, step: int,
              **extra: Any) -> dict:
    query = urlencode({**{k: str(v) for k, v in cfg.overrides().items()}, **sae_query(scfg)})
    out = {"id": key, "status": state, "progress": round(min(max(progress, 0.0), 1.0), 4),
           "step": step, "steps": scfg.steps, "basis": f"sae:{scfg.kind}:{scfg.width}",
           "poll": f"/api/v1/sae/jobs/{key}", "config": cfg.model_dump(mode="json"),
           "sae": scfg.model_dump(mode="json"), "query": query}
    if state == "done":
        out["table"] = f"/api/v1/sae/table?{query}"
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def shutdown() -> None:
    """Stop the worker (server shutdown): running and waiting jobs are abandoned."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
        for job in _unfinished():
            job.future.cancel()
        _JOBS.clear()
    if pool is None:
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:  # a run can take minutes; do not wait for it
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
