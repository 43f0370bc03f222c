"""The live coverage curve and the panel's edge count follow one rule, even at tau = 1."""

import numpy as np
import pytest

from basisgraph.config import Config
from basisgraph.core.counts import cover_counts
from basisgraph.core.graphs import coverage_curve, panel


@pytest.mark.parametrize("coverage", [0.5, 0.9, 1.0])
@pytest.mark.parametrize("basis", ["animal", "half", "mixed"])
def test_edge_count_matches_curve(coverage, basis):
    cfg = Config(animals=300, attributes=20, samples=400, coverage=coverage)
    for circuit in ("animal:bunny", "attribute:furry"):
        p = panel(cfg, basis, circuit, "dataset")
        assert p["edge_count"] == p["coverage_curve"][round(coverage * 100)]


def test_curve_on_a_hand_made_row():
    # |w| = 4, 3, 2, 1 (total 10): 40% needs 1, 70% needs 2, 90% needs 3, 100% needs 4.
    curve = coverage_curve(np.abs(np.array([1.0, -4.0, 2.0, 3.0])))
    assert [curve[40], curve[41], curve[70], curve[90], curve[100]] == [1, 2, 2, 3, 4]
    assert curve[0] == 0
    assert cover_counts(np.array([[1.0, 4.0, 2.0, 3.0]]), 1.0)[0][0] == 4
