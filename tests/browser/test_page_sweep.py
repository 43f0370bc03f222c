"""The alpha sweep view draws the API's numbers and leaves the table's column where it is."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_sweep_draws_the_api_numbers(open_app: Any, server_url: str, screenshot_dir: Path) -> None:
    page = open_app("v=1&preset=bunny&alpha=0.3")
    assert page.locator("#sweep svg").count() == 0  # computed on request only
    page.click("#sweep button.run")
    page.wait_for_selector('#sweep[data-state="drawn"]', timeout=60_000)
    with urllib.request.urlopen(f"{server_url}/api/v1/sweep?v=1&preset=bunny&steps=11", timeout=60) as r:
        sweep = json.load(r)
    drawn = page.eval_on_selector_all(
        "#sweep g.series circle",
        "cs => cs.map(c => [c.closest('g.series').dataset.family, +c.dataset.alpha, +c.dataset.value])")
    expected = [[p["family"], p["alpha"], p["local_edges_median"]] for p in sweep["points"]
                if p["local_edges_median"] is not None]
    assert sorted(drawn) == sorted(expected)
    # The dashed marker sits at the chosen alpha, which the sweep itself does not change.
    assert "0.3" in page.inner_text("#sweep .sweep-legend")
    page.locator("#sweep").screenshot(path=str(screenshot_dir / "sweep-bunny.png"))
    assert page.console_errors == []
