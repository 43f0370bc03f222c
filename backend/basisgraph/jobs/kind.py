"""What the registry and the worker need from a kind of job (SAE training, the trained model's
build): one base class, so the queue, the cap, the store and the routes exist once.

A kind turns its arguments into a `JobRequest` (id, JSON spec, predicted seconds), says what a
finished job reports when its artefact is on disk, describes a job's subject for the API, and runs
the job in the worker, reporting progress through a `Reporter`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["JobKind", "JobRequest", "Reporter", "Cancelled", "max_job_seconds", "JOB_SECONDS_ENV", "MAX_JOB_S"]

JOB_SECONDS_ENV = "BASISGRAPH_JOB_SECONDS"
MAX_JOB_S = 600.0  # default cost cap: a job predicted to take longer is refused (422)

# progress(fraction 0..1, detail shown while running) -> whether to go on (False: cancelled).
Reporter = Callable[[float, dict[str, Any]], bool]


class Cancelled(Exception):
    """Raised inside a running job when its Reporter answers False (a DELETE came)."""


def max_job_seconds() -> float:
    """The cost cap per job in predicted seconds: $BASISGRAPH_JOB_SECONDS or MAX_JOB_S."""
    raw = os.environ.get(JOB_SECONDS_ENV, "")
    try:
        return float(raw) if raw else MAX_JOB_S
    except ValueError:
        return MAX_JOB_S


@dataclass(frozen=True)
class JobRequest:
    """One job as asked for, before it is queued."""

    kind: str  # JobKind.name
    id: str  # sha256 hex of what it builds: equal requests share one id (deduplication)
    spec: dict[str, Any]  # the worker's arguments, JSON
    estimate_s: float  # predicted run time on this machine (the cost model)


class JobKind(ABC):
    """One kind of background job. Subclasses are stateless; `name` is its URL segment."""

    name: str = ""

    @abstractmethod
    def describe(self, spec: dict[str, Any], status: str) -> dict[str, Any]:
        """The API fields naming the job's subject (config, query, links) in state `status`."""

    @abstractmethod
    def cached_result(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        """What a done job reports, when its artefact is in the cache; else None."""

    def spec_of(self, job_id: str) -> dict[str, Any] | None:
        """The spec of a job known only from the cache (built by the CLI, say), or None."""
        return None

    def touch(self, spec: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Mark the artefact as used (the disk budget evicts the least recently used)."""

    @abstractmethod
    def run(self, spec: dict[str, Any], report: Reporter) -> dict[str, Any]:
        """Build the artefact (in the worker process); returns what a done job reports."""
