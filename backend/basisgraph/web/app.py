"""The web layer: a FastAPI app serving the JSON API under /api/v1 and the static D3 page.

Routes are thin. Each one turns the query string into a `Config` and hands it to the same core
function the CLI uses (`counts.table`, `graphs.model_info`, `graphs.panel`). Results are pure
functions of their inputs, so each response body is cached (LRU), tagged with a content ETag and
served with Cache-Control. Bad input never reaches the core as a 500: every validation failure is
a 422 naming the field and its allowed range.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import json
import threading
import time
from typing import Annotated, Any

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

import basisgraph
from basisgraph.config import FIELD_HELP, PRESETS, Config, ConfigError, describe_range, explain
from basisgraph.core import counts, graphs, sweep
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs import trained as trained_jobs
from basisgraph.share.assets import VENDOR_FILES, frontend_dir, vendor_file
from basisgraph.web.routes import sae as sae_api
from basisgraph.web.routes import share as embed
from basisgraph.web.routes import trained as trained_api

__all__ = ["API_PREFIX", "TIMEOUT_S", "clear_cache", "create_app", "create_served_app", "frontend_dir",
           "serve", "vendor_file"]

API_PREFIX = "/api/v1"
TIMEOUT_S = 10.0  # no request may run longer than this
MAX_HEAD = 1 << 20  # bytes of request line + headers uvicorn accepts (long links)
CACHE_CONTROL = "public, max-age=3600"
# Ranges of the non-Config query parameters, for 422 bodies.
_PARAM_ALLOWED = {
    "basis": "a node-set id listed by /api/v1/model",
    "circuit": "a circuit id listed by /api/v1/model",
    "input": "an example id listed by /api/v1/model, or 'dataset'",
    "top": "an integer from 1 to 2000",
}
# Compute runs here rather than on the request thread so a slow request can be abandoned
# after TIMEOUT_S; two workers match the two cores.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="basisgraph")
# Requests for a result already being computed (the warm-up, a page's parallel fetches) wait on
# that computation instead of starting a second one.
_INFLIGHT: dict[tuple[Any, ...], concurrent.futures.Future] = {}
_INFLIGHT_LOCK = threading.RLock()  # re-entrant: a done-callback can run inside _submit


def _jsonable(obj: Any) -> Any:
    # numpy scalars and arrays can slip out of the core; everything else is a bug worth a 500.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _encode(obj: Any) -> bytes:
    """Byte-deterministic JSON: key order as built, no spaces, no NaN."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_jsonable).encode()


def _compute(endpoint: str, config: Config, params: tuple[Any, ...]) -> Any:
    if endpoint.startswith("sae_"):
        return sae_api.compute(endpoint, config, params)
    if endpoint.startswith("trained_"):
        return trained_api.compute(endpoint, config, params)
    if endpoint == "table":
        return counts.table(config)
    if endpoint == "sweep":
        return sweep.alpha_sweep(config, *params)
    if endpoint == "model":
        return graphs.model_info(config)
    return graphs.panel(config, *params)


@functools.lru_cache(maxsize=64)
def _cached(endpoint: str, config_key: str, params: tuple[Any, ...]) -> tuple[bytes, str, float]:
    """(body, etag, compute ms) for one request, keyed on the normalised config; errors are not
    cached. The time goes to a Server-Timing header, never into the body, so that one link gives
    the same bytes (and ETag) on every machine."""
    t0 = time.perf_counter()
    body = _encode(_compute(endpoint, Config.model_validate_json(config_key), params))
    return body, '"' + hashlib.sha256(body).hexdigest() + '"', (time.perf_counter() - t0) * 1000


def _submit(endpoint: str, config_key: str, params: tuple[Any, ...]) -> concurrent.futures.Future:
    key = (endpoint, config_key, params)
    with _INFLIGHT_LOCK:
        future = _INFLIGHT.get(key)
        if future is None:
            future = _INFLIGHT[key] = _EXECUTOR.submit(_cached, *key)
            future.add_done_callback(lambda f: _forget(key, f))
    return future


def _forget(key: tuple[Any, ...], future: concurrent.futures.Future) -> None:
    with _INFLIGHT_LOCK:
        if _INFLIGHT.get(key) is future:
            del _INFLIGHT[key]


def _warm_trained() -> None:
    params = trained_api.built_table_params(Config())
    if params is not None:
        _submit("trained_table", Config().key(), params)


def clear_cache() -> None:
    """Forget every cached response (tests and benchmarks use this)."""
    _cached.cache_clear()


def _error(field: str, msg: str, allowed: str, value: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"loc": ["query", field], "msg": msg, "allowed": allowed}
    if value is not None and not isinstance(value, dict):
        item["value"] = str(value)[:80]
    return item


def _config_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors -> 422 items; cross-field errors are pinned to the field they name."""
    return [_error(e.field, str(e), e.allowed, e.value) for e in explain(exc)]


def _unprocessable(items: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": items}, status_code=422)


def config_from_query(request: Request) -> Config:
    """FastAPI dependency: the Config named by the query string. Unknown keys are ignored."""
    fields = {k: v for k, v in request.query_params.items() if k in Config.model_fields}
    try:
        return Config.model_validate(fields)
    except ValidationError as exc:
        raise _ConfigInvalid(_config_errors(exc)) from None


class _ConfigInvalid(Exception):
    def __init__(self, items: list[dict[str, Any]]):
        super().__init__(items)
        self.items = items


ConfigDep = Annotated[Config, Depends(config_from_query)]


def _config_parameters() -> list[dict[str, Any]]:
    # Config is read from request.query_params (so unknown keys can be ignored), which hides it
    # from FastAPI's schema; describe the keys in OpenAPI by hand.
    props = Config.model_json_schema()["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": props[name], "description": FIELD_HELP.get(name, "")}
        for name in Config.model_fields
    ]


def _respond(request: Request, endpoint: str, config: Config, params: tuple[Any, ...], timeout_s: float) -> Response:
    future = _submit(endpoint, config.key(), params)
    try:
        body, etag, compute_ms = future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        # The worker finishes in the background and fills the cache, so a retry can succeed.
        return JSONResponse(
            {"detail": f"computing this took longer than {timeout_s:g} s; retry shortly or use a smaller configuration"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL,
               "Server-Timing": f"compute;dur={compute_ms:.1f};desc=\"first computation\""}
    sent = request.headers.get("if-none-match", "")
    if sent.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in sent.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    """Every bad input becomes a 422 whose items name the field and what it allows."""

    @app.exception_handler(_ConfigInvalid)
    def _on_config_invalid(request: Request, exc: _ConfigInvalid) -> JSONResponse:
        return _unprocessable(exc.items)

    @app.exception_handler(ConfigError)
    def _on_config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return _unprocessable([_error(exc.field, str(exc), exc.allowed, exc.value)])

    @app.exception_handler(RequestValidationError)
    def _on_request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for err in exc.errors():
            field = str(err["loc"][-1]) if err.get("loc") else "query"
            allowed = _PARAM_ALLOWED.get(field) or (describe_range(field) if field in Config.model_fields else "")
            items.append(_error(field, err.get("msg", "invalid"), allowed, err.get("input")))
        return _unprocessable(items)


def _add_page_routes(app: FastAPI) -> None:
    """The static page, its vendored libraries and the API docs, all served from this machine."""

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "",
            title="basisgraph API",
            swagger_js_url="/vendor/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )
        # Swagger UI starts from one inline script: allow exactly that one by its hash.
        page.headers["Content-Security-Policy"] = embed.csp_with_script_hashes(bytes(page.body).decode())
        return page

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        path = vendor_file(name) if name in VENDOR_FILES else None
        if path is None or not path.is_file():
            return PlainTextResponse(f"{name} is not installed; run `npm ci`", status_code=404)
        return FileResponse(path, headers={"Cache-Control": CACHE_CONTROL})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        path = frontend_dir() / "favicon.ico"
        # No content rather than 404, so a browser logs no error before the frontend ships one.
        return FileResponse(path) if path.is_file() else Response(status_code=204)

    app.mount("/static", StaticFiles(directory=frontend_dir(), check_dir=False), name="static")


def create_app(timeout_s: float = TIMEOUT_S, warm: bool = False) -> FastAPI:
    """Build the app. `timeout_s` bounds every computation (503 past it); `warm` starts computing
    the default study in the background at startup, so the first page load finds it cached."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:  # fire and forget: a failure here resurfaces, as a proper response, on request
            for endpoint in ("model", "table"):
                _submit(endpoint, Config().key(), ())
            # The default trained model's table takes seconds to count: warm it too when built.
            # Checked off the start-up path, since the check imports torch.
            _EXECUTOR.submit(_warm_trained)
        yield
        trained_jobs.shutdown()
        sae_jobs.shutdown()  # a training run can take minutes: do not wait for it

    app = FastAPI(
        lifespan=lifespan,
        title="basisgraph",
        version=basisgraph.__version__,
        description="Edge counts and attribution graphs of one planted model in several node sets.",
        docs_url=None,  # _add_page_routes serves it with local Swagger assets, not a CDN
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.add_middleware(GZipMiddleware, minimum_size=500)
    cfg_params = {"parameters": _config_parameters()}

    _add_error_handlers(app)

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness probe (Docker HEALTHCHECK, tests)."""
        return {"status": "ok"}

    @app.get(f"{API_PREFIX}/config", tags=["meta"])
    def config_schema() -> dict[str, Any]:
        """Every configuration key with its default, range and meaning, plus the presets."""
        props = Config.model_json_schema()["properties"]
        fields = [
            {"name": n, "default": props[n].get("default"), "schema": props[n],
             "allowed": describe_range(n), "help": FIELD_HELP.get(n, "")}
            for n in Config.model_fields
        ]
        return {"version": 1, "fields": fields, "presets": PRESETS}

    @app.get(f"{API_PREFIX}/table", tags=["study"], openapi_extra=cfg_params)
    def table(request: Request, config: ConfigDep) -> Response:
        """The side-by-side edge-count table (`basisgraph.core.counts.table`)."""
        return _respond(request, "table", config, (), timeout_s)

    @app.get(f"{API_PREFIX}/model", tags=["study"], openapi_extra=cfg_params)
    def model(request: Request, config: ConfigDep) -> Response:
        """Names, circuits, example inputs, node sets and geometry (`basisgraph.core.graphs.model_info`)."""
        return _respond(request, "model", config, (), timeout_s)

    @app.get(f"{API_PREFIX}/graph", tags=["study"],
             openapi_extra={"parameters": cfg_params["parameters"] + sae_api.SAE_PARAMETERS})
    def graph(
        request: Request,
        config: ConfigDep,
        basis: Annotated[str, Query(max_length=64, description=_PARAM_ALLOWED["basis"])],
        circuit: Annotated[str, Query(max_length=128, description=_PARAM_ALLOWED["circuit"])],
        input: Annotated[str, Query(max_length=64, description=_PARAM_ALLOWED["input"])] = "dataset",
        top: Annotated[int, Query(ge=1, le=2000, description="nodes drawn individually")] = 40,
    ) -> Response:
        """One graph panel (`basisgraph.core.graphs.panel`): top nodes, a folded "+N more" node, links.

        For a trained SAE, basis is `sae:<kind>:<width>` and the SAE keys (l1 or k, steps,
        sae_seed) name it; 404 if it has not been trained."""
        if basis.startswith("sae:"):
            return sae_api.graph(request, config, basis, (circuit, input, top), _respond, timeout_s)
        return _respond(request, "graph", config, (basis, circuit, input, top), timeout_s)

    @app.get(f"{API_PREFIX}/sweep", tags=["study"], openapi_extra=cfg_params)
    def alpha_sweep(
        request: Request,
        config: ConfigDep,
        steps: Annotated[int, Query(ge=2, le=21, description="alpha grid points from 0 to 1")] = 11,
    ) -> Response:
        """Family medians of the union dictionary's edge counts as alpha goes from 0 to 1."""
        return _respond(request, "sweep", config, (steps,), timeout_s)

    sae_api.install(app, config_dep=config_from_query, respond=_respond, timeout_s=timeout_s,
                    config_parameters=cfg_params["parameters"])
    trained_api.install(app, config_dep=config_from_query, respond=_respond, timeout_s=timeout_s,
                        config_parameters=cfg_params["parameters"])
    # The page and /embed (heads templated per link), /oembed, preview images, HTML export, headers.
    embed.install(app, frontend=frontend_dir, config_dep=config_from_query, timeout_s=timeout_s,
                  cached=lambda endpoint, config, params: _submit(endpoint, config.key(), params),
                  openapi_extra=cfg_params)
    _add_page_routes(app)
    return app


def create_served_app() -> FastAPI:
    """The app as `make run` and `basisgraph serve` run it: the default study warmed at startup."""
    return create_app(warm=True)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted (`basisgraph serve`)."""
    # h11 buffers at most 16 kB of request head by default; long shared links must still arrive.
    uvicorn.run(create_served_app(), host=host, port=port, log_level="info", h11_max_incomplete_event_size=MAX_HEAD)
