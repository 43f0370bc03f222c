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
from basisgraph.core.cost import admit
from basisgraph.web.compute import Body, Busy, TimedOut
from basisgraph.web.deps import client_of, is_versioned
from basisgraph.web.schemas import ErrorBody

__all__ = ["ERRORS", "answer", "answer_sync", "send", "unavailable", "IMMUTABLE", "SHORT"]

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


async def answer(request: Request, endpoint: str, config: Config, params: tuple[Any, ...] = (),
                 admitted: bool = False, repeats: float = 1) -> Response:
    """The computed body of (endpoint, config, params): cached, or admitted and computed."""
    computer = request.app.state.computer
    key = (endpoint, config.key(), params)
    body = computer.cached(key)
    if body is None:
        if not admitted:
            admit(config, request.app.state.budget, repeats)  # ConfigError -> 422, before any work
        try:
            body = await computer.get(key, client_of(request))
        except (Busy, TimedOut) as exc:
            return unavailable(exc)
    return send(request, body, immutable=is_versioned(request))


def answer_sync(request: Request, endpoint: str, config: Config, params: tuple[Any, ...] = (),
                admitted: bool = False) -> Response:
    """`answer` for a handler that runs on a worker thread."""
    computer = request.app.state.computer
    key = (endpoint, config.key(), params)
    body = computer.cached(key)
    if body is None:
        if not admitted:
            admit(config, request.app.state.budget)
        try:
            body = computer.get_sync(key, client_of(request))
        except (Busy, TimedOut) as exc:
            return unavailable(exc)
    return send(request, body, immutable=is_versioned(request))
