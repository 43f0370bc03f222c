"""Edge counts: the cover rule, the seed's table as inequalities, and the JSON contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from basisgraph.config import OPTIONAL, Config, parse_config
from basisgraph.core.counts import circuit_stats, cover_counts, round_sig, table
from basisgraph.core.study import get_study

# ---- the cover rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("row, tau, count, threshold", [
    ([3, 1, 0, 0], 0.75, 1, 3.0),  # 3 of 4 is exactly 0.75
    ([0, 1, 3, 0], 0.75, 1, 3.0),  # order does not matter
    ([3, 1, 0, 0], 0.76, 2, 1.0),
    ([3, 1, 0, 0], 1.0, 2, 1.0),  # zeros are never needed
    ([1, 1, 1, 1], 0.9, 4, 1.0),
    ([1, 1, 1, 1], 0.5, 2, 1.0),
    ([1, 1, 1, 1], 0.51, 3, 1.0),
    ([5], 0.01, 1, 5.0),
    ([0, 0, 0], 0.9, 0, np.inf),
])
def test_cover_counts_by_hand(row, tau, count, threshold):
    counts, thr = cover_counts(np.array([row], float), tau)
    assert counts.tolist() == [count]
    assert thr[0] == threshold


def test_cover_counts_rows_are_independent():
    rows = np.array([[3, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0.1, 0.1, 0.1, 9.7]])
    counts, _ = cover_counts(rows, 0.9)
    assert counts.tolist() == [2, 4, 0, 1]


def test_cover_counts_of_empty_rows():
    counts, thr = cover_counts(np.zeros((2, 0)), 0.9)
    assert counts.tolist() == [0, 0] and np.all(np.isinf(thr))


def test_round_sig():
    assert round_sig(1.23456789) == 1.23457
    assert round_sig(0.0) == 0.0
    assert round_sig(None) is None and round_sig(float("nan")) is None
    assert round_sig(123456789.0, 3) == 123000000.0
    assert round_sig(-7.1e-16, 4, 1e-9) == 0.0 and round_sig(1e-9, 4, 1e-9) == 0.0
    assert round_sig(2.5e-9, 4, 1e-9) == 2.5e-9  # above the floor: kept


# ---- the seed's table -------------------------------------------------------------------------

SEED_CONFIGS = [
    Config(),
    parse_config({"animals": 300, "attributes": 20}),
    parse_config({"animals": 2000, "attributes": 64, "samples": 2000}),
    Config(active=2),
    Config(active=4),  # with the version-2 defaults (sparse completion, stratified overlays)
    Config(active=8),
    Config(seed=1),
    Config(seed=7),
    Config(preset="wide"),
]


def _cells(t: dict) -> dict[tuple[str, str], dict]:
    return {(c["basis"], c["family"]): c for c in t["cells"]}


@pytest.fixture(scope="module", params=SEED_CONFIGS, ids=lambda c: str(c.overrides() or "default"))
def seed_table(request):
    cfg = request.param
    return cfg, table(cfg)


def test_animal_circuits_in_animal_basis(seed_table):
    cfg, t = seed_table
    assert _cells(t)[("animal", "animal")]["local_edges_median"] <= cfg.active


def test_attribute_circuits_in_animal_basis(seed_table):
    cfg, t = seed_table
    cell = _cells(t)[("animal", "attribute")]
    assert cell["local_edges_median"] <= cfg.active + 1
    assert cell["global_edges_median"] >= cfg.animals / 10
    assert cell["union_nodes_median"] >= cell["global_edges_median"] * 0.9


def test_animal_circuits_in_attribute_basis(seed_table):
    cfg, t = seed_table
    assert _cells(t)[("attribute", "animal")]["local_edges_median"] >= 0.3 * cfg.attributes


def test_attribute_circuits_in_attribute_basis(seed_table):
    _, t = seed_table
    cell = _cells(t)[("attribute", "attribute")]
    assert cell["local_edges_median"] == 1
    assert cell["global_edges_median"] == 1
    assert cell["own_share_median"] == pytest.approx(1.0)


def test_neuron_basis_is_dense(seed_table):
    cfg, t = seed_table
    for fam in t["families"]:
        assert _cells(t)[("neuron", fam)]["local_edges_median"] >= 0.3 * cfg.d_model


def test_half_own_share(seed_table):
    _, t = seed_table
    for fam in ("animal", "attribute"):
        assert _cells(t)[("half", fam)]["own_share_median"] == pytest.approx(0.5, abs=0.1), fam
    assert _cells(t)[("half", "composite")]["own_share_median"] is None  # no single own node


def test_mixed_counts(seed_table):
    _, t = seed_table
    cells = _cells(t)
    for fam, n in (("animal", 1), ("attribute", 1), ("composite", 2)):
        assert cells[("mixed", fam)]["local_edges_median"] == n, fam
        assert cells[("mixed", fam)]["global_edges_median"] == n, fam


def test_norm_ratios(seed_table):
    cfg, t = seed_table
    for b in t["bases"]:
        if b["is_dictionary"]:
            assert b["reconstruction_error"] <= 1e-5, b["id"]
            assert b["reconstruction_error_max"] <= 1e-5, b["id"]
            assert b["reconstruction_norm_ratio"] == pytest.approx(1.0, abs=1e-5), b["id"]
        elif cfg.random_dims == 0:
            assert b["reconstruction_norm_ratio"] == pytest.approx(2.0, abs=0.1)


def test_dictionaries_have_no_error_edges(seed_table):
    _, t = seed_table
    for c in t["circuits"]:
        for b, st in c["stats"].items():
            if b != "mixed" and st["error_share"] is not None:
                assert st["error_share"] <= 1e-5, (c["id"], b)


def test_per_circuit_numbers_agree_with_cells(seed_table):
    _, t = seed_table
    for (b, fam), cell in _cells(t).items():
        xs = [c["stats"][b]["local_edges"] for c in t["circuits"] if c["family"] == fam]
        assert cell["circuits"] == len(xs)
        xs = [x for x in xs if x is not None]
        assert cell["local_edges_median"] == pytest.approx(float(np.median(xs)), rel=1e-5)
        for c in t["circuits"]:
            if c["active_inputs"] == 0:
                assert all(v is None for v in c["stats"][b].values()), c["id"]


# ---- one circuit, by hand ---------------------------------------------------------------------

def test_bunny_circuit_stats():
    study = get_study(Config())
    k, _ = study.circuit("animal:bunny")
    st = circuit_stats(study, "animal", k)
    # own edge c f.f over the total c f.r: 1 up to round-off (r = f is a rotated copy).
    assert st.local_edges == 1 and st.own_share == pytest.approx(1.0, abs=1e-12)
    assert st.error_share <= 1e-12
    on = study.pre[:, k] > 0
    # The own node's mean |edge| is the mean over all inputs of c_bunny where bunny fires.
    i = study.model.animal_names.index("bunny")
    mean_own = np.sum(np.where(study.data.animal_idx[on] == i, study.data.animal_mag[on], 0.0)) / len(on)
    assert st.mean_abs[study.node_sets["animal"].index("animal:bunny")] == pytest.approx(mean_own, rel=0.05)
    assert st.mean_abs.shape == (study.config.animals,)


def test_alpha_sweep_adds_a_union():
    cfg = parse_config({"animals": 300, "attributes": 20, "samples": 800, "alpha": 0.3})
    t = table(cfg)
    ids = [b["id"] for b in t["bases"]]
    assert ids == ["neuron", "animal", "attribute", "half", "union:0.3", "mixed"]
    cells = _cells(t)
    assert cells[("union:0.3", "animal")]["own_share_median"] == pytest.approx(0.3, abs=0.1)
    assert cells[("union:0.3", "attribute")]["own_share_median"] == pytest.approx(0.7, abs=0.1)
    assert cells[("half", "animal")]["own_share_median"] == pytest.approx(0.5, abs=0.1)
    union = next(b for b in t["bases"] if b["id"] == "union:0.3")
    assert union["atoms"] == 320 and union["reconstruction_error_max"] <= 1e-5


@pytest.mark.parametrize("alpha, animal_share", [(0.0, 0.0), (1.0, 1.0)])
def test_alpha_ends(alpha, animal_share):
    t = table(parse_config({"preset": "bunny", "alpha": alpha}))
    cell = _cells(t)[(f"union:{alpha:g}", "animal")]
    assert cell["own_share_median"] == pytest.approx(animal_share, abs=1e-9)


# ---- the JSON contract -----------------------------------------------------------------------

SMALL = ["--animals", "300", "--attributes", "20", "--samples", "500", "--seed", "3"]


def test_contract_keys():
    cfg = Config(preset="bunny")
    t = table(cfg)
    assert t["version"] == 1
    # every key, except the OPTIONAL ones at their defaults (they change no earlier number)
    assert t["config"] == cfg.as_json() and set(t["config"]) == set(Config.model_fields) - set(OPTIONAL)
    binary = Config(preset="bunny", attribute_law="binary")
    assert table(binary)["config"] == {k: v for k, v in binary.model_dump().items() if k != "attributes_on"}
    assert t["families"] == ["animal", "attribute", "composite"]
    for b in t["bases"]:
        assert {"id", "label", "atoms", "is_dictionary", "reconstruction_error",
                "reconstruction_norm_ratio"} <= set(b)
    assert len(t["cells"]) == len(t["bases"]) * 3
    for c in t["cells"]:
        assert {"basis", "family", "circuits", "local_edges_median", "global_edges_median",
                "union_nodes_median", "own_share_median"} <= set(c)
    assert [c["id"] for c in t["circuits"]] == [c.id for c in get_study(cfg).model.circuits]
    assert "timings" not in t  # wall-clock time would make the JSON differ between runs
    json.dumps(t, allow_nan=False)  # plain JSON: no NaN, no numpy types


def _run_table(hashseed: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    return subprocess.Popen([sys.executable, "-m", "basisgraph.cli", "table", "--json", *SMALL],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_identical_json_from_two_processes():
    procs = [_run_table("1"), _run_table("2")]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out)
    assert outs[0] == outs[1]  # byte for byte
    outs = [json.loads(o) for o in outs]
    # ... and the same numbers as this process, whatever it computed before.
    cfg = parse_config({k.removeprefix("--"): v for k, v in zip(SMALL[::2], SMALL[1::2])})
    here = json.loads(json.dumps(table(cfg)))
    assert here["config"]["seed"] == 3
    assert here == outs[0]


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, float):
        yield obj


def test_table_json_has_no_round_off_noise():
    # Round-off digits depend on the BLAS and CPU; they are reported as 0.0, never as data.
    t = table(Config(preset="bunny"))
    noise = [x for x in _numbers(t) if 0 < abs(x) < 1e-12]
    assert noise == []
    exact = [b for b in t["bases"] if b["id"] != "mixed"]  # complete dictionaries
    assert [b["reconstruction_error_max"] for b in exact] == [0.0] * len(exact)
    # ... while real errors stay: the mixed recipes do not span the composite reads.
    assert _cells(t)[("mixed", "composite")]["error_share_median"] > 0.01


def test_coverage_changes_the_counts_not_the_build():
    base = {"animals": 300, "attributes": 20, "samples": 500}
    tight, loose = parse_config(base | {"coverage": 0.99}), parse_config(base | {"coverage": 0.5})
    assert get_study(tight).model is get_study(loose).model  # one build for both
    t_tight, t_loose = table(tight), table(loose)
    assert t_tight["config"]["coverage"] == 0.99 and t_loose["config"]["coverage"] == 0.5
    a, b = _cells(t_tight), _cells(t_loose)
    for key in a:
        if a[key]["local_edges_median"] is not None:
            assert b[key]["local_edges_median"] <= a[key]["local_edges_median"], key
            assert b[key]["global_edges_median"] <= a[key]["global_edges_median"], key
    assert b[("neuron", "animal")]["local_edges_median"] < a[("neuron", "animal")]["local_edges_median"]


@pytest.mark.parametrize("residual", ["minnorm", "sparse", "error"])
def test_table_agrees_with_a_naive_autograd_loop_under_each_residual_policy(residual):
    from basisgraph.cli.bench import naive_counts

    cfg = parse_config({"animals": 80, "attributes": 10, "samples": 150, "circuits": 4,
                        "active": 2, "residual": residual})
    study = get_study(cfg)
    fast = {c["id"]: c["stats"] for c in table(cfg)["circuits"]}
    for basis in ("animal", "half"):
        for cid, (loc, glob) in naive_counts(study, basis).items():
            assert (fast[cid][basis]["local_edges"], fast[cid][basis]["global_edges"]) == (loc, glob), \
                (basis, cid)
