"""The trained-model routes of the API: build jobs, the table on the trained MLP, its panels.

- `POST /api/v1/trained/jobs?<config>` trains the MLP, decomposes it (SPD) and trains the
  compared SAEs in the background worker (trained_jobs.py): 202 with the job (id, status,
  progress, stage, poll URL), or 200 with status "done" at once if it is cached.
- `GET /api/v1/trained/jobs?<config>` looks the trained model up without starting anything
  (always 200: "done", the job's status, or "untrained").
- `GET /api/v1/trained/jobs/{id}`: 202 while queued or running, 200 once done or failed.
- `GET /api/v1/trained/table?<config>`: the edge-count table on the trained MLP, with the `spd`,
  `hidden` and oracle `mixed` columns (`spd_readout.trained_table`); 404 naming `model` if it
  has not been built. Never trains.
- `GET /api/v1/trained/graph?<config>&basis&circuit&input&top`: one panel on the trained MLP
  (`trained_graphs.trained_panel`); 404 as above.

Configurations past the trained model's size bounds get 422 naming the field. Table and panel
answers go through the API's response cache, keyed also on the cache directory and on which
SAEs are cached, so an SAE trained later shows up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from basisgraph.cache import NotCachedError
from basisgraph.config import Config
from basisgraph.decomposition.panels import cache_state, trained_panel, view_table
from basisgraph.jobs import trained as trained_jobs

__all__ = ["install", "compute", "built_table_params"]

PREFIX = "/api/v1"
NO_STORE = {"Cache-Control": "no-store"}


def built_table_params(cfg: Config) -> tuple | None:
    """The response-cache params of `cfg`'s trained table if its model is built, else None."""
    try:
        if trained_jobs.is_cached(cfg, trained_jobs.SETTINGS):
            return (*cache_state(cfg, trained_jobs.SETTINGS), trained_jobs.SETTINGS)
    except Exception:  # a warm-up must never stop the server from starting
        return None
    return None


def _not_built(cfg: Config) -> JSONResponse | None:
    """404 naming `model` when the trained model of `cfg` is not cached, else None."""
    trained_jobs.check_size(cfg)
    if trained_jobs.is_cached(cfg, trained_jobs.SETTINGS):
        return None
    st = trained_jobs.lookup(cfg, trained_jobs.SETTINGS)
    train = f"{PREFIX}/trained/jobs" + (f"?{st['query']}" if st["query"] else "")
    return JSONResponse(
        {"detail": "model: the trained MLP of this configuration has not been trained and "
                   f"decomposed yet; start it with POST {train} (or `basisgraph decompose`)",
         "field": "model", "train": train, "job": st},
        status_code=404, headers=NO_STORE)


def compute(endpoint: str, config: Config, params: tuple) -> Any:
    """The core call behind one cached trained-model response. The settings travel in the
    params (last), so a worker process computes what the server that asked would show."""
    settings = params[-1]
    if endpoint == "trained_table":
        return view_table(config, settings)
    if endpoint == "trained_graph":
        basis, circuit, input_, top = params[:4]
        return trained_panel(config, basis, circuit, input_, top, settings.resolve(config))
    raise ValueError(f"unknown trained-model endpoint {endpoint}")


def install(app: FastAPI, *, config_dep: Any, respond: Callable, timeout_s: float,
            config_parameters: list[dict[str, Any]]) -> None:
    """Add the trained-model routes to `app` (see the module docstring)."""
    dep = Depends(config_dep)
    extra = {"parameters": config_parameters}

    @app.exception_handler(NotCachedError)
    def _on_not_cached(request: Request, exc: NotCachedError) -> JSONResponse:
        # The cache was emptied between the check and the computation.
        return JSONResponse({"detail": f"model: {exc}", "field": "model"}, status_code=404,
                            headers=NO_STORE)

    @app.post(f"{PREFIX}/trained/jobs", tags=["trained"], status_code=202, openapi_extra=extra)
    def start_job(request: Request, config: Config = dep) -> JSONResponse:
        """Build the trained model in the background: 202 with the job, 200 if already cached."""
        st = trained_jobs.submit(config, trained_jobs.SETTINGS)
        code = 200 if st["status"] == "done" else 202
        return JSONResponse(st, status_code=code, headers={**NO_STORE, "Location": st["poll"]})

    @app.get(f"{PREFIX}/trained/jobs", tags=["trained"], openapi_extra=extra)
    def find_job(request: Request, config: Config = dep) -> JSONResponse:
        """The trained model's status without starting anything: done, its job's, or untrained."""
        return JSONResponse(trained_jobs.lookup(config, trained_jobs.SETTINGS), headers=NO_STORE)

    @app.get(f"{PREFIX}/trained/jobs/{{job_id}}", tags=["trained"])
    def job(job_id: str) -> JSONResponse:
        """A build job: 202 while queued or running (progress 0..1), 200 once done or failed."""
        st = trained_jobs.status(job_id)
        if st is None:
            return JSONResponse({"detail": f"job: {job_id[:80]!r} is not a known trained-model job "
                                 "of this server; start one with POST /api/v1/trained/jobs",
                                 "field": "job"}, status_code=404, headers=NO_STORE)
        code = 200 if st["status"] in ("done", "failed") else 202
        return JSONResponse(st, status_code=code, headers=NO_STORE)

    @app.get(f"{PREFIX}/trained/table", tags=["trained"], openapi_extra=extra)
    def table(request: Request, config: Config = dep) -> Response:
        """Edge counts on the trained MLP, with the spd, hidden and mixed columns; 404 if not built."""
        missing = _not_built(config)
        if missing is not None:
            return missing
        return respond(request, "trained_table", config, (*cache_state(config, trained_jobs.SETTINGS), trained_jobs.SETTINGS), timeout_s)

    @app.get(f"{PREFIX}/trained/graph", tags=["trained"], openapi_extra=extra)
    def graph(
        request: Request,
        config: Config = dep,
        basis: Annotated[str, Query(max_length=64, description="a node-set id of /trained/table")] = "spd",
        circuit: Annotated[str, Query(max_length=128, description="a circuit id")] = "",
        input: Annotated[str, Query(max_length=64, description="an example id, or 'dataset'")] = "dataset",
        top: Annotated[int, Query(ge=1, le=2000, description="nodes drawn individually")] = 40,
    ) -> Response:
        """One panel on the trained MLP (`trained_graphs.trained_panel`); 404 if not built."""
        missing = _not_built(config)
        if missing is not None:
            return missing
        return respond(request, "trained_graph", config, (basis, circuit, input, top, *cache_state(config, trained_jobs.SETTINGS), trained_jobs.SETTINGS),
                       timeout_s)
