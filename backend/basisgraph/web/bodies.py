"""Sending a computed body: validators, caching headers and the already-compressed variant.

Answers to a versioned query (`v=`) never change, so they are immutable for a year and a CDN
may serve them without asking again; others may be kept for an hour. A client that sends the
ETag back gets 304. A client that accepts gzip gets the gzip made once when the body was cached,
under its own ETag (the encoded bytes differ, so their validator must too).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from basisgraph.config import Config
from basisgraph.core.cost import Count, admit, admit_count
from basisgraph.web.compute import Body, Busy, TimedOut
from basisgraph.web.deps import client_of, is_versioned
from basisgraph.web.schemas import ErrorBody

__all__ = ["ERRORS", "answer", "answer_sync", "computed_sync", "send", "unavailable", "IMMUTABLE", "SHORT"]

IMMUTABLE = "public, max-age=31536000, immutable"
# The error answers every computed route may give, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "a value out of range, naming the field"},
    503: {"model": ErrorBody, "description": "busy or slower than a request may wait; retry"}}

SHORT = "public, max-age=3600"


def _matches(sent: str, etags: set[str]) -> bool:
    if sent.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") in etags for t in sent.split(","))


def send(request: Request, body: Body, *, immutable: bool = False) -> Response:
    """The response for `body`, honouring If-None-Match and Accept-Encoding."""
    gz = body.gz is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = body.etag[:-1] + '-gzip"' if gz else body.etag
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE if immutable else SHORT, "Vary": "Accept-Encoding",
               "Server-Timing": f'compute;dur={body.compute_ms:.1f};desc="first computation"'}
    if _matches(request.headers.get("if-none-match", ""), {body.etag, body.etag[:-1] + '-gzip"'}):
        return Response(status_code=304, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
        return Response(body.gz, media_type=body.media_type, headers=headers)
    return Response(body.data, media_type=body.media_type, headers=headers)


def unavailable(exc: Busy | TimedOut) -> JSONResponse:
    """503 with Retry-After: the server is busy, or this computation is slower than a request may wait."""
    detail = (f"{exc}; retry shortly" if isinstance(exc, Busy)
              else f"{exc}; retry shortly or use a smaller configuration")
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def _cached_or_admitted(request: Request, endpoint: str, config: Config, params: tuple[Any, ...],
                        repeats: float | Count) -> tuple[tuple[Any, ...], Body | None]:
    """The cache key and the cached body; on a miss the cost model must admit the work first
    (ConfigError -> 422, before anything is computed). `repeats`: the work in tables, or a
    Count of units, so that too many of them is a 422 naming the count's own field."""
    key = (endpoint, config.key(), params)
    body = request.app.state.computer.cached(key)
    if body is None:
        if isinstance(repeats, Count):
            admit_count(config, request.app.state.budget, *repeats)
        else:
            admit(config, request.app.state.budget, repeats)
    return key, body


async def answer(request: Request, endpoint: str, config: Config, params: tuple[Any, ...] = (),
                 repeats: float | Count = 1) -> Response:
    """The computed body of (endpoint, config, params): cached, or admitted and computed."""
    key, body = _cached_or_admitted(request, endpoint, config, params, repeats)
    if body is None:
        try:
            body = await request.app.state.computer.get(key, client_of(request))
        except (Busy, TimedOut) as exc:
            return unavailable(exc)
    return send(request, body, immutable=is_versioned(request))


def computed_sync(request: Request, endpoint: str, config: Config, params: tuple[Any, ...] = (),
                  repeats: float | Count = 1) -> Body:
    """The body itself, for a handler on a worker thread that sends it its own way (previews,
    the export). Raises Busy or TimedOut."""
    key, body = _cached_or_admitted(request, endpoint, config, params, repeats)
    return body if body is not None else request.app.state.computer.get_sync(key, client_of(request))


def answer_sync(request: Request, endpoint: str, config: Config, params: tuple[Any, ...] = ()) -> Response:
    """`answer` for a handler that runs on a worker thread."""
    try:
        body = computed_sync(request, endpoint, config, params)
    except (Busy, TimedOut) as exc:
        return unavailable(exc)
    return send(request, body, immutable=is_versioned(request))
