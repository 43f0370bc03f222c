"""Causal checks: ablation effects beside the edges, checked by intervening on the activations."""

from __future__ import annotations

import numpy as np
import pytest

from basisgraph.config import parse_config
from basisgraph.core.causal import ablation_effects
from basisgraph.core.graphs import panel
from basisgraph.core.study import get_study

SMALL = parse_config({"animals": 120, "attributes": 12, "samples": 300})


@pytest.mark.parametrize("basis", ["neuron", "animal", "attribute", "half"])
@pytest.mark.parametrize("circuit", ["animal:elephant", "attribute:furry", "composite:bunny+cute"])
def test_dictionary_ablation_on_the_input_equals_the_edge(basis, circuit):
    # The reader is linear up to its threshold, so removing g_m D_m moves r . a by e_m exactly.
    p = panel(SMALL, basis, circuit, top=2000)
    for n in p["nodes"]:
        if n["kind"] not in ("error", "more"):
            assert n["ablation_pre"] == pytest.approx(n["weight"], rel=1e-5, abs=1e-12), n["id"]
    assert p["causal"]["error_fraction"] == 0.0


def test_ablation_by_intervening_on_the_activations():
    # Recompute by hand: take the animal dictionary's coefficients, drop one animal, re-read.
    study = get_study(SMALL)
    k, c = study.circuit("animal:elephant")
    ns = study.node_sets["animal"]
    rows = np.flatnonzero(study.pre[:, k] > 0)
    abl = ablation_effects(study.model, ns, study.enc, c, rows, study.recipes[c.id], 0.9, len(study.pre))
    i = ns.index("animal:elephant")
    acts = study.data.acts[rows]
    coef = np.sum(np.where(study.data.animal_idx[rows] == i, study.data.animal_mag[rows], 0.0), axis=1)
    ablated = acts - coef[:, None] * study.model.animal_dirs[i]
    d_pre = (acts - ablated) @ c.read
    d_y = np.maximum(acts @ c.read - c.bias, 0) - np.maximum(ablated @ c.read - c.bias, 0)
    assert abl.pre[i] == pytest.approx(d_pre.sum() / len(study.pre), rel=1e-9)
    assert abl.output[i] == pytest.approx(d_y.sum() / len(study.pre), rel=1e-9)
    assert abl.output[i] < 0.5 * abl.pre[i]  # most of r . a sits below the threshold


def test_mixed_ablation_sees_features_the_recipe_leaves_out():
    p = panel(SMALL, "mixed", "animal:elephant")
    study = get_study(SMALL)
    k, c = study.circuit("animal:elephant")
    rows = np.flatnonzero(study.pre[:, k] > 0)
    j = study.model.axis_names.index(p["causal"]["unlisted"][0]["label"])
    attr = study.model.attr_dirs[j]
    acts = study.data.acts[rows]
    ablated = acts - np.outer(acts @ attr, attr)  # project the attribute out
    want = ((acts - ablated) @ c.read).sum() / len(study.pre)
    assert p["causal"]["unlisted"][0]["ablation_pre"] == pytest.approx(want, rel=1e-5)
    assert p["causal"]["unlisted_over_1pct"] >= 1
    assert 0 < p["causal"]["error_fraction"] < 1


def test_kept_edges_reproduce_the_output():
    for basis in ("animal", "attribute", "mixed"):
        p = panel(SMALL, basis, "animal:elephant", "elephant")
        assert 0.0 <= p["causal"]["kept_output_fraction"] <= 1.5
    # one input, one node: keeping the animal alone gives the whole output back
    assert panel(SMALL, "animal", "animal:elephant", "elephant")["causal"]["kept_output_fraction"] == \
        pytest.approx(1.0)


def test_version_1_panels_carry_no_causal_block():
    v1 = SMALL.model_copy(update={"residual": "minnorm", "overlay_sampling": "topup"})
    p = panel(v1, "animal", "animal:elephant")
    assert "causal" not in p and all("ablation_pre" not in n for n in p["nodes"])
