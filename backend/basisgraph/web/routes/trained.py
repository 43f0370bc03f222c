"""The trained-model routes of the API: build jobs, the table on the trained MLP, its panels.

- Build jobs (`/api/v1/trained/jobs...`) are routes/jobs.py's, shared with SAE training.
- `GET /api/v1/trained/table?<config>&target`: the edge-count table on the trained MLP, with the
  `spd`, `hidden` and oracle `mixed` columns (`decomposition.table.trained_table`), the read-out
  and the ablation-vs-edge disagreement; 404 naming `model` if it has not been built. Never trains.
- `GET /api/v1/trained/graph?<config>&target&basis&circuit&input&top`: one panel on the trained
  MLP (`decomposition.panels.trained_panel`); 404 as above.

`target` picks the trained MLP (jobs.trained.TARGET_NAMES: `aligned`, the default, or
`superposed`); another value is a 422 naming `target`.

Configurations past the trained model's size bounds get 422 naming the field. Table and panel
answers go through the API's response cache, keyed also on the cache directory and on which
SAEs are cached, so an SAE trained later shows up.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from basisgraph.config import Config
from basisgraph.decomposition.panels import cache_state, trained_panel, view_table
from basisgraph.jobs import trained as trained_jobs
from basisgraph.jobs.registry import registry
from basisgraph.web.bodies import ERRORS, answer_sync
from basisgraph.web.deps import ConfigDep, config_parameters
from basisgraph.web.schemas import ErrorBody, GraphBody, TrainedTableBody

__all__ = ["router", "compute", "built_table_params", "TargetQuery"]

PREFIX = "/api/v1"
NO_STORE = {"Cache-Control": "no-store"}


TargetQuery = Annotated[Literal["aligned", "superposed"],
                       Query(description="the trained MLP: aligned (default) or superposed")]


def built_table_params(cfg: Config, target: str = "aligned") -> tuple | None:
    """The response-cache params of `cfg`'s trained table (of `target`) if its model is built,
    else None."""
    try:
        settings = trained_jobs.settings_for(target)
        if trained_jobs.is_cached(cfg, settings):
            return (*cache_state(cfg, settings), settings)
    except Exception:  # a warm-up must never stop the server from starting
        return None
    return None


def _not_built(cfg: Config, target: str) -> JSONResponse | None:
    """404 naming `model` when the trained model of `cfg` and `target` is not cached, else None."""
    trained_jobs.check_size(cfg)
    settings = trained_jobs.settings_for(target)
    if trained_jobs.is_cached(cfg, settings):
        return None
    st = registry().lookup(trained_jobs.request(cfg, settings, check=False, target=target))
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


router = APIRouter(prefix=PREFIX, tags=["trained"])
_EXTRA = {"parameters": config_parameters()}


# Plain `def` handlers: checking whether a model is built imports torch the first time, which
# must not happen on the event loop.
@router.get("/trained/table", openapi_extra=_EXTRA,
            responses={200: {"model": TrainedTableBody}, 404: {"model": ErrorBody}, **ERRORS})
def table(request: Request, config: ConfigDep, target: TargetQuery = "aligned") -> Response:
    """Edge counts on the trained MLP, with the spd, hidden and mixed columns; 404 if not built."""
    missing = _not_built(config, target)
    if missing is not None:
        return missing
    settings = trained_jobs.settings_for(target)
    return answer_sync(request, "trained_table", config, (*cache_state(config, settings), settings))


@router.get("/trained/graph", openapi_extra=_EXTRA,
            responses={200: {"model": GraphBody}, 404: {"model": ErrorBody}, **ERRORS})
def graph(
    request: Request,
    config: ConfigDep,
    basis: Annotated[str, Query(max_length=64, description="a node-set id of /trained/table")] = "spd",
    circuit: Annotated[str, Query(max_length=128, description="a circuit id")] = "",
    input: Annotated[str, Query(max_length=64, description="an example id, or 'dataset'")] = "dataset",
    top: Annotated[int, Query(ge=1, le=2000, description="nodes drawn individually")] = 40,
    target: TargetQuery = "aligned",
) -> Response:
    """One panel on the trained MLP (`decomposition.panels.trained_panel`); 404 if not built."""
    missing = _not_built(config, target)
    if missing is not None:
        return missing
    settings = trained_jobs.settings_for(target)
    return answer_sync(request, "trained_graph", config,
                       (basis, circuit, input, top, *cache_state(config, settings), settings))
