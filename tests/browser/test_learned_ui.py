"""The learned per-circuit view in the page: its counts are the API's, for both fits, and the
link restores the fit.

A tiny SAE (40 animals, 6 attributes, 200 steps) is trained through the API first; the server's
SAE cache is a fresh temporary directory (conftest.py). Screenshots: test-output/screenshots/
learned-*.png.
"""

from __future__ import annotations

import json
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from test_story import AXE, fmt, run_axe

pytestmark = pytest.mark.browser

# Its own model seed: this SAE must not join the sweep of test_sae_ui.py's configuration.
TINY = "animals=40&attributes=6&samples=200&seed=1"
SAE = "kind=relu&width=20&l1=1&steps=200&sae_seed=5"
SPEC = "relu:20:1:200:5"
DRAWN = '#sae .sae-learned[data-state="drawn"][data-fit="{fit}"]'


def _learned(server_url: str, fit: str) -> dict:
    with urllib.request.urlopen(f"{server_url}/api/v1/sae/table?{TINY}&{SAE}&learned={fit}", timeout=60) as r:
        return json.load(r)["learned"]


def _count(v: float | None) -> str:
    """The page's rounding rule (frontend/js/format.js) for the medians shown."""
    return "–" if v is None else fmt(v)


def _share(v: float | None) -> str:
    """JS toFixed(2): the exact binary value, halves rounded up."""
    return "–" if v is None else str(Decimal(v).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _js(v: float) -> str:
    """A number as JavaScript writes it in a template string (1.0 -> "1")."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _shown(page: Any) -> dict[tuple[str, str], tuple[Any, str]]:
    rows = page.eval_on_selector_all(
        "#sae .sae-learned td[data-key]",
        "tds => tds.map(td => [td.dataset.family, td.dataset.key, JSON.parse(td.dataset.value), td.textContent])")
    return {(fam, key): (value, text) for fam, key, value, text in rows}


def _check(page: Any, view: dict, count: str) -> None:
    """Every cell shown is the JSON's, for the `count` view (local or global)."""
    shown = _shown(page)
    assert len(shown) == 7 * len(view["cells"])
    for c in view["cells"]:
        fam = c["family"]
        for key in ("atoms_median", f"{count}_edges_median", f"oracle_{count}_edges_median"):
            assert shown[(fam, key)] == (c[key], _count(c[key])), (fam, key)
        for key in ("error_share_median", "oracle_error_share_median"):
            value, text = shown[(fam, key)]
            assert (value, text) == (c[key], _share(c[key])), (fam, key)
        for key in (f"within_1_{count}", f"within_1_explained_{count}"):
            assert shown[(fam, key)] == (c[key], f"{c[key]} of {c['firing']}"), (fam, key)
    t = view["totals"]
    summary = page.inner_text("#sae .learned-summary")
    assert f"{t[f'within_1_{count}']} of {t['firing']} firing circuits" in summary
    assert f"{t[f'within_1_explained_{count}']} of them" in summary
    # The circuit picked for the graphs, as this view reads it.
    circuit = page.get_attribute("#sae .learned-circuit", "data-circuit")
    c = next(x for x in view["circuits"] if x["id"] == circuit)
    line = page.inner_text("#sae .learned-circuit")
    assert f"{c['atoms']} atom" in line and f"relative miss {_js(c['miss'])}" in line
    assert all(f"{s['node']} ({s['label']}) × {_js(s['weight'])}" in line for s in c["support"][:4])
    assert f"error share {_share(c['error_share'])}. The oracle: {_count(c[f'oracle_{count}_edges'])} {count} edge" in line


def test_learned_counts_are_the_jsons_and_the_link_keeps_the_fit(
        open_app: Any, new_page: Any, server_url: str, run_job: Any, screenshot_dir: Path) -> None:
    run_job(server_url, f"sae/jobs?{TINY}&{SAE}")
    read, fitted = _learned(server_url, "read"), _learned(server_url, "input")
    assert read["fit"] == "read" and fitted["fit"] == "input"

    page = open_app(f"v=2&{TINY}&view=local&sae={SPEC}")
    page.wait_for_selector(DRAWN.format(fit="read"))
    box = page.locator("#sae .sae-learned")
    assert "needs no ground truth" in box.inner_text() and "oracle: uses the true features" in box.inner_text()
    assert page.is_checked("#learned-fit-read") and "learned=" not in page.url  # read: the default
    _check(page, read, "local")
    assert "sae:relu:20" in page.text_content("#sae .sae-learned .method")
    page.set_viewport_size({"width": 1280, "height": 900})
    box.screenshot(path=str(screenshot_dir / "learned-read-1280.png"))

    # The other fit: the link carries it, and the cells are the input fit's.
    page.click('label[for="learned-fit-input"]')
    page.wait_for_selector(DRAWN.format(fit="input"))
    assert "learned=input" in page.url
    _check(page, fitted, "local")
    # The counts follow the local/global toggle.
    page.click('label[for="view-global"]')
    page.wait_for_selector('#sae table.learned-table[data-view="global"]')
    _check(page, fitted, "global")
    box.screenshot(path=str(screenshot_dir / "learned-input-global-1280.png"))
    page.go_back()
    page.wait_for_selector('#sae table.learned-table[data-view="local"]')
    page.go_back()
    page.wait_for_selector(DRAWN.format(fit="read"))
    assert page.is_checked("#learned-fit-read") and "learned=" not in page.url
    _check(page, read, "local")
    assert page.console_errors == []

    # A link with learned=input opens on the input fit, on a phone too.
    phone = open_app(f"v=2&{TINY}&view=local&sae={SPEC}&learned=input", target=new_page(390, 844))
    phone.wait_for_selector(DRAWN.format(fit="input"))
    assert phone.is_checked("#learned-fit-input")
    _check(phone, fitted, "local")
    learned = phone.locator("#sae .sae-learned")
    learned.scroll_into_view_if_needed()
    learned.screenshot(path=str(screenshot_dir / "learned-input-390.png"))
    # Nothing spills out of the page: a wide table scrolls inside its own box.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # ... and on a phone the turned table fits without scrolling.
    assert phone.eval_on_selector("#sae .learned-wrap", "w => w.scrollWidth <= w.clientWidth")
    # A wider window gets the wide table back, still without scrolling.
    phone.set_viewport_size({"width": 1024, "height": 800})
    phone.wait_for_selector("#sae table.learned-table.wide")
    assert phone.eval_on_selector("#sae .learned-wrap", "w => w.scrollWidth <= w.clientWidth")
    _check(phone, fitted, "local")
    phone.locator("#sae .sae-learned").screenshot(path=str(screenshot_dir / "learned-input-1024.png"))
    assert phone.console_errors == []


def test_learned_view_has_no_serious_axe_violation(new_page: Any, server_url: str, run_job: Any) -> None:
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (it is pinned in package-lock.json)")
    run_job(server_url, f"sae/jobs?{TINY}&{SAE}")
    page = new_page(1280, 900, bypass_csp=True)
    page.goto(f"{server_url}/?v=2&{TINY}&sae={SPEC}&learned=input")
    page.wait_for_selector(DRAWN.format(fit="input"))
    assert run_axe(page) == []
