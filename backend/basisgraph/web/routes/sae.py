"""The SAE routes of the API: training jobs, the table with an SAE, SAE panels, the SAE sweep.

- `POST /api/v1/sae/jobs?<config>&<sae>` starts training in the background worker (sae_jobs.py)
  and answers 202 with the job (id, status, progress, poll URL); 200 with status "done" at once
  if the SAE is cached; 429 if too many jobs wait.
- `GET /api/v1/sae/jobs?<config>&<sae>` looks an SAE up without starting anything: its job's
  status, "done" if cached, else "untrained" (always 200).
- `GET /api/v1/sae/jobs/{id}` reports the job: 202 while queued or running (progress 0..1, never
  going down), 200 once "done" (with the metrics) or "failed" (with the error).
- `GET /api/v1/sae/table?<config>&<sae>`: the table with the SAE appended; 404 naming `sae` if
  it has not been trained. Never trains.
- `GET /api/v1/graph?basis=sae:<kind>:<width>&<sae>...`: a panel under the SAE (api.py hands
  those requests here); 404 if it has not been trained.
- `GET /api/v1/sae/sweep?<config>`: width x sparsity against edge counts per family, for the
  SAEs of this configuration that are cached.

`<sae>` is kind, width, l1, k, aux, steps, sae_seed (sae_jobs.QUERY_KEYS); every value is checked
with a 422 naming the key and its range. Table, graph and sweep answers go through the same
response cache as the rest of the API, keyed also on the cache directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from basisgraph.cache import cache_dir, sae_doc
from basisgraph.config import Config, ConfigError
from basisgraph.core.graphs import panel
from basisgraph.dictionaries.config import SAE_FIELD_HELP, NotTrained, SAEConfig, cache_key
from basisgraph.dictionaries.sweep import cached_saes, sae_sweep
from basisgraph.jobs import sae as sae_jobs
from basisgraph.web.bodies import answer

__all__ = ["install", "compute", "SAE_PARAMETERS"]

PREFIX = "/api/v1"
NO_STORE = {"Cache-Control": "no-store"}

SAE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "kind", "in": "query", "required": False, "description": SAE_FIELD_HELP["kind"],
     "schema": {"type": "string", "enum": ["relu", "topk", "batchtopk", "matryoshka"],
                "default": "relu"}},
    {"name": "width", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
     "maximum": sae_jobs.MAX_WIDTH}, "description": "latents (default animals + attributes; at "
     f"most {sae_jobs.WIDTH_FACTOR} x (animals + attributes) and {sae_jobs.MAX_WIDTH})"},
    {"name": "l1", "in": "query", "required": False, "description": SAE_FIELD_HELP["l1"],
     "schema": {"type": "number", "minimum": 0, "maximum": 1000, "default": 1.0}},
    {"name": "k", "in": "query", "required": False, "description": SAE_FIELD_HELP["k"],
     "schema": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 4}},
    {"name": "aux", "in": "query", "required": False, "description": SAE_FIELD_HELP["aux"],
     "schema": {"type": "number", "minimum": 0, "maximum": 100, "default": 1 / 32}},
    {"name": "steps", "in": "query", "required": False, "description": "optimiser steps",
     "schema": {"type": "integer", "minimum": 1, "maximum": sae_jobs.MAX_STEPS, "default": 3000}},
    {"name": "sae_seed", "in": "query", "required": False, "description": SAE_FIELD_HELP["seed"],
     "schema": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "default": 0}},
]


def _root() -> str:
    return str(cache_dir())


def _not_trained(cfg: Config, scfg: SAEConfig) -> JSONResponse:
    query = urlencode({**{k: str(v) for k, v in cfg.overrides().items()}, **sae_jobs.sae_query(scfg)})
    name = f"sae:{scfg.kind}:{scfg.width}"
    return JSONResponse(
        {"detail": f"sae: {name} ({', '.join(f'{k}={v}' for k, v in sae_jobs.sae_query(scfg).items() if k not in ('kind', 'width'))}) "
                   "has not been trained for this configuration; start it with POST "
                   f"/api/v1/sae/jobs?{query}", "field": "sae", "train": f"/api/v1/sae/jobs?{query}"},
        status_code=404, headers=NO_STORE)


def _trained(cfg: Config, scfg: SAEConfig) -> bool:
    return sae_doc(cache_key(cfg, scfg)) is not None


def sae_from_basis(cfg: Config, basis: str, query: Any) -> SAEConfig:
    """The SAEConfig of a panel request: kind and width from `sae:<kind>:<width>`, the rest
    from the query (a kind or width there must agree with the id)."""
    parts = basis.split(":")
    if len(parts) != 3 or not parts[2].isdigit():
        raise ConfigError("basis", basis, "a node-set id listed by /api/v1/model, or "
                          "sae:<kind>:<width> for a trained SAE")
    values = dict(query)
    for key, val in (("kind", parts[1]), ("width", parts[2])):
        if values.get(key) not in (None, "", val):
            raise ConfigError(key, values[key], f"{val}, as in basis={basis}, or nothing")
        values[key] = val
    return sae_jobs.sae_from_query(cfg, values)


async def graph(request: Request, config: Config, basis: str, params: tuple) -> Response:
    """GET /api/v1/graph for an SAE node set (params: circuit, input, top)."""
    scfg = sae_from_basis(config, basis, request.query_params)
    if not _trained(config, scfg):
        return _not_trained(config, scfg)
    return await answer(request, "sae_graph", config, (basis, *params, scfg.model_dump_json(), _root()))


def compute(endpoint: str, config: Config, params: tuple) -> Any:
    """The core call behind one cached SAE response (run on the API's compute threads)."""
    if endpoint == "sae_table":
        from basisgraph.dictionaries.table import sae_table

        return sae_table(config, [SAEConfig.model_validate_json(params[0])], train=False)
    if endpoint == "sae_graph":
        from basisgraph.dictionaries.table import cached_node_set

        basis, circuit, input_, top, scfg_json, _ = params
        hit = cached_node_set(config, SAEConfig.model_validate_json(scfg_json))
        if hit is None:
            raise NotTrained(basis)
        return panel(config, basis, circuit, input_, top, extra={basis: hit[1]})
    if endpoint == "sae_sweep":
        return sae_sweep(config, params[0])
    raise ValueError(f"unknown SAE endpoint {endpoint}")


def install(app: FastAPI, *, config_dep: Any, respond: Callable, timeout_s: float,
            config_parameters: list[dict[str, Any]]) -> None:
    """Add the SAE routes to `app`. `respond(request, endpoint, config, params, timeout_s)` is
    the API's cached responder; `config_parameters` document the config keys in OpenAPI."""
    dep = Depends(config_dep)
    with_sae = {"parameters": config_parameters + SAE_PARAMETERS}

    @app.exception_handler(NotTrained)
    def _on_not_trained(request: Request, exc: NotTrained) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": "sae"}, status_code=404, headers=NO_STORE)

    @app.exception_handler(sae_jobs.JobsBusy)
    def _on_busy(request: Request, exc: sae_jobs.JobsBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429,
                            headers={**NO_STORE, "Retry-After": "30"})

    @app.post(f"{PREFIX}/sae/jobs", tags=["sae"], status_code=202, openapi_extra=with_sae)
    def start_job(request: Request, config: Config = dep) -> JSONResponse:
        """Train an SAE in the background worker: 202 with the job, or 200 if already cached."""
        scfg = sae_jobs.sae_from_query(config, request.query_params)
        st = sae_jobs.submit(config, scfg)
        code = 200 if st["status"] == "done" else 202
        return JSONResponse(st, status_code=code, headers={**NO_STORE, "Location": st["poll"]})

    @app.get(f"{PREFIX}/sae/jobs", tags=["sae"], openapi_extra=with_sae)
    def find_job(request: Request, config: Config = dep) -> JSONResponse:
        """The status of one SAE without starting it: its job's, "done" if cached, else
        "untrained" (always 200, so a page can ask before it asks for the table)."""
        scfg = sae_jobs.sae_from_query(config, request.query_params)
        return JSONResponse(sae_jobs.lookup(config, scfg), headers=NO_STORE)

    @app.get(f"{PREFIX}/sae/jobs/{{job_id}}", tags=["sae"])
    def job(job_id: str) -> JSONResponse:
        """A training job: 202 while queued or running (progress 0..1), 200 once done or failed."""
        st = sae_jobs.status(job_id)
        if st is None:
            return JSONResponse({"detail": f"job: {job_id[:80]!r} is not a known SAE training job; "
                                 "start one with POST /api/v1/sae/jobs", "field": "job"},
                                status_code=404, headers=NO_STORE)
        code = 200 if st["status"] in ("done", "failed") else 202
        return JSONResponse(st, status_code=code, headers=NO_STORE)

    @app.get(f"{PREFIX}/sae/table", tags=["sae"], openapi_extra=with_sae)
    def table(request: Request, config: Config = dep) -> Response:
        """The edge-count table with the SAE appended as a node set; 404 if not trained."""
        scfg = sae_jobs.sae_from_query(config, request.query_params)
        if not _trained(config, scfg):
            return _not_trained(config, scfg)
        return respond(request, "sae_table", config, (scfg.model_dump_json(), _root()), timeout_s)

    @app.get(f"{PREFIX}/sae/sweep", tags=["sae"], openapi_extra={"parameters": config_parameters})
    def sweep(request: Request, config: Config = dep) -> Response:
        """Width x sparsity against edge counts per family, for the cached SAEs of this config."""
        keys = tuple(k for k, _ in cached_saes(config))
        resp = respond(request, "sae_sweep", config, (keys, _root()), timeout_s)
        resp.headers["Cache-Control"] = "no-cache"  # a new SAE changes the answer: revalidate
        return resp
