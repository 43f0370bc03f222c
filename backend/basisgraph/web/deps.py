"""Request parsing shared by every route: the configuration a query names, the client a request
comes from, and the error handlers that turn every bad input into a 422 naming the field.

A query with `v=<link version>` is read the way a shared link of that version is (omitted keys
take that version's defaults), so its answer can never change: such responses are immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from basisgraph.cache import NotCachedError
from basisgraph.config import FIELD_HELP, Config, ConfigError, describe_range, explain
from basisgraph.dictionaries.config import NotTrained
from basisgraph.share.links import LINK_DEFAULTS, config_from_link

__all__ = ["ConfigDep", "PARAM_ALLOWED", "config_from_query", "config_from_values", "config_parameters", "client_of",
           "is_versioned", "add_error_handlers", "error_item", "unprocessable", "UnsupportedBody"]

NO_STORE = {"Cache-Control": "no-store"}
# Ranges of the non-Config query parameters, for 422 bodies.
PARAM_ALLOWED = {
    "basis": "a node-set id listed by /api/v1/model",
    "circuit": "a circuit id listed by /api/v1/model",
    "input": "an example id listed by /api/v1/model, or 'dataset'",
    "top": "an integer from 1 to 2000",
    "seeds": "an integer from 1 to 9",
    "target": "aligned or superposed (the trained MLP)",
    "v": "a link version: " + ", ".join(str(v) for v in LINK_DEFAULTS),
}


class UnsupportedBody(Exception):
    """A request whose body is not of the media type the route accepts (answered 415)."""

    def __init__(self, field: str, message: str, allowed: str):
        super().__init__(message)
        self.field, self.allowed = field, allowed


class ConfigInvalid(Exception):
    """A query's configuration failed validation; carries the 422 items."""

    def __init__(self, items: list[dict[str, Any]]):
        super().__init__(items)
        self.items = items


def error_item(field: str, msg: str, allowed: str, value: Any = None) -> dict[str, Any]:
    """One item of a 422 body: where, what, and what would be allowed."""
    item: dict[str, Any] = {"loc": ["query", field], "msg": msg, "allowed": allowed}
    if value is not None and not isinstance(value, dict):
        item["value"] = str(value)[:80]
    return item


def unprocessable(items: list[dict[str, Any]]) -> JSONResponse:
    """The 422 response for `items`."""
    return JSONResponse({"detail": items}, status_code=422)


def _known_version(v: Any) -> bool:
    return str(v).isdigit() and int(v) in LINK_DEFAULTS


def is_versioned(request: Request) -> bool:
    """True when the query pins a known link version, so its answer is immutable."""
    return _known_version(request.query_params.get("v", ""))


def config_from_values(values: Mapping[str, Any]) -> Config:
    """The Config named by query-like values (a query string, or it merged with a JSON body).
    Unknown keys are ignored; with `v=<version>` omitted keys take that link version's defaults,
    so a job, a table and a link that say the same thing name the same study."""
    fields = {k: v for k, v in values.items() if k in Config.model_fields}
    v = values.get("v")
    if v is not None:
        if not _known_version(v):
            raise ConfigInvalid([error_item("v", "unknown link version", PARAM_ALLOWED["v"], v)])
        try:
            return config_from_link({**{k: str(x) for k, x in fields.items()}, "v": str(v)})
        except ConfigError as exc:
            raise ConfigInvalid([error_item(exc.field, str(exc), exc.allowed, exc.value)]) from None
    try:
        return Config.model_validate(fields)
    except ValidationError as exc:
        raise ConfigInvalid([error_item(e.field, str(e), e.allowed, e.value) for e in explain(exc)]) from None


def config_from_query(request: Request) -> Config:
    """FastAPI dependency: the Config named by the query string (see `config_from_values`)."""
    return config_from_values(request.query_params)


ConfigDep = Annotated[Config, Depends(config_from_query)]


def client_of(request: Request) -> str:
    """Who asked, for per-client limits: the peer address (a proxy in front should set its own
    limits; X-Forwarded-For is not trusted here)."""
    return request.client.host if request.client else ""


def config_parameters() -> list[dict[str, Any]]:
    """The Config keys as OpenAPI query parameters. The config is read from
    request.query_params (so unknown keys can be ignored), which hides it from FastAPI's schema."""
    props = Config.model_json_schema()["properties"]
    params = [{"name": name, "in": "query", "required": False, "schema": props[name],
               "description": FIELD_HELP.get(name, "")} for name in Config.model_fields]
    params.append({"name": "v", "in": "query", "required": False,
                   "schema": {"type": "integer", "enum": sorted(LINK_DEFAULTS)},
                   "description": "link version: omitted keys take its defaults, and the answer is immutable"})
    return params


def add_error_handlers(app: FastAPI) -> None:
    """Every bad input becomes a 422 whose items name the field and what it allows."""

    @app.exception_handler(ConfigInvalid)
    def _on_config_invalid(request: Request, exc: ConfigInvalid) -> JSONResponse:
        return unprocessable(exc.items)

    @app.exception_handler(ConfigError)
    def _on_config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return unprocessable([error_item(exc.field, str(exc), exc.allowed, exc.value)])

    @app.exception_handler(UnsupportedBody)
    def _on_unsupported(request: Request, exc: UnsupportedBody) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field, "allowed": exc.allowed},
                            status_code=415, headers=NO_STORE)

    @app.exception_handler(NotTrained)
    def _on_not_trained(request: Request, exc: NotTrained) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": "sae"}, status_code=404, headers=NO_STORE)

    @app.exception_handler(NotCachedError)
    def _on_not_cached(request: Request, exc: NotCachedError) -> JSONResponse:
        # The cache was emptied between the check and the computation.
        return JSONResponse({"detail": f"model: {exc}", "field": "model"}, status_code=404, headers=NO_STORE)

    @app.exception_handler(RequestValidationError)
    def _on_request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for err in exc.errors():
            field = str(err["loc"][-1]) if err.get("loc") else "query"
            allowed = PARAM_ALLOWED.get(field) or (describe_range(field) if field in Config.model_fields else "")
            items.append(error_item(field, err.get("msg", "invalid"), allowed, err.get("input")))
        return unprocessable(items)
