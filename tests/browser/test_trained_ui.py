"""The trained model in the page: switch Model to trained, build it, watch the staged progress
bar, then read the spd column and panels, and switch back to the planted model.

The server is the real app with tiny trained-model settings (tiny_trained_app.py) and an empty
cache, so the model starts unbuilt and a build takes seconds.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

TINY = "animals=40&attributes=6&samples=400&circuits=4"
# The build test starts from a model nobody else builds (the server lives for the session).
FRESH = f"{TINY}&seed=11"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def _ready(page: Any) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached")


def test_build_and_show_the_trained_model(page: Any, tiny_trained_url: str, screenshot_dir: Path) -> None:
    page.goto(f"{tiny_trained_url}/?v=2&{FRESH}")
    _ready(page)
    assert page.is_checked("#model-planted")
    assert page.locator('#counts td[data-basis="spd"]').count() == 0

    # Asking for the trained model before it is built: placeholders say why, nothing 404s.
    page.click("label[for=model-trained]")
    _ready(page)
    assert "model=trained" in page.url
    assert "not been trained" in page.inner_text("#table-wrap")
    assert "not been trained" in page.inner_text("#panels")
    assert page.locator("#trained button.run").is_enabled()
    assert page.console_errors == []

    page.click("#trained button.run")
    seen, stages, statuses = [], set(), set()
    deadline = time.monotonic() + 180
    while True:
        status, stage, value, text = page.eval_on_selector(
            "#trained .trained-job",
            "e => [e.dataset.status, e.dataset.stage, e.querySelector('progress').value, "
            "e.querySelector('.status').textContent]")
        statuses.add(status)
        if status == "running":
            seen.append(value)
            stages.add(stage)
            assert stage in text, (stage, text)
        if status in ("done", "failed"):
            break
        assert time.monotonic() < deadline, (statuses, text)
        time.sleep(0.05)
    assert status == "done", page.inner_text("#trained")
    assert all(b >= a for a, b in itertools.pairwise(seen)), seen
    assert any(0 < v < 1 for v in seen), seen  # a real bar, not a jump to the end
    assert stages - {"loading"} <= {"SAE relu:46", "train MLP", "decompose (SPD)", "read out and count"}, stages
    assert stages & {"SAE relu:46", "train MLP", "decompose (SPD)"}, stages

    page.wait_for_selector('#counts td[data-basis="spd"]')
    _ready(page)
    # The table shows the trained numbers verbatim.
    table = _get(f"{tiny_trained_url}/api/v1/trained/table?{FRESH}")
    assert table["model"] == "trained"
    cells = {(c["basis"], c["family"]): c for c in table["cells"]}
    for basis in ("spd", "hidden", "mixed", "animal"):
        for fam in ("animal", "attribute", "composite"):
            td = page.locator(f'#counts td[data-basis="{basis}"][data-family="{fam}"]')
            assert json.loads(td.get_attribute("data-local")) == cells[(basis, fam)]["local_edges_median"]
            assert json.loads(td.get_attribute("data-global")) == cells[(basis, fam)]["global_edges_median"]
    # The read-out summary lists each family's recovery from the same JSON.
    rec = table["readout"]["recovery"]
    row = page.locator('#trained table.trained-recovery tr[data-family="attribute"]').inner_text()
    assert f"{rec['attribute']['recovered']}/{rec['attribute']['circuits']}" in row
    strict = table["readout"]["recovery_strict"]["families"]["attribute"]
    assert f"{strict['recovered_and_causal']} causal" in row
    # An spd panel, drawn from /api/v1/trained/graph, with its nodes named like SAE latents.
    panel = page.locator('#panels [data-basis="spd"]').first
    panel.wait_for()
    graph = _get(f"{tiny_trained_url}/api/v1/trained/graph?{FRESH}&basis=spd&circuit=animal:bunny"
                 "&input=dataset&top=30")
    assert str(graph["edge_count"]) in panel.inner_text()
    assert all(n["label"].startswith("≈") for n in graph["nodes"] if n["kind"] == "spd")
    page.screenshot(path=str(screenshot_dir / "trained-model.png"), full_page=True)
    assert page.console_errors == []

    # Back to the planted model: the extra columns go, the link drops model=trained.
    page.click("label[for=model-planted]")
    _ready(page)
    assert "model=" not in page.url
    assert page.locator('#counts td[data-basis="spd"]').count() == 0
    page.go_back()
    page.wait_for_selector('#counts td[data-basis="spd"]')


def test_trained_link_on_a_fresh_page(new_page: Any, tiny_trained_url: str, run_job: Any) -> None:
    run_job(tiny_trained_url, f"trained/jobs?{TINY}")  # a no-op once it is cached
    page = new_page()
    page.goto(f"{tiny_trained_url}/?v=2&{TINY}&model=trained&view=global")
    _ready(page)
    assert page.is_checked("#model-trained")
    assert page.locator('#counts td[data-basis="spd"]').count() == 3
    assert page.locator("#trained button.run").is_hidden()
    assert page.console_errors == []


def test_too_large_for_the_trained_model(new_page: Any, tiny_trained_url: str) -> None:
    page = new_page()
    page.goto(f"{tiny_trained_url}/?v=2&animals=5000&model=trained")
    _ready(page)
    text = page.inner_text("#table-wrap")
    assert "not available" in text and "animals" in text and "1000" in text
    assert page.locator("#trained button.run").is_disabled()
    # The planted model of the same link still works.
    page.click("label[for=model-planted]")
    _ready(page)
    assert page.locator('#counts td[data-basis="animal"]').count() == 3


def test_embed_of_the_trained_model(new_page: Any, tiny_trained_url: str, run_job: Any) -> None:
    run_job(tiny_trained_url, f"trained/jobs?{TINY}")
    page = new_page()
    page.goto(f"{tiny_trained_url}/embed?v=2&{TINY}&model=trained&view=both")
    _ready(page)
    table = _get(f"{tiny_trained_url}/api/v1/trained/table?{TINY}")
    want = {(c["basis"], c["family"]): c["local_edges_median"] for c in table["cells"]}
    got = page.eval_on_selector_all(
        "#counts-table td[data-basis]", "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local])")
    assert {(b, f): json.loads(v) for b, f, v in got} == want
    page.wait_for_selector('#panels .panel[data-basis="spd"]')
    assert "model=trained" in page.get_attribute("#open-app", "href")
    assert page.console_errors == []
