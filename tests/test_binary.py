"""The binary attribute law: structure of the animals, the seed's claims under it, and its plumbing
(links, API, CLI). The gaussian law's numbers are pinned by tests/test_golden_links.py."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from basisgraph.cli.main import main
from basisgraph.config import Config, ConfigError, parse_config
from basisgraph.core.binary import BINARY_HIGH, BINARY_LOW
from basisgraph.core.counts import table
from basisgraph.core.model import build_model
from basisgraph.share.links import config_from_link, link_query
from basisgraph.web.app import create_app

BINARY = [Config(preset="small", attribute_law="binary"),
          Config(preset="small", attribute_law="binary", attributes_on=5, seed=3),
          Config(attribute_law="binary")]


@pytest.mark.parametrize("cfg", BINARY, ids=lambda c: str(c.overrides()))
def test_each_animal_switches_on_a_fixed_number_of_attributes_with_positive_weights(cfg):
    model = build_model(cfg)
    feat = model.animal_feat[:, : cfg.attributes]  # (animals, attributes)
    assert np.all(feat >= 0)
    assert np.all((feat > 0).sum(axis=1) == cfg.attributes_on)
    norms = np.linalg.norm(model.animal_feat, axis=1)
    assert np.allclose(norms, 1.0)
    # weights on are within [LOW, HIGH] before normalisation: their ratios at most HIGH / LOW
    on = np.where(feat > 0, feat, np.nan)
    assert np.all(np.nanmax(on, axis=1) / np.nanmin(on, axis=1) <= BINARY_HIGH / BINARY_LOW + 1e-12)
    # the animals span the attribute space, and every attribute is used by some animal
    assert np.linalg.matrix_rank(feat) == cfg.attributes
    assert np.all((feat > 0).any(axis=0))


def test_named_animals_have_their_positive_attributes_and_never_their_negative_ones():
    model = build_model(Config(attribute_law="binary"))
    names, attrs = model.animal_names, model.axis_names
    bunny = model.animal_feat[names.index("bunny")]
    assert {attrs[j] for j in np.flatnonzero(bunny[:50] > 0)} == {"cute", "furry", "burrowing"}
    elephant = model.animal_feat[names.index("elephant")]
    assert elephant[attrs.index("big")] > 0 and elephant[attrs.index("cute")] == 0


def test_attributes_on_is_capped_at_attributes():
    model = build_model(Config(preset="bunny", attribute_law="binary"))  # d = 2, attributes_on 3
    assert np.all((model.animal_feat > 0).sum(axis=1) == 2)


def test_the_gaussian_law_is_dense_and_signed():
    feat = build_model(Config(preset="small")).animal_feat
    assert np.all(feat != 0) and (feat < 0).mean() == pytest.approx(0.5, abs=0.05)


@pytest.fixture(scope="module", params=BINARY[:2], ids=["small", "small-on5-seed3"])
def binary_table(request):
    t = table(request.param)
    return request.param, {(c["basis"], c["family"]): c for c in t["cells"]}


def test_claims_that_hold_under_the_binary_law(binary_table):
    cfg, cells = binary_table
    assert cells[("attribute", "attribute")]["local_edges_median"] == 1
    assert cells[("attribute", "attribute")]["global_edges_median"] == 1
    for fam in ("animal", "attribute", "composite"):
        assert cells[("neuron", fam)]["local_edges_median"] >= 0.3 * cfg.d_model
        assert cells[("animal", fam)]["error_share_median"] == 0  # still a dictionary
    for fam, n in (("animal", 1), ("attribute", 1), ("composite", 2)):
        assert cells[("mixed", fam)]["local_edges_median"] == n


def test_claims_that_do_not_hold_under_the_binary_law(binary_table):
    # An animal reader reads attributes_on attribute coordinates, so the attribute basis no
    # longer tangles the animal family (the seed's claim needs >= 0.3 d there) ...
    cfg, cells = binary_table
    assert cells[("attribute", "animal")]["local_edges_median"] <= cfg.attributes_on < 0.3 * cfg.attributes
    assert cells[("attribute", "composite")]["local_edges_median"] <= cfg.attributes_on
    # ... and an overlay of an attribute an animal has lifts that animal's reader on other
    # animals' inputs, so the animal dictionary needs more than k animals on some of them.
    assert cells[("animal", "animal")]["local_edges_median"] > cfg.active


def test_binary_links_round_trip_and_the_default_is_omitted():
    cfg = Config(preset="small", attribute_law="binary", attributes_on=4)
    q = link_query(cfg)
    assert "attribute_law=binary" in q and "attributes_on=4" in q
    assert config_from_link(q) == cfg
    assert "attribute_law" not in link_query(Config(preset="small"))
    assert config_from_link("v=1&preset=bunny").attribute_law == "gaussian"


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError) as info:
        parse_config({"attribute_law": "uniform"})
    assert info.value.allowed == "one of gaussian, binary"
    client = TestClient(create_app())
    r = client.get("/api/v1/table?preset=bunny&attribute_law=uniform")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "attribute_law"]
    r = client.get("/api/v1/table?preset=bunny&attributes_on=0")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "attributes_on"]
    body = client.get("/api/v1/table?preset=bunny&attribute_law=binary").json()
    assert body["config"]["attribute_law"] == "binary"


def test_cli_flags(capsys):
    assert main(["table", "--preset", "bunny", "--attribute-law", "uniform"]) == 2
    assert capsys.readouterr().err.startswith("basisgraph: error: attribute_law: 'uniform'")
    assert main(["table", "--preset", "bunny", "--attribute-law", "binary", "--attributes-on", "1", "--json"]) == 0
    assert '"attributes_on": 1' in capsys.readouterr().out
