"""Interference of planted read directions off their circuits (decomposition/interference.py)."""

from types import SimpleNamespace

import numpy as np
import pytest

from basisgraph.decomposition.interference import interference_report, row_space_projection


def _circuit(family, read, bias):
    return SimpleNamespace(family=family, read=np.array(read, dtype=float), bias=bias)


# An animal reader along x (bias 0.5) and an attribute reader along y (bias 0), on three inputs.
MODEL = SimpleNamespace(circuits=[_circuit("animal", [2.0, 0.0], 0.5), _circuit("attribute", [0.0, 1.0], 0.0)])
DATA = SimpleNamespace(acts=np.array([[1.0, 0.0], [0.2, 1.0], [0.0, -1.0]]))


def test_on_and_off_values_by_hand():
    rep = interference_report(MODEL, DATA)
    # animal: 2 * 1 - 0.5 > 0 only on input 0; |x| is 1 there and 0.2, 0 elsewhere.
    assert rep["animal"] == {"fire_fraction": pytest.approx(1 / 3, abs=1e-4), "on_median": 1.0,
                             "off_median": 0.1, "off_p90": pytest.approx(0.18)}
    # attribute: fires on input 1 only; |y| is 0 and 1 on the silent inputs.
    assert rep["attribute"]["on_median"] == 1.0 and rep["attribute"]["off_median"] == 0.5
    assert "composite" not in rep


def test_row_space_projection():
    w_in = np.array([[3.0, 0.0], [-1.0, 0.0]])  # rank 1, reads x only
    proj = row_space_projection(w_in, np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    assert proj == pytest.approx([1.0, 0.0, np.sqrt(0.5)])
    rep = interference_report(MODEL, DATA, w_in)
    assert rep["animal"]["row_space_median"] == 1.0 and rep["attribute"]["row_space_median"] == 0.0
