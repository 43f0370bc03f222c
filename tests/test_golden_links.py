"""Golden links: a link made today gives the same table after every later release.

tests/fixtures/golden_links.json holds links (presets, overrides, v=1, one from before `v`) with
the table JSON each gave when it was added (bodies carry no wall-clock times). Both the link reader and the HTTP
API must reproduce it. Counts are compared exactly; the few float diagnostics (reconstruction
errors near 1e-16) with a tolerance, since they are round-off, not meaning.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from basisgraph.config import PRESETS, Config
from basisgraph.core.counts import table
from basisgraph.share.links import LINK_DEFAULTS, VERSION, config_from_link, link_query, read_link
from basisgraph.web.app import create_app

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden_links.json").read_text())
IDS = [g["link"] or "(empty)" for g in GOLDEN]


def assert_same(got: Any, want: Any, path: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: keys {set(got) ^ set(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: length"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, int | float) and not isinstance(want, bool):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {got} != {want}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def test_fixture_covers_presets_overrides_and_versions() -> None:
    links = [g["link"] for g in GOLDEN]
    assert len(links) >= 5
    assert all(g["table"]["version"] == 1 and "timings" not in g["table"] for g in GOLDEN)
    assert {read_link(x).config.preset for x in links} == set(LINK_DEFAULTS[1]["presets"])
    assert any("v=1" in x for x in links) and any("v=" not in x for x in links)


@pytest.mark.parametrize("golden", GOLDEN, ids=IDS)
def test_golden_link_table_is_unchanged(golden: dict[str, Any]) -> None:
    t = table(config_from_link(golden["link"]))
    assert_same(t, golden["table"])


@pytest.mark.parametrize("golden", GOLDEN, ids=IDS)
def test_golden_link_through_the_api(golden: dict[str, Any]) -> None:
    # A versioned link's query works on the API as is (v picks the defaults), and so does the
    # canonical query of its state, which the page sends (today's v plus explicit keys).
    link = read_link(golden["link"])
    queries = [link_query(link.config, link.ui)] + (["v=1&" + golden["link"]] if "v=" not in golden["link"]
                                                    else [golden["link"]])
    with TestClient(create_app()) as client:
        for query in queries:
            r = client.get(f"/api/v1/table?{query}")
            assert r.status_code == 200
            assert_same(r.json(), golden["table"])


def test_newest_link_version_describes_todays_defaults() -> None:
    """If this fails, a Config default changed: add LINK_DEFAULTS[VERSION + 1] (see links.py)."""
    newest = LINK_DEFAULTS[VERSION]
    assert newest["fields"] == {k: f.default for k, f in Config.model_fields.items() if k != "preset"}
    assert newest["presets"] == PRESETS


def test_v1_links_fill_omitted_keys_from_version_1() -> None:
    # Simulate a release that changed a default: a v=1 link still reads the v=1 value.
    v1 = LINK_DEFAULTS[1]["fields"]
    assert config_from_link("v=1").model_dump() == {"preset": "post", **v1}
    assert config_from_link("v=999&seed=2").seed == 2, "an unknown version reads as the newest"
    assert config_from_link("seed=2") == Config(seed=2, residual="minnorm", overlay_sampling="topup")
    assert config_from_link("") == Config() and read_link("view=global").config == Config(), \
        "a bare visit is today's page"


def test_canonical_query_round_trips() -> None:
    for g in GOLDEN:
        link = read_link(g["link"])
        again = read_link(link_query(link.config, link.ui))
        assert again.config == link.config and again.ui == link.ui
        assert link_query(link.config, link.ui).startswith("v=1"), "a version-1 state keeps v=1"
    assert link_query(Config(seed=3)) == f"v={VERSION}&seed=3"
    assert link_query(Config(residual="minnorm")) == f"v={VERSION}&residual=minnorm"
    assert config_from_link(link_query(Config(residual="error", overlay_sampling="topup"))) == \
        Config(residual="error", overlay_sampling="topup")
