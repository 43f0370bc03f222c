"""SAE training as a background job: query values -> a resolved SAEConfig, the cost model, and
the job kind the registry queues and the worker runs (jobs/registry.py, jobs/worker.py).

Steps of a job (`SAEJobs.run`, in the worker): train the SAE (`train_sae`, reporting about 100
times), measure it on held-out data, store weights and metrics in the cache.

The job id is the SAE's cache key (dictionaries.config.cache_key), so asking twice for the same
SAE joins the queued or running job, and a cached SAE is "done" at once, even after a restart.

Bounds (a job cannot run for ever): width <= 4 (animals + attributes) and <= 8192, steps <= 20000,
and the predicted run time (`estimate_s`, calibrated on this machine) at most the cost cap
(kind.max_job_seconds), else a 422 naming `width` or `steps` with the largest allowed value.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from basisgraph.cache import cache_dir, sae_doc
from basisgraph.config import Config, ConfigError
from basisgraph.dictionaries.config import SAEConfig, cache_key, parse_sae_config
from basisgraph.jobs.kind import Cancelled, JobKind, JobRequest, Reporter, max_job_seconds

__all__ = ["MAX_STEPS", "MAX_WIDTH", "WIDTH_FACTOR", "QUERY_KEYS", "KIND", "SAEJobs",
           "sae_from_query", "sae_from_spec", "sae_query", "width_limit", "estimate_s", "check_cost",
           "request", "public_metrics"]

MAX_STEPS = 20_000  # optimiser steps a job may ask for
MAX_WIDTH = 8192  # latents a job may ask for (also at most WIDTH_FACTOR * (animals + attributes))
WIDTH_FACTOR = 4
# API query key -> SAEConfig field. The study has a `seed` of its own, hence `sae_seed`.
QUERY_KEYS = {"kind": "kind", "width": "width", "l1": "l1", "k": "k", "aux": "aux",
              "steps": "steps", "sae_seed": "seed"}
_FIELD_OF = {v: k for k, v in QUERY_KEYS.items()}


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
# Cost model: seconds on this machine (2 cores), measured with relu SAEs of widths 46 to 8192
# on 32768 samples while the machine was quiet; a loaded machine takes longer.

STEP_S = 5e-3  # per optimiser step whatever the size (Python and torch overhead)
MAC_S = 3e-10  # per multiply-add of a step (batch x d_model x width), backward included
MEASURE_S = 1.0  # held-out metrics: fixed part
MEASURE_MAC_S = 5e-10  # held-out metrics: per sample x d_model x width
KIND_FACTOR = {"relu": 1.0, "topk": 1.3, "batchtopk": 1.3, "matryoshka": 1.5}  # extra loss terms


def _seconds(cfg: Config, scfg: SAEConfig, width: int, steps: int) -> float:
    per_step = STEP_S + MAC_S * scfg.batch * cfg.d_model * width * KIND_FACTOR.get(scfg.kind, 1.5)
    return steps * per_step + MEASURE_S + MEASURE_MAC_S * scfg.samples * cfg.d_model * width


def estimate_s(cfg: Config, scfg: SAEConfig) -> float:
    """Predicted seconds to train and measure the resolved SAE `scfg` on `cfg`."""
    return _seconds(cfg, scfg, scfg.width, scfg.steps)


def check_cost(cfg: Config, scfg: SAEConfig, cap_s: float | None = None) -> float:
    """The predicted seconds of `scfg`; ConfigError naming `steps` (when the width fits at the
    default step count) or `width`, with the largest allowed value, past the cap."""
    cap = max_job_seconds() if cap_s is None else cap_s
    est = estimate_s(cfg, scfg)
    if est <= cap:
        return est
    why = f"(a job may take at most {cap:g} s predicted; this one {est:.0f} s)"
    one_step = _seconds(cfg, scfg, scfg.width, 1) - _seconds(cfg, scfg, scfg.width, 0)
    max_steps = math.floor((cap - _seconds(cfg, scfg, scfg.width, 0)) / one_step)
    default_steps = SAEConfig.model_fields["steps"].default
    if max_steps >= 1 and _seconds(cfg, scfg, scfg.width, min(scfg.steps, default_steps)) <= cap:
        raise ConfigError("steps", scfg.steps, f"an integer from 1 to {max_steps} at width "
                          f"{scfg.width} {why}")
    per_width = _seconds(cfg, scfg, 1, scfg.steps) - _seconds(cfg, scfg, 0, scfg.steps)
    max_width = math.floor((cap - _seconds(cfg, scfg, 0, scfg.steps)) / per_width)
    if max_width < 1:
        raise ConfigError("steps", scfg.steps, f"an integer from 1 to {max(max_steps, 1)} {why}")
    raise ConfigError("width", scfg.width, f"an integer from 1 to {max_width} at steps="
                      f"{scfg.steps} {why}")


def _spec(cfg: Config, scfg: SAEConfig) -> dict[str, Any]:
    return {"config": cfg.model_dump(mode="json"), "sae": scfg.model_dump(mode="json")}


def _parse(spec: dict[str, Any]) -> tuple[Config, SAEConfig]:
    return Config.model_validate(spec["config"]), SAEConfig.model_validate(spec["sae"])


def request(cfg: Config, scfg: SAEConfig, *, check: bool = True) -> JobRequest:
    """The job that trains (cfg, scfg); `check` applies the cost cap (ConfigError past it)."""
    scfg = scfg.resolve(cfg)
    est = check_cost(cfg, scfg) if check else estimate_s(cfg, scfg)
    return JobRequest("sae", cache_key(cfg, scfg), _spec(cfg, scfg), round(est, 1))


def public_metrics(metrics: dict) -> dict:
    """The metrics a job reports: all but the loss curve (long, and the table has it)."""
    return {k: v for k, v in metrics.items() if k != "loss_curve"}


_TRAIN_SHARE = 0.95  # of the progress bar; the held-out metrics take the rest


class SAEJobs(JobKind):
    """Training one SAE into the cache."""

    name = "sae"

    def describe(self, spec: dict[str, Any], status: str) -> dict[str, Any]:
        cfg, scfg = _parse(spec)
        query = urlencode({**{k: str(v) for k, v in cfg.overrides().items()}, **sae_query(scfg)})
        out = {"step": scfg.steps if status == "done" else 0, "steps": scfg.steps,
               "basis": f"sae:{scfg.kind}:{scfg.width}", "config": spec["config"],
               "sae": spec["sae"], "query": query}
        if status == "done":
            out["table"] = f"/api/v1/sae/table?{query}"
        return out

    def cached_result(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        cfg, scfg = _parse(spec)
        doc = sae_doc(cache_key(cfg, scfg))
        return None if doc is None else {"metrics": public_metrics(doc.get("metrics", {}))}

    def spec_of(self, job_id: str) -> dict[str, Any] | None:
        doc = sae_doc(job_id)
        return None if doc is None else {"config": doc["config"], "sae": doc["sae"]}

    def touch(self, spec: dict[str, Any]) -> None:
        key = cache_key(*_parse(spec))
        for path in (cache_dir() / "sae" / f"{key}.json", cache_dir() / "sae" / f"{key}.pt"):
            with contextlib.suppress(OSError):  # evicted meanwhile: nothing to mark
                os.utime(path)

    def run(self, spec: dict[str, Any], report: Reporter) -> dict[str, Any]:
        from basisgraph.dictionaries.sae import train_sae  # torch: in the worker only

        cfg, scfg = _parse(spec)
        report(0.0, {"phase": "running", "step": 0, "steps": scfg.steps})

        def progress(step: int, steps: int, loss: float) -> None:
            phase = "running" if step < steps else "measuring"
            if not report(_TRAIN_SHARE * step / steps, {"phase": phase, "step": step, "steps": steps,
                                                         "loss": round(loss, 6)}):
                raise Cancelled

        t = train_sae(cfg, scfg, progress=progress)
        return {"metrics": public_metrics(t.metrics)}


KIND = SAEJobs()
