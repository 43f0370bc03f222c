"""The job routes: one registry (jobs/registry.py) behind the SAE and trained-model URLs.

Per kind (`sae`, `trained`):
- `POST /api/v1/<kind>/jobs?<params>` with a JSON object body (parameters may sit in the query,
  the body, or both; the body wins): 202 with the job, 200 with status "done" if cached, 429 when
  too many jobs wait, 422 naming the field past a bound (including the cost cap: `width`/`steps`
  for an SAE, `animals` for the trained model). Without `Content-Type: application/json` the
  answer is 415 and nothing starts: a form or a no-cors fetch from another site cannot set it.
- `GET /api/v1/<kind>/jobs?<params>`: the status without starting anything (always 200).
- `GET /api/v1/<kind>/jobs/{id}`: 202 while queued or running, 200 once done, failed or
  cancelled; 404 naming `job` if unknown. `DELETE` on it cancels.
Any kind: `GET /api/v1/jobs` (the queue), `GET` and `DELETE /api/v1/jobs/{id}`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from basisgraph.config import Config, ConfigError
from basisgraph.jobs import registry as jobs
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs import trained as trained_jobs
from basisgraph.jobs.kind import JobRequest
from basisgraph.web.deps import UnsupportedBody, config_from_values, config_parameters
from basisgraph.web.routes.sae import SAE_PARAMETERS

__all__ = ["router", "JobStatus", "JobList", "job_params"]

NO_STORE = {"Cache-Control": "no-store"}
MAX_BODY = 16_384  # bytes of a job's JSON body
JobId = Annotated[str, Path(max_length=128, description="a job id (the poll URL's last part)")]


class JobStatus(BaseModel):
    """One job as the API reports it (fields that do not apply are left out)."""

    id: str  # sha256 hex of what the job builds
    kind: Literal["sae", "trained"]
    status: Literal["queued", "running", "measuring", "done", "failed", "cancelled", "untrained"]
    progress: float  # 0..1, never lower than an earlier answer for the same submission
    poll: str  # GET it for the status, DELETE it to cancel
    config: dict[str, Any]  # the study configuration
    query: str  # the configuration (and SAE) as a query string
    estimate_s: float | None = None  # predicted run time in seconds (the cost model)
    elapsed_s: float | None = None  # seconds since submission, while unfinished
    queue_position: int | None = None  # unfinished jobs of any kind ahead of it, while queued
    step: int | None = None  # optimiser step reached (of the current stage)
    steps: int | None = None  # optimiser steps (of the current stage)
    loss: float | None = None  # SAE: the last training loss
    stage: str | None = None  # trained model: the stage running
    stage_index: int | None = None
    stages: int | None = None
    stage_names: list[str] | None = None  # trained model: every stage, in order
    basis: str | None = None  # SAE: its node-set id, sae:<kind>:<width>
    sae: dict[str, Any] | None = None  # SAE: its resolved configuration
    table: str | None = None  # once done: the table with the result
    metrics: dict[str, Any] | None = None  # SAE, once done: held-out metrics
    result: dict[str, Any] | None = None  # trained model, once done: recovery and fit
    error: str | None = None  # why it failed or was cancelled


class JobList(BaseModel):
    """The queue: unfinished jobs of every kind, oldest first."""

    jobs: list[JobStatus]
    max_pending: int  # jobs that may wait behind the running one before POST answers 429


_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "parameters, as in the query (the body wins); {} for none",
    "additionalProperties": {"type": ["string", "number", "integer", "boolean", "null"]}}}}}


async def job_params(request: Request) -> dict[str, Any]:
    """The query values merged with the JSON object body: 415 without `Content-Type:
    application/json` (before the body is read), 422 naming `body` unless it is a flat object."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedBody("content-type", "content-type: job-creating requests must send a JSON "
                              "object body with Content-Type: application/json ({} for no parameters)",
                              "application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ConfigError("body", f"{len(raw)} bytes", f"a JSON object of at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or any(isinstance(v, dict | list) for v in body.values()):
        raise ConfigError("body", raw[:40].decode(errors="replace"),
                          'a JSON object of parameters, e.g. {"width": 64}, or {} for none')
    return {**request.query_params, **body}


def _sae_request(cfg: Config, values: Mapping[str, Any], check: bool) -> JobRequest:
    return sae_jobs.request(cfg, sae_jobs.sae_from_query(cfg, values), check=check)


def _trained_request(cfg: Config, values: Mapping[str, Any], check: bool) -> JobRequest:
    target = trained_jobs.check_target(values.get("target", trained_jobs.DEFAULT_TARGET))
    return trained_jobs.request(cfg, trained_jobs.settings_for(target), check=check, target=target)


def _answer(st: dict[str, Any] | None, response: Response, job_id: str) -> dict[str, Any] | JSONResponse:
    if st is None:
        return JSONResponse({"detail": f"job: {job_id[:80]!r} is not a known job; start one with "
                             "POST /api/v1/sae/jobs or /api/v1/trained/jobs", "field": "job"},
                            status_code=404, headers=NO_STORE)
    response.status_code = 200 if st["status"] in ("done", "failed", "cancelled") else 202
    response.headers.update(NO_STORE)
    return st


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Open the store now: a restart reports interrupted jobs as failed and runs queued ones.
    jobs.registry()
    yield
    jobs.shutdown_all()  # a training run can take minutes: do not wait for it


router = APIRouter(prefix="/api/v1", lifespan=_lifespan)
_MODEL = {"response_model": JobStatus, "response_model_exclude_none": True}
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "unknown job"}}


def _add_kind(kind: str, to_request: Callable[[Config, Mapping[str, Any], bool], JobRequest],
              params: list[dict[str, Any]]) -> None:
    post_extra = {"parameters": params, "requestBody": _BODY}

    @router.post(f"/{kind}/jobs", tags=[kind], status_code=202, openapi_extra=post_extra,
                 responses={415: {"description": "not JSON"}, 429: {"description": "queue full"}},
                 **_MODEL)
    def start(values: Annotated[dict, Depends(job_params)], response: Response) -> Any:
        """Start the job (202), or 200 with status "done" if its result is cached."""
        try:
            st = jobs.registry().submit(to_request(config_from_values(values), values, True))
        except jobs.JobsBusy as exc:
            return JSONResponse({"detail": str(exc)}, status_code=429,
                                headers={**NO_STORE, "Retry-After": "30"})
        response.status_code = 200 if st["status"] == "done" else 202
        response.headers.update({**NO_STORE, "Location": st["poll"]})
        return st

    @router.get(f"/{kind}/jobs", tags=[kind], openapi_extra={"parameters": params}, **_MODEL)
    def find(request: Request, response: Response) -> Any:
        """The job's status without starting it: done, its job's, or "untrained" (always 200)."""
        values = dict(request.query_params)
        response.headers.update(NO_STORE)
        return jobs.registry().lookup(to_request(config_from_values(values), values, False))

    @router.get(f"/{kind}/jobs/{{job_id}}", tags=[kind], responses=_ERRORS, **_MODEL)
    def job(job_id: JobId, response: Response) -> Any:
        """202 while queued or running (progress 0..1), 200 once done, failed or cancelled."""
        return _answer(jobs.registry().status(job_id, kind), response, job_id)

    @router.delete(f"/{kind}/jobs/{{job_id}}", tags=[kind], responses=_ERRORS, **_MODEL)
    def cancel(job_id: JobId, response: Response) -> Any:
        """Cancel a queued or running job (its worker stops at once); a finished one is unchanged."""
        return _answer(jobs.registry().cancel(job_id, kind), response, job_id)


_add_kind("sae", _sae_request, config_parameters() + SAE_PARAMETERS)
TARGET_PARAMETER = {"name": "target", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": list(trained_jobs.TARGET_NAMES),
                               "default": trained_jobs.DEFAULT_TARGET},
                    "description": "which MLP to train: aligned (one unit per reader) or superposed "
                                   "(fewer units than circuits, SPD from random initialisation)"}
_add_kind("trained", _trained_request, config_parameters() + [TARGET_PARAMETER])


@router.get("/jobs", tags=["jobs"], response_model=JobList, response_model_exclude_none=True)
def queue(response: Response) -> Any:
    """Unfinished jobs of every kind, oldest first (one queue, one cap)."""
    reg = jobs.registry()
    response.headers.update(NO_STORE)
    found = [reg.status(j.id) for j in reg.store.unfinished()]
    return {"jobs": [st for st in found if st is not None], "max_pending": jobs.MAX_PENDING}


@router.get("/jobs/{job_id}", tags=["jobs"], responses=_ERRORS, **_MODEL)
def any_job(job_id: JobId, response: Response) -> Any:
    """A job of any kind: 202 while queued or running, 200 once finished."""
    return _answer(jobs.registry().status(job_id), response, job_id)


@router.delete("/jobs/{job_id}", tags=["jobs"], responses=_ERRORS, **_MODEL)
def cancel_any(job_id: JobId, response: Response) -> Any:
    """Cancel a job of any kind."""
    return _answer(jobs.registry().cancel(job_id), response, job_id)
