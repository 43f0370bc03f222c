"""The served app with tiny trained-model settings, for the browser tests of the trained view.

Everything is the real app (`api.create_served_app`); only `trained_jobs.SETTINGS` is swapped for
a few dozen optimiser steps, so a build from the page takes seconds instead of minutes. The job
worker receives these settings with each job, so the spawned process uses them too.
"""

from __future__ import annotations

from fastapi import FastAPI

from basisgraph.decomposition.mlp import TrainConfig
from basisgraph.decomposition.panels import Settings
from basisgraph.decomposition.spd import SPDConfig
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.jobs import trained as trained_jobs
from basisgraph.web import app as api

TINY_SETTINGS = Settings(
    TrainConfig(steps=300, batch=128, train_samples=2000, heldout_samples=500),
    SPDConfig(steps=200, batch=64, components_in=24, components_out=24, train_samples=2000),
    (SAEConfig(kind="relu", steps=200),),
)


def create() -> FastAPI:
    """uvicorn factory: tiny_trained_app:create (with --app-dir tests/browser)."""
    trained_jobs.SETTINGS = TINY_SETTINGS
    return api.create_served_app()
