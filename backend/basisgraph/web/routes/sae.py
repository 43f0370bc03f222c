"""The SAE routes of the API: training jobs, the table with an SAE, SAE panels, the SAE sweep.

- Training jobs (`/api/v1/sae/jobs...`) are routes/jobs.py's, shared with the trained model.
- `GET /api/v1/sae/table?<config>&<sae>`: the table with the SAE appended; 404 naming `sae` if
  it has not been trained. Never trains. `learned=read|input` adds the learned per-circuit
  view; `learned_with=<kind:width[:sparsity[:steps[:seed]]]>` adds one more trained SAE's atoms
  to its union (404 naming `learned_with` if that SAE is not trained).
- `GET /api/v1/graph?basis=sae:<kind>:<width>&<sae>...`: a panel under the SAE (api.py hands
  those requests here); 404 if it has not been trained.
- `GET /api/v1/sae/sweep?<config>`: width x sparsity against edge counts per family, for the
  SAEs of this configuration that are cached.

`<sae>` is kind, width, l1, k, aux, steps, sae_seed (sae_jobs.QUERY_KEYS); every value is checked
with a 422 naming the key and its range. Table, graph and sweep answers go through the same
response cache as the rest of the API, keyed also on the cache directory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from basisgraph.cache import cache_dir, sae_doc
from basisgraph.config import Config, ConfigError
from basisgraph.core.graphs import panel
from basisgraph.dictionaries.config import SAE_FIELD_HELP, NotTrained, SAEConfig, cache_key
from basisgraph.dictionaries.learned import FITS
from basisgraph.dictionaries.sweep import cached_list, cached_saes, sae_sweep
from basisgraph.jobs import sae as sae_jobs
from basisgraph.web.bodies import ERRORS, answer
from basisgraph.web.deps import ConfigDep, config_parameters
from basisgraph.web.schemas import ErrorBody, SaeCachedBody, SaeSweepBody, TableBody

__all__ = ["router", "compute", "graph", "SAE_PARAMETERS"]

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


def _not_trained(cfg: Config, scfg: SAEConfig, field: str = "sae") -> JSONResponse:
    query = urlencode({**{k: str(v) for k, v in cfg.overrides().items()}, **sae_jobs.sae_query(scfg)})
    name = f"sae:{scfg.kind}:{scfg.width}"
    return JSONResponse(
        {"detail": f"{field}: {name} ({', '.join(f'{k}={v}' for k, v in sae_jobs.sae_query(scfg).items() if k not in ('kind', 'width'))}) "
                   "has not been trained for this configuration; start it with POST "
                   f"/api/v1/sae/jobs?{query}", "field": field, "train": f"/api/v1/sae/jobs?{query}"},
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

        fit = params[1]  # "" for no learned view (the body as before), else read or input
        with_ = [SAEConfig.model_validate_json(j) for j in params[3:]]  # learned_with, if any
        return sae_table(config, [SAEConfig.model_validate_json(params[0])], train=False,
                         learned=bool(fit), fit=fit or "read", learned_with=with_)
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


router = APIRouter(prefix=PREFIX, tags=["sae"])


LEARNED_PARAMETER: dict[str, Any] = {
    "name": "learned", "in": "query", "required": False, "schema": {"type": "string", "enum": list(FITS)},
    "description": "add the learned per-circuit view (no ground truth) over the SAE's atoms under "
                   "`learned`: OMP of each circuit's read direction (read) or input (input); "
                   "absent: no view"}


LEARNED_WITH_PARAMETER: dict[str, Any] = {
    "name": "learned_with", "in": "query", "required": False,
    "schema": {"type": "string", "pattern": "^[a-z]+:[0-9]+(:[0-9.]+(:[0-9]+(:[0-9]+)?)?)?$"},
    "description": "with `learned`: one more trained SAE of this configuration, "
                   "kind:width[:sparsity[:steps[:seed]]] (as in share links' `sae`), whose atoms "
                   "join the learned view's union (not the table); 404 if it is not trained"}


def _learned_with(config: Config, query: Any, fit: str | None, shown: SAEConfig) -> SAEConfig | None:
    """The extra SAE of the learned view's union, or None; ConfigError naming learned_with."""
    specs = query.getlist("learned_with")
    if not specs:
        return None
    allowed = "kind:width[:sparsity[:steps[:seed]]] of one trained SAE, e.g. relu:200:1"
    if len(specs) > 1:
        raise ConfigError("learned_with", ",".join(specs), "one value: " + allowed)
    if fit is None:
        raise ConfigError("learned_with", specs[0], "nothing unless learned=read or learned=input is given")
    try:
        extra = sae_jobs.sae_from_spec(config, specs[0])
    except ConfigError as exc:
        raise ConfigError("learned_with", specs[0], f"{allowed} ({exc.field}: {exc.allowed})") from None
    if extra == shown:
        raise ConfigError("learned_with", specs[0], "an SAE other than the one shown (" + allowed + ")")
    return extra


@router.get("/sae/table", openapi_extra={"parameters": config_parameters() + SAE_PARAMETERS
                                         + [LEARNED_PARAMETER, LEARNED_WITH_PARAMETER]},
            responses={200: {"model": TableBody}, 404: {"model": ErrorBody}, **ERRORS})
async def table(request: Request, config: ConfigDep) -> Response:
    """The edge-count table with the SAE appended as a node set; 404 if not trained. With
    `learned=read|input`, also the learned per-circuit view beside the oracle; with
    `learned_with=<spec>` too, over the union of this SAE's and that SAE's atoms."""
    fit = request.query_params.get("learned")
    if fit is not None and fit not in FITS:
        raise ConfigError("learned", fit, "one of " + ", ".join(FITS))
    scfg = sae_jobs.sae_from_query(config, request.query_params)
    extra = _learned_with(config, request.query_params, fit, scfg)
    if not _trained(config, scfg):
        return _not_trained(config, scfg)
    if extra is not None and not _trained(config, extra):
        return _not_trained(config, extra, "learned_with")
    with_ = (extra.model_dump_json(),) if extra is not None else ()
    return await answer(request, "sae_table", config, (scfg.model_dump_json(), fit or "", _root(), *with_))


@router.get("/sae/cached", openapi_extra={"parameters": config_parameters()},
            responses={200: {"model": SaeCachedBody}, **ERRORS})
def cached(config: ConfigDep) -> JSONResponse:
    """The SAEs cached for this configuration (nothing is computed): what a picker lists."""
    return JSONResponse(cached_list(config), headers={"Cache-Control": "no-cache"})


@router.get("/sae/sweep", openapi_extra={"parameters": config_parameters()},
            responses={200: {"model": SaeSweepBody}, **ERRORS})
async def sweep(request: Request, config: ConfigDep) -> Response:
    """Width x sparsity against edge counts per family, for the cached SAEs of this config."""
    keys = tuple(k for k, _ in cached_saes(config))
    resp = await answer(request, "sae_sweep", config, (keys, _root()))
    resp.headers["Cache-Control"] = "no-cache"  # a new SAE changes the answer: revalidate
    return resp
