"""The trained view's two targets (aligned, superposed) in the page: the MLP toggle, the link's
`target`, the staged build, the read-out's recovered and missed circuits by name, and the
disagreement between edges and single-node ablations, all equal to the API's JSON.

The server is the real app with tiny trained-model settings (tiny_trained_app.py): a build takes
seconds. Screenshots of the superposed view at 1280 and 390 px go to test-output/screenshots.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

TINY = "animals=40&attributes=6&samples=400&circuits=4"
FRESH = f"{TINY}&seed=12"  # built only by the staged-build test


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def _ready(page: Any) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached", timeout=60_000)


def _check_readout(page: Any, table: dict) -> None:
    """The read-out's names and disagreements are the table JSON's."""
    fams = table["readout"]["recovery_strict"]["families"]
    for fam, f in fams.items():
        dd = page.locator(f'#trained dl.trained-names dd[data-family="{fam}"]')
        for kind in ("causal", "not_causal", "missed"):
            text = dd.locator(f'[data-kind="{kind}"]').inner_text()
            names = f["names"][kind]
            assert f"({len(names)})" in text, (fam, kind, text)
            for name in names:
                assert name in text, (fam, kind, name, text)
    cells = {(c["basis"], c["family"]): c["disagreement"] for c in table["ablation"]["cells"]}
    got = page.eval_on_selector_all(
        "#trained table.trained-disagreement td[data-family]",
        "tds => tds.map(td => [td.parentElement.dataset.basis, td.dataset.family, td.dataset.value])")
    assert {(b, f): json.loads(v) for b, f, v in got} == cells
    shown = page.locator('#trained table.trained-disagreement tr[data-basis="hidden"]').inner_text()
    for fam in table["families"]:
        v = cells[("hidden", fam)]
        if v is not None:
            assert f"{round(100 * v)}%" in shown, (fam, v, shown)
    assert "0% means the edges are exactly the ablation effects" in page.inner_text("#trained .trained-ablation")


def test_both_targets_in_the_page(new_page: Any, tiny_trained_url: str, run_job: Any,
                                  screenshot_dir: Path) -> None:
    run_job(tiny_trained_url, f"trained/jobs?{TINY}")
    run_job(tiny_trained_url, f"trained/jobs?{TINY}&target=superposed")
    page = new_page()
    page.goto(f"{tiny_trained_url}/?v=2&{TINY}&model=trained&target=superposed")
    _ready(page)
    page.wait_for_selector('#counts td[data-basis="spd"]')
    assert page.is_checked("#target-superposed") and page.is_visible("#target-superposed + label")
    assert "target=superposed" in page.url
    sup = _get(f"{tiny_trained_url}/api/v1/trained/table?{TINY}&target=superposed")
    assert sup["target"] == "superposed"
    assert "Target: superposed MLP" in page.inner_text("#trained")
    assert "random initialisation" in page.inner_text("#trained .trained-target")
    cells = {(c["basis"], c["family"]): c for c in sup["cells"]}
    for basis in ("spd", "hidden", "mixed"):
        td = page.locator(f'#counts td[data-basis="{basis}"][data-family="attribute"]')
        assert json.loads(td.get_attribute("data-local")) == cells[(basis, "attribute")]["local_edges_median"]
    _check_readout(page, sup)
    page.wait_for_selector('#panels .panel[data-basis="spd"]')
    page.screenshot(path=str(screenshot_dir / "trained-superposed-1280.png"), full_page=True)
    page.screenshot(path=str(screenshot_dir / "trained-superposed-1280-top.png"))
    page.locator("#trained").screenshot(path=str(screenshot_dir / "trained-superposed-1280-section.png"))
    assert page.console_errors == []

    # Switch to the aligned MLP: the link drops target, the numbers are the aligned table's.
    page.click("label[for=target-aligned]")
    _ready(page)
    assert "target=" not in page.url and "model=trained" in page.url
    page.wait_for_function("() => document.querySelector('#trained').innerText.includes('Target: aligned MLP')")
    ali = _get(f"{tiny_trained_url}/api/v1/trained/table?{TINY}")
    assert ali["target"] == "aligned"
    _check_readout(page, ali)
    # Back in history: the superposed view again.
    page.go_back()
    page.wait_for_function("() => document.querySelector('#trained').innerText.includes('Target: superposed MLP')")
    assert page.is_checked("#target-superposed")
    # The toggle only shows on the trained model.
    page.click("label[for=model-planted]")
    _ready(page)
    assert page.is_hidden("#target-superposed + label") and "target=" not in page.url
    assert page.console_errors == []

    phone = new_page(390, 844)
    phone.goto(f"{tiny_trained_url}/?v=2&{TINY}&model=trained&target=superposed")
    _ready(phone)
    phone.wait_for_selector("#trained dl.trained-names")
    _check_readout(phone, sup)
    phone.locator("#trained").screenshot(path=str(screenshot_dir / "trained-superposed-390.png"))
    phone.locator("#target-superposed + label").scroll_into_view_if_needed()
    phone.screenshot(path=str(screenshot_dir / "trained-superposed-390-top.png"))
    assert phone.console_errors == []


def test_superposed_build_shows_its_stages(new_page: Any, tiny_trained_url: str, screenshot_dir: Path) -> None:
    page = new_page()
    page.goto(f"{tiny_trained_url}/?v=2&{FRESH}&model=trained&target=superposed")
    _ready(page)
    assert "not been trained" in page.inner_text("#table-wrap")
    page.click("#trained button.run")
    lists, deadline = [], time.monotonic() + 180
    while True:
        status, items = page.eval_on_selector(
            "#trained", "e => [e.querySelector('.trained-job').dataset.status, "
            "[...e.querySelectorAll('ol.trained-stages li')].map(li => [li.textContent, li.dataset.status])]")
        if status == "running" and items:
            if not any(st == "running" and "MLP" in t for items_ in lists for t, st in items_) and any(
                    st == "running" and "MLP" in t for t, st in items):
                page.locator("#trained .trained-job").screenshot(
                    path=str(screenshot_dir / "trained-build-stages.png"))
            lists.append(items)
        if status in ("done", "failed"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status == "done"
    assert lists, "no stage list was shown while the build ran"
    names = [t.split(":")[0] for t, _ in lists[-1]]
    assert names[-3:] == ["train MLP", "decompose (SPD)", "read out and count"], names
    assert any(s == "running" for items in lists for _, s in items)
    page.wait_for_selector('#counts td[data-basis="spd"]')
    job = _get(f"{tiny_trained_url}/api/v1/trained/jobs?{FRESH}&target=superposed")
    assert job["status"] == "done" and job["query"].endswith("target=superposed")
    assert page.console_errors == []
