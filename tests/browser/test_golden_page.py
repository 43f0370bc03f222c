"""Golden links opened in the page: the JS link parser plus the API give the golden table.

tests/test_golden_links.py checks the Python link reader and the API; this checks what a reader
actually sees when they open a shared link, for the links that are quick to compute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "golden_links.json").read_text())
QUICK = [g for g in GOLDEN if g["table"]["config"]["animals"] * g["table"]["config"]["samples"] <= 50_000]


@pytest.mark.parametrize("golden", QUICK, ids=[g["link"] for g in QUICK])
def test_page_shows_the_golden_table(open_app: Callable[..., Any], page: Any, golden: dict[str, Any]) -> None:
    open_app(golden["link"])
    rows = page.eval_on_selector_all(
        "#counts-table td[data-basis]",
        "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local, td.dataset.global])",
    )
    shown = {(b, f): (json.loads(loc), json.loads(glo)) for b, f, loc, glo in rows}
    want = {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"])
            for c in golden["table"]["cells"]}
    show = dict(p.split("=", 1) for p in golden["link"].split("&")).get("show")
    if show:  # the link hides some node sets; those columns are not drawn
        want = {k: v for k, v in want.items() if k[0] in show.replace("%2C", ",").split(",")}
    assert shown == want
    assert page.eval_on_selector_all(".notice", "ns => ns.length") == 0, "a golden link reads cleanly"
