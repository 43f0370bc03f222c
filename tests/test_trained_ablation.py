"""Edges against single-node ablations on the trained MLP (decomposition/ablation.py).

Hand-made cases first (worked out on paper): where no hidden unit changes its on/off state the
ablation effect equals the gradient x activation edge and the disagreement is 0; where removing
a node switches a unit off, the numbers below follow by hand. Then a tiny trained MLP (6 animals,
3 attributes, 2 circuits per family; about two seconds): for the nodes whose edges are
delta . p (dictionaries, hidden, spd) the edge is the first-order ablation effect, and over the
dataset the disagreement is reported and above 0 for some node set.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from basisgraph.cli.commands import format_recovery
from basisgraph.config import Config
from basisgraph.decomposition import ablation
from basisgraph.decomposition import panels as trained_graphs
from basisgraph.decomposition.ablation import (
    Contributions,
    ablation_effects,
    disagreement,
    disagreement_terms,
)
from basisgraph.decomposition.mlp import TrainConfig
from basisgraph.decomposition.panels import Settings, trained_node_sets, trained_panel, trained_view
from basisgraph.decomposition.spd import SPDConfig
from basisgraph.decomposition.table import format_trained_table, trained_edges, trained_table
from basisgraph.dictionaries.config import SAEConfig

CFG = Config(animals=6, attributes=3, samples=200, circuits=2)
SETTINGS = Settings(TrainConfig(steps=60, batch=128, train_samples=800, heldout_samples=400),
                    SPDConfig(steps=40, batch=64, components_in=8, components_out=8, train_samples=800),
                    (SAEConfig(kind="relu", steps=50),))


def _edges(c: Contributions, z: np.ndarray, w_out_k: np.ndarray) -> np.ndarray:
    """Gradient x activation edges delta . p_m (nodes = directions).  -> (n, nodes)"""
    delta = w_out_k * (z > 0)  # (n, hidden)
    return c.coef * (delta @ c.dirs.T)


def test_linear_case_has_no_disagreement() -> None:
    # Two hidden units well above 0 on both inputs; removing any node keeps them on.
    z = np.array([[5.0, 4.0], [6.0, 3.0]])  # (n=2, hidden=2)
    w_out_k = np.array([1.0, -2.0])
    c = Contributions(coef=np.array([[1.0, 0.5], [2.0, 1.0]]), dirs=np.array([[1.0, 0.0], [0.5, 1.0]]),
                      members=None)
    edges = _edges(c, z, w_out_k)  # [[1, -0.75], [2, -1.5]]
    np.testing.assert_allclose(edges, [[1.0, -0.75], [2.0, -1.5]])
    terms = disagreement_terms(edges, c, z, w_out_k, tau=1.0)
    assert terms["pairs"] == 4 and terms["diff"] == pytest.approx(0.0, abs=1e-12)
    assert terms["ablation"] == pytest.approx(5.25)
    assert disagreement([terms])["disagreement"] == 0.0


def test_a_unit_switched_off_by_hand() -> None:
    # One input, one unit at z = 1 read with weight 2; the node carries 3 of its input.
    # Edge: 2 * 3 = 6. Ablation: 2 * (ReLU(1) - ReLU(1 - 3)) = 2. Disagreement |6 - 2| / 2 = 2.
    z = np.array([[1.0]])
    c = Contributions(coef=np.array([[3.0]]), dirs=np.array([[1.0]]), members=None)
    edges = _edges(c, z, np.array([2.0]))
    assert edges[0, 0] == 6.0
    np.testing.assert_allclose(ablation_effects(z, np.array([2.0]), c, np.array([0]), np.array([0])), [2.0])
    assert disagreement([disagreement_terms(edges, c, z, np.array([2.0]), 1.0)])["disagreement"] == 2.0


def test_grouped_members_sum_their_directions() -> None:
    # A node of two directions removes both: p = 1 * [1, 0] + 2 * [0, 1] = [1, 2].
    z = np.array([[4.0, 5.0]])
    c = Contributions(coef=np.array([[1.0, 2.0]]), dirs=np.eye(2), members=[[0, 1]])
    eff = ablation_effects(z, np.array([1.0, 1.0]), c, np.array([0]), np.array([0]))
    np.testing.assert_allclose(eff, [3.0])


def test_only_kept_nodes_are_compared() -> None:
    # tau = 0.5: on the one input only the largest edge (|6| of 6 + 1) is kept.
    z = np.array([[10.0, 10.0]])
    c = Contributions(coef=np.array([[6.0, 1.0]]), dirs=np.eye(2), members=None)
    edges = _edges(c, z, np.array([1.0, 1.0]))
    r, m = ablation.kept_pairs(edges, 0.5)
    assert list(zip(r.tolist(), m.tolist())) == [(0, 0)]


def test_empty_pool_has_no_ratio() -> None:
    assert disagreement([])["disagreement"] is None and disagreement([])["pairs"] == 0


# --------------------------------------------------------------------------------------------
# A tiny trained MLP


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BASISGRAPH_CACHE", str(tmp_path_factory.mktemp("trained-ablation-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trained_graphs.clear_cache()
    try:
        s = SETTINGS.resolve(CFG)
        table = trained_table(CFG, s.train, s.spd, train=True, sae_cfgs=list(s.saes))
        yield {"table": table, "view": trained_view(CFG, SETTINGS)}
    finally:
        trained_graphs.clear_cache()
        torch.set_num_threads(threads)
        mp.undo()


def test_edges_are_first_order_ablations(built) -> None:
    """For dictionaries, hidden and spd, delta . p_m equals the table's edge on every input."""
    view = built["view"]
    study = view.study
    for k, circuit in enumerate(study.model.circuits):
        rows = np.flatnonzero(study.pre[:, k] > 0)
        if not len(rows):
            continue
        z = study.data.acts[rows] @ view.w_in.T + view.b_in
        delta = view.w_out[k] * (z > 0)  # (n, hidden)
        for basis in trained_node_sets(view):
            if basis == "mixed":  # edges there are a least-squares refit, not delta . p
                continue
            edges, _ = trained_edges(view.run, study, view.node_sets, view.groups, view.readout.g_in,
                                     basis, k, rows)
            c = ablation.contributions(view.run, study, view.node_sets, view.groups,
                                       view.readout.g_in, basis, k, rows)
            first = np.stack([(c.coef[:, mem] * (delta @ c.dirs[mem].T)).sum(1)
                              for mem in (c.members or [[m] for m in range(c.coef.shape[1])])], 1)
            np.testing.assert_allclose(first, edges, atol=1e-9, err_msg=f"{circuit.id} {basis}")


def test_trained_disagreement_is_reported_and_positive(built) -> None:
    table = built["table"]
    cells = table["ablation"]["cells"]
    assert {(c["basis"], c["family"]) for c in cells} == {
        (b["id"], f) for b in table["bases"] for f in table["families"]}
    assert table["ablation"]["rule"] == ablation.RULE and table["ablation"]["coverage"] == CFG.coverage
    values = [c["disagreement"] for c in cells if c["disagreement"] is not None]
    assert values and all(v >= 0 for v in values)
    assert max(values) > 0.0  # the ReLUs make ablation and edge differ somewhere
    hidden = [c for c in cells if c["basis"] == "hidden" and c["pairs"]]
    assert hidden and all(c["disagreement"] > 0 for c in hidden)  # the unit's own bias at least


def test_family_pool_is_the_sum_of_its_circuits(built) -> None:
    table = built["table"]
    for cell in table["ablation"]["cells"]:
        per = [c["ablation"][cell["basis"]] for c in table["circuits"] if c["family"] == cell["family"]
               and c["ablation"][cell["basis"]] is not None]
        assert cell["pairs"] == sum(p["pairs"] for p in per)


def test_panel_reports_its_circuits_disagreement(built) -> None:
    table = built["table"]
    for c in table["circuits"]:
        for basis in ("hidden", "spd", "mixed"):
            p = trained_panel(CFG, basis, c["id"], "dataset", 40, SETTINGS)
            want = c["ablation"][basis]
            assert p["ablation"]["rule"] == ablation.RULE
            if want is None:
                continue
            assert {k: p["ablation"][k] for k in want} == want, (c["id"], basis)
    one = trained_panel(CFG, "spd", table["circuits"][0]["id"], next(iter(built["view"].study.examples)),
                        40, SETTINGS)
    assert one["ablation"]["pairs"] >= 0 and "disagreement" in one["ablation"]


def test_cli_text_shows_the_disagreement_and_the_names(built) -> None:
    table = built["table"]
    text = format_trained_table(table)
    assert "edges against single-node ablations: " + ablation.RULE in text
    spd = next(c for c in table["ablation"]["cells"] if c["basis"] == "spd" and c["disagreement"] is not None)
    row = next(line for line in text.splitlines()[::-1] if line.startswith(spd["family"]))
    assert f"{spd['disagreement']:.2f}" in row
    rep = format_recovery(table["readout"]["recovery_strict"])
    for f in table["readout"]["recovery_strict"]["families"].values():
        for names in f["names"].values():
            assert all(n in rep for n in names)
