"""The learned per-circuit view: OMP by hand, the oracle's counts when the atoms are the truth,
a split feature under both fits, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basisgraph.cli.main import main
from basisgraph.config import Config, ConfigError
from basisgraph.core.bases import true_activations
from basisgraph.core.counts import circuit_stats
from basisgraph.core.mixed import union_dirs
from basisgraph.core.study import get_study
from basisgraph.dictionaries.learned import Source, learned_view, sparse_read

E1, E2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
DIAG = (E1 + E2) / np.sqrt(2)


def test_sparse_read_by_hand():
    atoms = np.stack([E1, E2, DIAG])
    picked, w, miss = sparse_read(atoms, E1 + E2)
    assert picked.tolist() == [2] and w == pytest.approx([np.sqrt(2)]) and miss == pytest.approx(0, abs=1e-12)
    # 0.05 of e2 is within a 10% tolerance, not within 1%
    picked, w, miss = sparse_read(atoms, E1 + 0.05 * E2, tol=0.1)
    assert picked.tolist() == [0] and w == pytest.approx([1.0]) and miss == pytest.approx(0.05 / np.hypot(1, 0.05))
    picked, w, miss = sparse_read(atoms, E1 + 0.05 * E2, tol=0.01)
    assert len(picked) == 2 and miss == pytest.approx(0, abs=1e-12)
    # equal atoms: the lower index wins; max_atoms caps the support
    assert sparse_read(np.stack([E1, E1, E2]), E1)[0].tolist() == [0]
    assert len(sparse_read(np.stack([E1, E2]), E1 + E2, tol=1e-9, max_atoms=1)[0]) == 1


def _truth(study, silence=None, animals_only=False) -> Source:
    """The true features as a 'learned' dictionary, with their true activations as codes;
    `silence` = (column, rows mask) zeroes one column on some inputs."""
    model, data = study.model, study.data
    acts = true_activations(model, data)  # (samples, animals + attributes)
    if silence is not None:
        acts[silence[1], silence[0]] = 0.0
    atoms = union_dirs(model)
    labels = tuple(model.animal_names) + tuple(model.axis_names[: model.config.attributes])
    if animals_only:
        n = model.config.animals
        atoms, acts, labels = atoms[:n], acts[:, :n], labels[:n]
    return Source("truth", atoms, lambda rows: acts[rows], labels, np.arange(len(atoms)))


@pytest.mark.parametrize("cfg", [Config(preset="small"), Config(preset="small", attribute_law="binary")],
                         ids=["gaussian", "binary"])
def test_true_atoms_and_codes_give_the_oracles_counts(cfg):
    study = get_study(cfg)
    view = learned_view(study, [_truth(study)], tol=1e-8)
    for k, c in enumerate(view["circuits"]):
        oracle = circuit_stats(study, "mixed", k, signed=False)
        assert c["atoms"] == len(study.recipes[c["id"]][0]), c["id"]
        assert (c["local_edges"], c["global_edges"]) == (oracle.local_edges, oracle.global_edges), c["id"]
        assert (c["oracle_local_edges"], c["oracle_global_edges"]) == (oracle.local_edges, oracle.global_edges)
        assert c["error_share"] == pytest.approx(oracle.error_share, abs=1e-4)
    for cell in view["cells"]:
        assert cell["within_1_local"] == cell["within_1_global"] == cell["firing"] == cell["circuits"]
        assert cell["within_1_explained_local"] == cell["within_1_explained_global"] == cell["firing"]
    assert view["oracle"] is None and "no ground truth" in view["label"]


def test_a_split_feature_read_fit_takes_one_half_input_fit_both():
    # The bunny feature split over two identical atoms, each active on half of bunny's inputs.
    study = get_study(Config(preset="small"))
    data, model = study.data, study.model
    odd = np.arange(len(data.acts)) % 2 == 1
    bunny = 0
    half = true_activations(model, data)[:, bunny] * odd  # (samples,)
    truth = _truth(study, silence=(bunny, odd))
    split = Source("split", model.animal_dirs[[bunny]], lambda rows: half[rows, None], ("bunny'",), np.arange(1))
    k = [c.id for c in model.circuits].index("animal:bunny")
    read = learned_view(study, [truth, split], tol=1e-8)["circuits"][k]
    assert read["atoms"] == 1 and read["support"][0]["node"] == "truth/0"
    assert read["error_share"] > 0.3  # the other half's activity lands in the error node
    # The input fit needs both halves. (Over dense attribute codes it would not: on inputs that
    # hold one animal, every attribute's code is proportional to that animal's, so the data
    # cannot tell them apart; hence animals only here.)
    animals = _truth(study, silence=(bunny, odd), animals_only=True)
    fitted = learned_view(study, [animals, split], tol=0.2, fit="input")["circuits"][k]
    assert [s["node"] for s in fitted["support"]][:2] in (["truth/0", "split/0"], ["split/0", "truth/0"])
    assert fitted["error_share"] < read["error_share"] / 2
    with pytest.raises(ConfigError) as info:
        learned_view(study, [truth], fit="nearest")
    assert info.value.field == "learned_fit"


@pytest.fixture
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISGRAPH_CACHE", str(tmp_path))


def test_cli_table_carries_the_learned_view(_cache, capsys):
    argv = ["train-sae", "--animals", "60", "--attributes", "8", "--samples", "300", "--steps", "30",
            "--train-samples", "512", "--batch", "64", "--widths", "8,68", "--table"]
    assert main([*argv, "--json"]) == 0
    t = json.loads(capsys.readouterr().out)
    view = t["learned"]
    assert view["sources"] == ["sae:relu:8", "sae:relu:68"] and view["fit"] == "read"
    assert len(view["circuits"]) == len(t["circuits"])
    assert [c["family"] for c in view["cells"]] == t["families"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "not the oracle" in out and "within one edge of the oracle" in out
    assert main([*argv, "--learned-tol", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("basisgraph: error: learned_tol: '1.5'")
