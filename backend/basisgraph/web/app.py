"""The web layer: a FastAPI app serving the JSON API under /api/v1 and the static D3 page.

Routes are thin. Each one turns the query string into a `Config` and hands it to the same core
function the CLI uses (`counts.table`, `graphs.model_info`, `graphs.panel`). Results are pure
functions of their inputs, so each response body is computed once, cached in a byte-bounded
cache and sent with a content ETag (web/compute.py, web/bodies.py). A request the cost model
predicts to be too big is a 422 before any work; bad input never reaches the core as a 500.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import basisgraph
from basisgraph.config import Config
from basisgraph.core import counts, graphs, sweep
from basisgraph.core.cost import Budget
from basisgraph.core.seeds import table_across_seeds
from basisgraph.jobs.budget import cache_usage
from basisgraph.share import htmlexport
from basisgraph.share.assets import VENDOR_FILES, frontend_dir, vendor_file
from basisgraph.web.bodies import SHORT
from basisgraph.web.compute import Body, Computer, encode
from basisgraph.web.deps import add_error_handlers
from basisgraph.web.routes import jobs as jobs_api
from basisgraph.web.routes import sae as sae_api
from basisgraph.web.routes import share as embed
from basisgraph.web.routes import study
from basisgraph.web.routes import trained as trained_api
from basisgraph.web.workers import WorkerPool

__all__ = ["API_PREFIX", "TIMEOUT_S", "clear_cache", "create_app", "create_served_app", "frontend_dir",
           "serve", "vendor_file"]

API_PREFIX = "/api/v1"
TIMEOUT_S = 10.0  # a request waits at most this long for a computation (then 503)
LIMIT_S = 10.0  # a computation is stopped this long after it starts (so it never holds a worker
# that later requests wait for; the cost model keeps admitted work well inside it)
MAX_HEAD = 1 << 20  # bytes of request line + headers uvicorn accepts (long links)
COMPUTE_PROCESSES = 2  # one per core
DISK_EVERY_S = 5.0  # /health re-reads the disk cache's size at most this often
RESPONSE_BYTES = int(os.environ.get("BASISGRAPH_RESPONSE_BYTES", 128 << 20))  # response cache
_COMPUTERS: list[Computer] = []  # every app's, so clear_cache() reaches them all


def _compute(endpoint: str, config: Config, params: tuple[Any, ...]) -> Any:
    """The core call behind one computed response (on the compute threads)."""
    if endpoint.startswith("sae_"):
        return sae_api.compute(endpoint, config, params)
    if endpoint.startswith("trained_"):
        return trained_api.compute(endpoint, config, params)
    if endpoint == "table":
        return table_across_seeds(config, params[0]) if params else counts.table(config)
    if endpoint == "sweep":
        return sweep.alpha_sweep(config, *params)
    if endpoint == "samples_sweep":
        return sweep.samples_sweep(config, params[0])
    if endpoint == "model":
        return graphs.model_info(config)
    if endpoint == "export":  # the one-file page: HTML, not JSON
        return htmlexport.export_html(config, json.loads(params[0]), settings=params[1])
    return graphs.panel(config, *params)


def _body(key: Hashable) -> Body:
    """Compute and encode one body. `_compute` is looked up on each call (tests replace it).
    The time goes to a Server-Timing header, never into the body, so one link gives the same
    bytes (and ETag) on every machine."""
    endpoint, config_key, params = key
    t0 = time.perf_counter()
    out = _compute(endpoint, Config.model_validate_json(config_key), params)
    if isinstance(out, str):
        return Body.of(out.encode(), (time.perf_counter() - t0) * 1000, "text/html; charset=utf-8")
    return Body.of(encode(out), (time.perf_counter() - t0) * 1000)


def _warm_trained(computer: Computer) -> None:
    params = trained_api.built_table_params(Config())
    if params is not None:
        computer.submit(("trained_table", Config().key(), params))


def _every(seconds: float, fn: Callable[[], dict]) -> Callable[[], dict]:
    """`fn`, called at most once per `seconds` (walking the disk cache on every /health would
    make the liveness probe as slow as the disk)."""
    last: list[Any] = [0.0, None]
    lock = threading.Lock()

    def cached() -> dict:
        with lock:
            if last[1] is None or time.monotonic() - last[0] > seconds:
                last[:] = [time.monotonic(), fn()]
            return last[1]

    return cached


def clear_cache() -> None:
    """Forget every cached response (tests and benchmarks use this)."""
    for computer in _COMPUTERS:
        computer.clear()


class HeadAsGet:
    """ASGI middleware: HEAD on any GET route answers as GET would, without the body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, no_body)


def _add_page_routes(app: FastAPI) -> None:
    """The static page, its vendored libraries and the API docs, all served from this machine."""

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=app.openapi_url or "", title="basisgraph API",
                                   swagger_js_url="/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui.css", swagger_favicon_url="/favicon.ico")
        # Swagger UI starts from one inline script: allow exactly that one by its hash.
        page.headers["Content-Security-Policy"] = embed.csp_with_script_hashes(bytes(page.body).decode())
        return page

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        path = vendor_file(name) if name in VENDOR_FILES else None
        if path is None or not path.is_file():
            return PlainTextResponse(f"{name} is not installed; run `npm ci`", status_code=404)
        return FileResponse(path, headers={"Cache-Control": SHORT})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        path = frontend_dir() / "favicon.ico"
        # No content rather than 404, so a browser logs no error before the frontend ships one.
        return FileResponse(path) if path.is_file() else Response(status_code=204)

    app.mount("/static", StaticFiles(directory=frontend_dir(), check_dir=False), name="static")


def create_app(timeout_s: float = TIMEOUT_S, warm: bool = False, *, limit_s: float = LIMIT_S,
               budget: Budget | None = None, disk_usage: Callable[[], dict] | None = None,
               processes: int = 0) -> FastAPI:
    """Build the app. `timeout_s` bounds every wait (503 past it), `limit_s` every computation,
    `budget` what the cost model admits; `warm` computes the default study in the background at
    startup, so the first page load finds it cached. With `processes` > 0 computations run in
    that many worker processes (as served), else on the server's own threads (tests, notebooks)."""
    pool = WorkerPool(_body, processes) if processes > 0 else None
    computer = Computer(_body, threads=processes or 2, timeout_s=timeout_s, limit_s=max(limit_s, timeout_s),
                        cache_bytes=RESPONSE_BYTES, pool=pool)
    _COMPUTERS.append(computer)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Everything imported so far lives as long as the server: move it out of the collector's
        # sight, so a full collection does not stall the event loop for tens of milliseconds
        # (it set the p99 of a cached answer; docs/serving.md).
        if warm:  # the served app only: tests and notebooks keep the interpreter's defaults
            gc.collect()
            gc.freeze()
            gc.set_threshold(100_000, 50, 1000)  # and collect young objects in larger, rarer batches
        if warm:  # fire and forget: a failure here resurfaces, as a proper response, on request
            for endpoint in ("model", "table"):
                computer.submit((endpoint, Config().key(), ()))
            # The default trained model's table takes seconds to count: warm it when built.
            # Checked off the start-up path, since the check imports torch.
            threading.Thread(target=_warm_trained, args=(computer,), daemon=True).start()
        yield
        computer.shutdown()
        with contextlib.suppress(ValueError):
            _COMPUTERS.remove(computer)

    app = FastAPI(lifespan=lifespan, title="basisgraph", version=basisgraph.__version__,
                  description="Edge counts and attribution graphs of one planted model in several node sets.",
                  docs_url=None, redoc_url=None,  # served with local Swagger assets, not a CDN
                  openapi_url=f"{API_PREFIX}/openapi.json")
    app.state.computer, app.state.budget = computer, budget or Budget()
    app.state.disk_usage = disk_usage or _every(DISK_EVERY_S, cache_usage)
    app.add_middleware(GZipMiddleware, minimum_size=500)  # bodies already gzipped pass through
    add_error_handlers(app)
    app.include_router(study.router)

    app.include_router(jobs_api.router)  # SAE and trained-model jobs: one registry
    app.include_router(sae_api.router)
    app.include_router(trained_api.router)
    # The page and /embed (heads templated per link), /oembed, preview images, HTML export.
    app.include_router(embed.router)
    app.add_middleware(embed.SecurityHeaders)
    _add_page_routes(app)
    app.add_middleware(HeadAsGet)
    return app


def create_served_app() -> FastAPI:
    """The app as `make run` and `basisgraph serve` run it: the default study warmed at startup."""
    return create_app(warm=True, processes=COMPUTE_PROCESSES)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted (`basisgraph serve`)."""
    # h11 buffers at most 16 kB of request head by default; long shared links must still arrive.
    uvicorn.run(create_served_app(), host=host, port=port, log_level="info", h11_max_incomplete_event_size=MAX_HEAD)
