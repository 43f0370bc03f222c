"""Learned dictionaries in the page: train a tiny SAE, watch the progress bar, see its column.

The server's SAE cache is a fresh temporary directory (conftest.py), so the SAE starts untrained.
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

TINY = "animals=40&attributes=6&samples=200"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def test_train_sae_from_the_page(open_app: Any, server_url: str, screenshot_dir: Path) -> None:
    page = open_app(f"v=2&{TINY}")
    assert page.locator('#counts td[data-basis^="sae:"]').count() == 0
    assert page.locator("#sae progress").is_hidden()
    page.fill("#sae-steps", "3000")
    page.fill("#sae-sparsity", "1")
    page.click("#sae button.run")
    seen, statuses = [], set()
    deadline = time.monotonic() + 120
    while True:
        status, value, visible = page.eval_on_selector(
            "#sae .sae-job", "e => [e.dataset.status, e.querySelector('progress').value, "
            "!e.querySelector('progress').hidden]")
        statuses.add(status)
        if status not in ("idle", "starting"):
            assert visible
            seen.append(value)
        if status in ("done", "failed"):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.1)
    assert status == "done", page.inner_text("#sae .sae-job")
    assert statuses & {"queued", "running", "measuring"}, statuses
    assert any(0 < v < 1 for v in seen), seen  # a real bar, not a jump to the end
    assert all(b >= a for a, b in itertools.pairwise(seen)), seen
    assert seen[-1] == 1

    page.wait_for_selector('#counts td[data-basis="sae:relu:46"]')
    page.wait_for_selector('body[data-ready="true"]', state="attached")
    assert "sae=relu%3A46" in page.url
    table = _get(f"{server_url}/api/v1/sae/table?{TINY}&kind=relu&width=46&l1=1&steps=3000&sae_seed=0")
    cells = {(c["basis"], c["family"]): c for c in table["cells"]}
    drawn = page.eval_on_selector_all(
        '#counts td[data-basis="sae:relu:46"]',
        "tds => tds.map(td => [td.dataset.family, JSON.parse(td.dataset.local), JSON.parse(td.dataset.global)])")
    assert len(drawn) == 3
    for fam, local, glob in drawn:
        c = cells[("sae:relu:46", fam)]
        assert (local, glob) == (c["local_edges_median"], c["global_edges_median"])
    # Its metrics, as the table reports them.
    metrics = table["bases"][-1]["sae"]["metrics"]
    shown = page.eval_on_selector_all(
        "#sae dl.sae-metrics dd", "dds => dds.map(d => [d.dataset.metric, JSON.parse(d.dataset.value)])")
    assert {k for k, _ in shown} >= {"l0", "explained_variance", "dead_fraction", "shrinkage", "mcc_animals",
                                      "mcc_attributes", "match_animals", "match_attributes"}
    for key, value in shown:
        assert value == metrics[key], key
    # A panel under the SAE, labelled with nearest true features.
    page.wait_for_selector('#panels [data-basis="sae:relu:46"]')
    assert "≈" in page.inner_text('#panels [data-basis="sae:relu:46"]')

    # The sweep draws the API's points.
    page.click("#sae .sae-sweep button.run")
    page.wait_for_selector('#sae .sae-sweep[data-state="drawn"]', timeout=60_000)
    sweep = _get(f"{server_url}/api/v1/sae/sweep?{TINY}")
    points = page.eval_on_selector_all(
        "#sae .sae-sweep circle",
        "cs => cs.map(c => [c.dataset.key, c.dataset.family, +c.dataset.width, +c.dataset.value])")
    expected = [[p["key"], c["family"], p["width"], c["local_edges_median"]]
                for p in sweep["points"] for c in p["cells"] if c["local_edges_median"] is not None]
    assert sorted(points) == sorted(expected)
    assert "sae:relu:46" in page.inner_text("#sae .sae-sweep .verdict")
    # Like every figure, the sweep downloads as a standalone SVG (and PNG).
    with page.expect_download() as info:
        page.click("#sae .sae-sweep .fig-svg")
    assert info.value.suggested_filename == "basisgraph-sae-sweep-local.svg"
    svg = Path(info.value.path()).read_text()
    assert "<svg" in svg[:100] and svg.count("<circle") == len(points)
    # Below the metrics, the learned per-circuit view of the new SAE (tests/browser/test_learned_ui.py).
    page.wait_for_selector('#sae .sae-learned[data-state="drawn"] td[data-key="local_edges_median"]')
    page.locator("#sae").screenshot(path=str(screenshot_dir / "sae-section.png"))
    assert page.console_errors == []


def test_link_to_a_trained_or_untrained_sae(open_app: Any, new_page: Any, server_url: str, run_job: Any) -> None:
    # Trained through the API (a cached SAE answers at once the second time).
    q = f"{TINY}&kind=relu&width=20&l1=1&steps=200&sae_seed=3"
    run_job(server_url, f"sae/jobs?{q}")
    page = open_app(f"v=2&{TINY}&sae=relu:20:1:200:3")
    page.wait_for_selector('#counts td[data-basis="sae:relu:20"]')
    assert page.locator("#sae dl.sae-metrics").is_visible()
    assert page.input_value("#sae-width") == "20" and page.input_value("#sae-seed") == "3"
    # Not trained: the plain table and a note saying how to train it.
    other = open_app(f"v=2&{TINY}&sae=relu:20:1:200:4", target=new_page())
    assert other.locator('#counts td[data-basis^="sae:"]').count() == 0
    assert "Press Train" in other.inner_text("#sae .sae-job .status")
    assert other.locator("#sae dl.sae-metrics").count() == 0 or other.locator("#sae .sae-result").is_hidden()
    # Remove the column: the link drops the key.
    page.click("#sae button.remove")
    page.wait_for_selector('body[data-ready="true"]', state="attached")
    page.wait_for_function("() => !document.querySelector('#counts td[data-basis^=\"sae:\"]')")
    assert "sae=" not in page.url
    assert page.console_errors == [] and other.console_errors == []
