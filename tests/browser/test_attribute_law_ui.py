"""The attribute-law controls: choosing binary changes the link and the table, and a link that
names it opens with it; a link without it keeps the gaussian law."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

READY = 'body[data-ready="true"]'


def _api_table(server_url: str, **params: Any) -> dict:
    with urllib.request.urlopen(f"{server_url}/api/v1/table?{urllib.parse.urlencode(params)}", timeout=30) as r:
        return json.load(r)


def _query(page: Any) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))


def _local_cells(page: Any) -> dict[tuple[str, str], Any]:
    rows = page.eval_on_selector_all(
        "#counts-table td[data-basis]", "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local])")
    return {(b, f): json.loads(v) for b, f, v in rows}


def test_attribute_law_control(open_app, page, server_url: str, screenshot_dir: Path) -> None:
    open_app("v=2&preset=small")
    assert page.input_value("#f-attribute_law") == "gaussian" and page.input_value("#f-attributes_on") == "3"
    assert page.is_disabled("#f-attributes_on")  # it only matters under the binary law
    page.select_option("#f-attribute_law", "binary")
    page.wait_for_function("() => location.search.includes('attribute_law=binary')")
    page.wait_for_selector(READY, state="attached")
    assert _query(page) == {"v": "2", "preset": "small", "attribute_law": "binary"}
    want = _api_table(server_url, preset="small", attribute_law="binary")
    page.wait_for_function("() => document.querySelectorAll('#counts-table td[data-basis]').length > 0")
    assert _local_cells(page) == {(c["basis"], c["family"]): c["local_edges_median"] for c in want["cells"]}
    assert page.is_enabled("#f-attributes_on")
    page.locator("form").first.screenshot(path=str(screenshot_dir / "attribute-law-controls.png"))
    page.fill("#f-attributes_on", "5")
    page.press("#f-attributes_on", "Enter")
    page.wait_for_function("() => location.search.includes('attributes_on=5')")
    open_app("v=1&preset=bunny")  # an old link: the gaussian law, whatever the page last showed
    assert page.input_value("#f-attribute_law") == "gaussian"
    assert "attribute_law" not in _query(page)
    assert page.console_errors == []
