"""Train-and-decompose jobs for the web API: the trained model of one configuration, built in
the background training worker that SAE jobs also use (so two trainings never share the cores).

Steps of a job (`_job`, in the worker process):
1. Train every compared SAE that is not cached yet, reporting each one's steps.
2. Train the MLP and decompose it (`spd_readout.trained_table(train=True)`, what
   `basisgraph decompose` runs), reporting their steps through its `on_progress`.
3. Remove the progress file: from now on the disk cache answers, even after a restart.

The job id is a sha256 of the configuration and the settings, so asking twice joins the running
job, and a cached model is "done" at once. Progress is a weighted sum over the stages (the
decomposition weighs most) and never goes down. A request never trains: `status` only reads.

Sizes are bounded (`check_size`): a configuration past MAX_ANIMALS, MAX_DIMS or MAX_CIRCUITS is
refused with the field and its range, because training and decomposing it would take too long.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from basisgraph.cache import cache_dir
from basisgraph.config import Config, ConfigError
from basisgraph.decomposition.panels import Settings, model_config
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.jobs.sae import MAX_PENDING, JobsBusy, failure_message, run_in_worker, write_progress

__all__ = ["MAX_ANIMALS", "MAX_DIMS", "MAX_CIRCUITS", "check_size", "job_key", "is_cached",
           "submit", "lookup", "status", "shutdown"]

MAX_ANIMALS = 1000  # animals a trained model may have (the post's default)
MAX_DIMS = 64  # attributes + random dims
MAX_CIRCUITS = 20  # circuits per family (the MLP outputs 3 x this)
# Rough share of wall time per stage, from the defaults (N = 1000, d = 50): each SAE about 30 s,
# the MLP about 50 s, the decomposition about 35 s.
_WEIGHTS = {"sae": 1.0, "mlp": 1.5, "spd": 1.0}
_DONE_AT = 0.97  # the read-out after the last step takes the rest of the bar
DEFAULT = Settings()  # the defaults of `basisgraph decompose`
# What the web app and the HTML export build and show: the defaults (tests swap in tiny ones).
# Resolved per configuration, since the compared SAEs depend on its sizes.
SETTINGS = DEFAULT


def check_size(cfg: Config) -> None:
    """ConfigError naming the field if `cfg` is too large to train and decompose here."""
    if cfg.animals > MAX_ANIMALS:
        raise ConfigError("animals", cfg.animals, f"an integer from 2 to {MAX_ANIMALS} for the "
                          "trained model (training and decomposing must finish in minutes)")
    if cfg.d_model > MAX_DIMS:
        raise ConfigError("attributes", cfg.attributes, f"attributes + random_dims at most {MAX_DIMS} "
                          "for the trained model")
    if cfg.circuits > MAX_CIRCUITS:
        raise ConfigError("circuits", cfg.circuits, f"an integer from 1 to {MAX_CIRCUITS} for the "
                          "trained model")


def _settings_doc(s: Settings) -> dict:
    return {"train": dataclasses.asdict(s.train), "spd": dataclasses.asdict(s.spd),
            "saes": [x.model_dump(mode="json") for x in s.saes]}


def job_key(cfg: Config, settings: Settings) -> str:
    """The job id: sha256 of the configuration (coverage left out) and the resolved settings."""
    from basisgraph.decomposition.mlp import cache_key

    cfg = model_config(cfg)
    return cache_key("decompose-job", cfg, json.dumps(_settings_doc(settings.resolve(cfg)), sort_keys=True))


def is_cached(cfg: Config, settings: Settings) -> bool:
    """Whether the MLP and its decomposition are on disk (the SAEs are optional extras). Checks
    the files only: every table and panel request asks, and loading them is the view's job."""
    from basisgraph.decomposition.mlp import mlp_path
    from basisgraph.decomposition.spd import decomposition_path

    s, cfg = settings.resolve(cfg), model_config(cfg)
    return mlp_path(cfg, s.train).exists() and decomposition_path(cfg, s.train, s.spd).exists()


# --------------------------------------------------------------------------------------------
# The worker (runs in the child process)


def _job(cfg_json: str, settings_json: str, cache_root: str, progress_path: str) -> dict:
    os.environ["BASISGRAPH_CACHE"] = cache_root
    import torch

    from basisgraph.decomposition.mlp import TrainConfig
    from basisgraph.decomposition.spd import SPDConfig
    from basisgraph.decomposition.table import trained_table
    from basisgraph.dictionaries.sae import train_sae

    torch.set_num_threads(1)  # small matrices: one thread is as fast, and the server keeps a core
    cfg = Config.model_validate_json(cfg_json)
    doc = json.loads(settings_json)
    tcfg, scfg = TrainConfig(**doc["train"]), SPDConfig(**doc["spd"])
    saes = [SAEConfig.model_validate(x).resolve(cfg) for x in doc["saes"]]
    names = [f"SAE {s.kind}:{s.width}" for s in saes] + ["train MLP", "decompose (SPD)"]
    weights = [_WEIGHTS["sae"]] * len(saes) + [_WEIGHTS["mlp"], _WEIGHTS["spd"]]
    path = Path(progress_path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def report(i: int, done: int, total: int) -> None:
        frac = (sum(weights[:i]) + weights[i] * min(done / max(total, 1), 1.0)) / sum(weights)
        write_progress(path, {"status": "running", "stage": names[i], "stage_index": i,
                              "stages": len(names), "step": done, "steps": total,
                              "progress": round(_DONE_AT * frac, 4)})

    write_progress(path, {"status": "running", "stage": "loading", "stage_index": 0,
                          "stages": len(names), "step": None, "steps": None, "progress": 0.0})
    for i, s in enumerate(saes):
        train_sae(cfg, s, progress=lambda step, steps, _loss, i=i: report(i, step, steps))
    stage = {"mlp": len(saes), "spd": len(saes) + 1}
    t = trained_table(cfg, tcfg, scfg, train=True, sae_cfgs=saes,
                      on_progress=lambda name, done, total: report(stage[name], done, total))
    path.unlink(missing_ok=True)
    return {"recovery": t["readout"]["recovery"], "fit": t["readout"]["fit"]["fve_per_family"]}


# --------------------------------------------------------------------------------------------
# The registry (server process)


@dataclass
class _Job:
    key: str
    root: str
    config: Config
    future: concurrent.futures.Future | None
    submitted: float
    progress: float = 0.0
    stage: str | None = None


_LOCK = threading.Lock()
_JOBS: dict[tuple[str, str], _Job] = {}  # (cache root, key) -> job


def _root() -> str:
    return str(cache_dir())


def _progress_path(root: str, key: str) -> Path:
    return Path(root) / "trained" / "jobs" / f"{key}.json"


def _describe(key: str, cfg: Config, state: str, progress: float, **extra: Any) -> dict:
    query = urlencode({k: str(v) for k, v in cfg.overrides().items() if k != "coverage"})
    out = {"id": key, "status": state, "progress": round(min(max(progress, 0.0), 1.0), 4),
           "poll": f"/api/v1/trained/jobs/{key}", "config": cfg.model_dump(mode="json"),
           "query": query}
    if state == "done":
        out["table"] = "/api/v1/trained/table" + (f"?{query}" if query else "")
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _unfinished() -> list[_Job]:
    return [j for j in _JOBS.values() if j.future is not None and not j.future.done()]


def submit(cfg: Config, settings: Settings = DEFAULT) -> dict:
    """Start building the trained model of `cfg` unless it is cached or already being built.

    Returns the job's status (see `status`). Raises ConfigError past the size bounds and
    JobsBusy when MAX_PENDING jobs wait.
    """
    check_size(cfg)
    key, root = job_key(cfg, settings), _root()
    with _LOCK:
        job = _JOBS.get((root, key))
        if job is not None and job.future is not None and not job.future.done():
            return _status(job)
        if is_cached(cfg, settings):
            job = _JOBS[(root, key)] = _Job(key, root, cfg, None, time.time(), 1.0)
            return _status(job)
        if len(_unfinished()) > MAX_PENDING:
            raise JobsBusy(f"{len(_unfinished())} training jobs are running or waiting; retry later")
        s = settings.resolve(cfg)
        # A worker that died mid-build leaves its file behind: it must not pass for progress.
        _progress_path(root, key).unlink(missing_ok=True)
        future = run_in_worker(_job, model_config(cfg).model_dump_json(), json.dumps(_settings_doc(s)), root,
                               str(_progress_path(root, key)))
        job = _JOBS[(root, key)] = _Job(key, root, cfg, future, time.time())
        return _status(job)


def lookup(cfg: Config, settings: Settings = DEFAULT) -> dict:
    """The status of the trained model of `cfg` without starting anything: "done" if cached,
    its job's if one was submitted here, else "untrained"."""
    check_size(cfg)
    key, root = job_key(cfg, settings), _root()
    if is_cached(cfg, settings):
        return _describe(key, cfg, "done", 1.0)
    with _LOCK:
        job = _JOBS.get((root, key))
        if job is not None:
            return _status(job)
    return _describe(key, cfg, "untrained", 0.0)


def status(key: str) -> dict | None:
    """The status of job `key` submitted to this server process, or None if unknown."""
    with _LOCK:
        job = _JOBS.get((_root(), key))
        return None if job is None else _status(job)


def _status(job: _Job) -> dict:
    """Status of a registered job; called with _LOCK held."""
    fut = job.future
    if fut is None:
        return _describe(job.key, job.config, "done", 1.0)
    if fut.done():
        exc = fut.exception()
        if exc is not None:
            return _describe(job.key, job.config, "failed", job.progress, stage=job.stage,
                             error=failure_message(exc))
        job.progress = 1.0
        return _describe(job.key, job.config, "done", 1.0, result=fut.result())
    state, doc = "queued", None
    try:
        doc = json.loads(_progress_path(job.root, job.key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    extra: dict[str, Any] = {}
    if doc is not None:
        state = "running"
        job.progress = max(job.progress, float(doc.get("progress", 0.0)))
        job.stage = doc.get("stage")
        extra = {k: doc.get(k) for k in ("stage", "stage_index", "stages", "step", "steps")}
    elif job.progress > 0:
        state = "measuring"  # the worker removed its file and is about to return
    out = _describe(job.key, job.config, state, job.progress, **extra)
    if state == "queued":
        out["queue_position"] = len([j for j in _unfinished() if j.submitted < job.submitted])
    out["elapsed_s"] = round(time.time() - job.submitted, 1)
    return out


def shutdown() -> None:
    """Forget every job (server shutdown; sae_jobs.shutdown stops the shared worker)."""
    with _LOCK:
        _JOBS.clear()
