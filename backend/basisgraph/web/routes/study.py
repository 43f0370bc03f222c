"""Routes of the planted study: health, the configuration schema, the table, the model, one
graph panel, the alpha sweep and the samples sweep.

Handlers are thin and `async`: a cached answer is sent from the event loop at once, and a
miss waits (without holding a thread) for the app's `Computer` (web/compute.py), after the cost
model has admitted the configuration (core/cost.py). Every body is the core's JSON, the same
the CLI prints with `--json`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from basisgraph.config import FIELD_HELP, PRESETS, Config, describe_range
from basisgraph.core import sweep
from basisgraph.core.cost import Count
from basisgraph.core.seeds import MAX_SEEDS
from basisgraph.core.study import cache_stats
from basisgraph.web.bodies import ERRORS, answer
from basisgraph.web.deps import PARAM_ALLOWED, ConfigDep, config_parameters
from basisgraph.web.routes import sae as sae_routes
from basisgraph.web.schemas import (
    ConfigSchema,
    ErrorBody,
    GraphBody,
    Health,
    ModelBody,
    SamplesSweepBody,
    SweepBody,
    TableBody,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
CONFIG_PARAMS = {"parameters": config_parameters()}

@router.get("/health", tags=["meta"], response_model=Health)
async def health(request: Request) -> dict[str, Any]:
    """Liveness probe (Docker HEALTHCHECK) with cache and queue figures; answered on the event
    loop, so it never waits behind a computation."""
    disk = request.app.state.disk_usage
    return {"status": "ok", "compute": request.app.state.computer.stats(), "studies": cache_stats(),
            "disk": disk() if disk else None}


@router.get("/config", tags=["meta"], response_model=ConfigSchema)
async def config_schema() -> dict[str, Any]:
    """Every configuration key with its default, range and meaning, plus the presets."""
    props = Config.model_json_schema()["properties"]
    fields = [{"name": n, "default": props[n].get("default"), "schema": props[n],
               "allowed": describe_range(n), "help": FIELD_HELP.get(n, "")} for n in Config.model_fields]
    return {"version": 1, "fields": fields, "presets": PRESETS}


@router.get("/table", tags=["study"], openapi_extra=CONFIG_PARAMS,
            responses={200: {"model": TableBody}, **ERRORS})
async def table(
    request: Request,
    config: ConfigDep,
    seeds: Annotated[int, Query(ge=1, le=MAX_SEEDS, description="seeds from `seed` on: each cell "
                                "adds across_seeds (median, min, max)")] = 1,
) -> Response:
    """The side-by-side edge-count table (`basisgraph.core.counts.table`); with seeds > 1, each
    cell's median and range over that many seeds (`basisgraph.core.seeds`)."""
    if seeds == 1:
        return await answer(request, "table", config)
    # Too many seeds for a configuration that fits alone: the 422 names `seeds`, not a size.
    return await answer(request, "table", config, (seeds,), repeats=Count(seeds, "seeds", float))


@router.get("/model", tags=["study"], openapi_extra=CONFIG_PARAMS,
            responses={200: {"model": ModelBody}, **ERRORS})
async def model(request: Request, config: ConfigDep) -> Response:
    """Names, circuits, example inputs, node sets and geometry (`basisgraph.core.graphs.model_info`)."""
    return await answer(request, "model", config)


@router.get("/sweep", tags=["study"], openapi_extra=CONFIG_PARAMS,
            responses={200: {"model": SweepBody}, **ERRORS})
async def alpha_sweep(
    request: Request,
    config: ConfigDep,
    steps: Annotated[int, Query(ge=2, le=21, description="alpha grid points from 0 to 1")] = 11,
) -> Response:
    """Family medians of the union dictionary's edge counts as alpha goes from 0 to 1."""
    # Each alpha point recounts the union node set, about a third of a table's work.
    return await answer(request, "sweep", config, (steps,), repeats=Count(steps, "steps", _alpha_repeats, lo=2))


def _alpha_repeats(steps: int) -> float:
    return max(1.0, steps / 3)


@router.get("/sweep/samples", tags=["study"], openapi_extra=CONFIG_PARAMS,
            responses={200: {"model": SamplesSweepBody}, **ERRORS})
async def samples_sweep(
    request: Request,
    config: ConfigDep,
    max_samples: Annotated[int | None, Query(
        ge=sweep.SAMPLES_GRID[0], le=sweep.SAMPLES_GRID[-1],
        description="largest dataset size of the grid (default: as far as the data limit and "
                    "the cost model allow)")] = None,
) -> Response:
    """Every node set's family medians (global and local counts, error share) at each dataset
    size of a doubling grid from 500 (`basisgraph.core.sweep.samples_sweep`); `samples` itself is
    what varies, so the body's config carries the largest point."""
    grid = sweep.samples_grid(config, max_samples, request.app.state.budget)  # 422 past a cut
    # The whole grid was priced above; the largest point alone never costs more than that.
    return await answer(request, "samples_sweep", config.model_copy(update={"samples": grid[-1]}),
                        (tuple(grid),))


@router.get("/graph", tags=["study"],
            openapi_extra={"parameters": CONFIG_PARAMS["parameters"] + sae_routes.SAE_PARAMETERS},
            responses={200: {"model": GraphBody}, 404: {"model": ErrorBody}, **ERRORS})
async def graph(
    request: Request,
    config: ConfigDep,
    basis: Annotated[str, Query(max_length=64, description=PARAM_ALLOWED["basis"])],
    circuit: Annotated[str, Query(max_length=128, description=PARAM_ALLOWED["circuit"])],
    input: Annotated[str, Query(max_length=64, description=PARAM_ALLOWED["input"])] = "dataset",
    top: Annotated[int, Query(ge=1, le=2000, description="nodes drawn individually")] = 40,
) -> Response:
    """One graph panel (`basisgraph.core.graphs.panel`): top nodes, a folded "+N more" node, links.

    For a trained SAE, basis is `sae:<kind>:<width>` and the SAE keys (l1 or k, steps,
    sae_seed) name it; 404 if it has not been trained."""
    if basis.startswith("sae:"):
        return await sae_routes.graph(request, config, basis, (circuit, input, top))
    return await answer(request, "graph", config, (basis, circuit, input, top))
