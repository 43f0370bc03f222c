"""Shared pytest setup: every test starts from the same random state.

The library takes explicit seeds everywhere; this fixture guards against a stray global draw
(numpy, torch or `random`) making a test depend on the order tests run in.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

__all__ = ["REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]


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
