"""GET /api/v1/sae/table?...&learned=<fit>&learned_with=<spec>: the learned view over the union
of the shown SAE's atoms and one more trained SAE's.

Two tiny relu SAEs (40 animals, 6 attributes, 200 steps; widths 46 and 8) are trained through
the API into a temporary cache directory.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import basisgraph.web.app as api
from basisgraph.config import parse_config
from basisgraph.core.study import get_study
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.dictionaries.learned import learned_view, node_set_sources
from basisgraph.dictionaries.table import sae_study, sae_table

TINY = {"animals": 40, "attributes": 6, "samples": 200}
CFG = parse_config(TINY)
Q = urlencode(TINY)
SAE = "kind=relu&l1=1&steps=200"  # width: animals + attributes = 46
NARROW = "relu:8:1:200"  # the extra SAE, as a spec


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BASISGRAPH_CACHE", str(tmp_path_factory.mktemp("learned-union")))
    api.clear_cache()
    try:
        with TestClient(api.create_app(timeout_s=60)) as c:
            for query in (SAE, "kind=relu&width=8&l1=1&steps=200"):
                job = c.post(f"/api/v1/sae/jobs?{Q}&{query}", json={}).json()
                deadline = time.monotonic() + 180
                while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
                    time.sleep(0.2)
                    job = c.get(job["poll"]).json()
                assert job["status"] == "done", job
            yield c
    finally:
        api.clear_cache()
        mp.undo()


def test_union_is_learned_view_over_both_saes_atoms(client) -> None:
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=read&learned_with={NARROW}")
    assert r.status_code == 200, r.text
    view = r.json()["learned"]
    wide, narrow = SAEConfig(steps=200).resolve(CFG), SAEConfig(width=8, steps=200).resolve(CFG)
    study, trained = sae_study(CFG, [wide, narrow], train=False)
    sources = node_set_sources(study, [study.node_sets[t.id] for t in trained])
    ref = json.loads(json.dumps(learned_view(get_study(CFG), sources, fit="read")))
    assert {k: v for k, v in view.items() if k != "with"} == ref
    assert view["sources"] == ["sae:relu:46", "sae:relu:8"]
    assert view["atoms"] == sum(len(s.atoms) for s in sources) > len(sources[0].atoms)
    assert [w["id"] for w in view["with"]] == ["sae:relu:8"]
    assert view["with"][0]["config"]["width"] == 8
    # Atoms of both SAEs are picked somewhere, and every support node names its SAE.
    owners = {s["node"].split("/")[0] for c in view["circuits"] for s in c["support"]}
    assert owners <= {"sae:relu:46", "sae:relu:8"}
    # The table itself still has the shown SAE only.
    plain = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=read").json()
    assert {k: v for k, v in r.json().items() if k != "learned"} == {k: v for k, v in plain.items() if k != "learned"}


def test_without_the_parameter_the_body_is_unchanged(client) -> None:
    for fit in ("", "&learned=read", "&learned=input"):
        r = client.get(f"/api/v1/sae/table?{Q}&{SAE}{fit}")
        ref = sae_table(CFG, [SAEConfig(steps=200)], train=False, learned=bool(fit), fit=fit[9:] or "read")
        assert r.json() == json.loads(json.dumps(ref))
        assert "with" not in r.json().get("learned", {})


def test_input_fit_over_the_union(client) -> None:
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=input&learned_with={NARROW}")
    assert r.status_code == 200, r.text
    ref = sae_table(CFG, [SAEConfig(steps=200)], train=False, learned=True, fit="input",
                    learned_with=[SAEConfig(width=8, steps=200)])
    assert r.json()["learned"] == json.loads(json.dumps(ref["learned"]))


@pytest.mark.parametrize("spec", ["relu", "relu:abc", "relu:8:1:200:0:9", "gelu:8", "relu:99999",
                                  "relu:46:1:200"])  # the last is the shown SAE itself
def test_bad_spec_is_422_naming_the_field(client, spec) -> None:
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=read&learned_with={spec}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "learned_with"]


def test_two_values_or_no_learned_view_is_422(client) -> None:
    two = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=read&learned_with={NARROW}&learned_with=relu:20")
    alone = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned_with={NARROW}")
    for r in (two, alone):
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "learned_with"]


def test_untrained_extra_sae_is_404_naming_the_field(client) -> None:
    r = client.get(f"/api/v1/sae/table?{Q}&{SAE}&learned=read&learned_with=relu:20:1:200")
    assert r.status_code == 404
    body = r.json()
    assert body["field"] == "learned_with" and body["detail"].startswith("learned_with: sae:relu:20")
    assert "width=20" in body["train"]
