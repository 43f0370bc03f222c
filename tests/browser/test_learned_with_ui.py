"""The learned view's "Also use atoms of" select: the union of the shown SAE's atoms and one
more cached SAE's. The numbers shown are the API's with `learned_with`, and the link keeps it.

Two tiny SAEs (40 animals, 6 attributes, 200 steps; widths 20 and 8) are trained through the
API first, on a model seed of their own so that no other test's sweep lists them. Screenshots:
test-output/screenshots/learned-with-*.png.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_learned_ui import _check
from test_story import AXE, run_axe

pytestmark = pytest.mark.browser

TINY = "animals=40&attributes=6&samples=200&seed=2"
SAE = "kind=relu&width=20&l1=1&steps=200&sae_seed=5"
SPEC = "relu:20:1:200:5"
OTHER = "relu:8:1:200:5"
DRAWN = '#sae .sae-learned[data-state="drawn"][data-with="{with_}"]'


def _learned(server_url: str, extra: str = "") -> dict:
    with urllib.request.urlopen(f"{server_url}/api/v1/sae/table?{TINY}&{SAE}&learned=read{extra}", timeout=60) as r:
        return json.load(r)["learned"]


def test_union_counts_are_the_jsons_and_the_link_keeps_the_choice(
        open_app: Any, new_page: Any, server_url: str, run_job: Any, screenshot_dir: Path) -> None:
    run_job(server_url, f"sae/jobs?{TINY}&{SAE}")
    run_job(server_url, f"sae/jobs?{TINY}&kind=relu&width=8&l1=1&steps=200&sae_seed=5")
    alone, union = _learned(server_url), _learned(server_url, f"&learned_with={OTHER}")
    assert union["sources"] == ["sae:relu:20", "sae:relu:8"] and alone["sources"] == ["sae:relu:20"]

    page = open_app(f"v=2&{TINY}&view=local&sae={SPEC}")
    page.wait_for_selector(DRAWN.format(with_=""))
    page.wait_for_selector('#learned-with[data-state="listed"]')
    # The choices: none, then the other cached SAE (never the one shown).
    options = page.eval_on_selector_all("#learned-with option", "os => os.map(o => o.value)")
    assert options == ["", OTHER]
    assert page.input_value("#learned-with") == "" and "learned_with" not in page.url
    _check(page, alone, "local")

    page.select_option("#learned-with", OTHER)
    page.wait_for_selector(DRAWN.format(with_=OTHER))
    assert f"learned_with={OTHER.replace(':', '%3A')}" in page.url
    _check(page, union, "local")
    method = page.text_content("#sae .sae-learned .method")
    assert f"{union['atoms']} live atoms of sae:relu:20, sae:relu:8" in method
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#sae .sae-learned").screenshot(path=str(screenshot_dir / "learned-with-1280.png"))
    page.go_back()
    page.wait_for_selector(DRAWN.format(with_=""))
    assert page.input_value("#learned-with") == ""
    _check(page, alone, "local")
    assert page.console_errors == []

    # The link restores the choice, on a phone too.
    phone = open_app(f"v=2&{TINY}&view=local&sae={SPEC}&learned_with={OTHER}", target=new_page(390, 844))
    phone.wait_for_selector(DRAWN.format(with_=OTHER))
    phone.wait_for_selector('#learned-with[data-state="listed"]')
    assert phone.input_value("#learned-with") == OTHER
    _check(phone, union, "local")
    box = phone.locator("#sae .sae-learned")
    box.scroll_into_view_if_needed()
    box.screenshot(path=str(screenshot_dir / "learned-with-390.png"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.console_errors == []


def test_a_link_naming_an_untrained_sae_says_so(open_app: Any, server_url: str, run_job: Any) -> None:
    run_job(server_url, f"sae/jobs?{TINY}&{SAE}")
    page = open_app(f"v=2&{TINY}&view=local&sae={SPEC}&learned_with=relu:30:1:200:5")
    page.wait_for_selector('#sae .sae-learned[data-state="failed"]')
    assert "learned_with: sae:relu:30" in page.inner_text("#sae .sae-learned .status")
    assert page.input_value("#learned-with") == "relu:30:1:200:5"


def test_the_select_has_no_serious_axe_violation(new_page: Any, server_url: str, run_job: Any) -> None:
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (it is pinned in package-lock.json)")
    run_job(server_url, f"sae/jobs?{TINY}&{SAE}")
    run_job(server_url, f"sae/jobs?{TINY}&kind=relu&width=8&l1=1&steps=200&sae_seed=5")
    page = new_page(1280, 900, bypass_csp=True)
    page.goto(f"{server_url}/?v=2&{TINY}&sae={SPEC}&learned_with={OTHER}")
    page.wait_for_selector(DRAWN.format(with_=OTHER))
    page.wait_for_selector('#learned-with[data-state="listed"]')
    assert run_axe(page) == []
