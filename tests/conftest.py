"""Shared pytest setup: every test starts from the same random state and an empty disk cache.

The library takes explicit seeds everywhere; `_seed_everything` guards against a stray global
draw (numpy, torch or `random`) making a test depend on the order tests run in. The session's
BASISGRAPH_CACHE is a fresh temporary folder, so what a developer trained into ~/.cache (SAEs,
trained models) can never change what a test sees, and tests never write there.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

__all__ = ["REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _empty_cache(tmp_path_factory: pytest.TempPathFactory):
    """BASISGRAPH_CACHE points at a fresh folder for the whole session (tests may point it
    elsewhere for themselves)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("BASISGRAPH_CACHE", str(tmp_path_factory.mktemp("basisgraph-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Seed Python, numpy and torch before each test."""
    random.seed(0)
    np.random.seed(0)
    # Imported here so test modules that never touch torch do not pay for importing it first.
    import torch

    torch.manual_seed(0)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's root folder."""
    return REPO_ROOT
