"""The page's Share, Embed and Download HTML controls, figure downloads, and hostile links.

Clipboard access depends on the context: headless Chromium refuses it without a permission, a
sandboxed frame never has it. The Share control must then leave the link selected in a field.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

READY = 'body[data-ready="true"]'


def api(server_url: str, endpoint: str, **params: Any) -> Any:
    with urllib.request.urlopen(f"{server_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}", timeout=60) as r:
        return json.load(r)


def open_page(page: Any, server_url: str, query: str) -> Any:
    page.goto(f"{server_url}/?{query}")
    page.wait_for_selector(READY, state="attached")
    return page


def test_share_copies_the_full_state_link(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = new_page(1280, 800, permissions=["clipboard-read", "clipboard-write"])
    open_page(page, server_url, "v=1&preset=bunny&seed=3&view=global&circuit=composite%3Abunny%2Bcute")
    page.click("#share-btn")
    page.wait_for_function("() => document.querySelector('#share-part .copy-status').textContent !== ''")
    url = page.input_value("#share-url")
    assert url == page.url
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) == {
        "v": ["1"], "preset": ["bunny"], "seed": ["3"], "view": ["global"], "circuit": ["composite:bunny+cute"]}
    assert page.inner_text("#share-part .copy-status") == "Copied."
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.screenshot(path=str(screenshot_dir / "share-panel.png"))
    assert page.console_errors == []


def test_share_falls_back_to_a_selected_field(new_page: Callable[..., Any], server_url: str) -> None:
    page = open_page(new_page(), server_url, "preset=bunny")
    page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page.click("#share-btn")
    assert "press Ctrl+C" in page.inner_text("#share-part .copy-status")
    selected = page.evaluate("(() => { const f = document.activeElement; return [f.id, f.selectionStart, f.selectionEnd, f.value.length]; })()")
    assert selected[0] == "share-url" and selected[1] == 0 and selected[2] == selected[3] > 0
    assert page.console_errors == []


def test_embed_control_gives_the_iframe(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = open_page(new_page(), server_url, "preset=bunny&view=global")
    page.click("#embed-btn")
    snippet = page.input_value("#embed-snippet")
    assert snippet.startswith(f'<iframe src="{server_url}/embed?v=1&amp;preset=bunny&amp;count=global&amp;view=both"')
    assert 'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"' in snippet
    page.select_option("#embed-layout", "table")
    snippet = page.input_value("#embed-snippet")
    assert "view=table" in snippet and 'height="520"' in snippet
    assert "basisgraph:height" in page.input_value("#embed-resizer")
    # The same iframe as oEmbed gives for this page (modulo width: the control fills the column).
    with urllib.request.urlopen(f"{server_url}/oembed?" + urllib.parse.urlencode(
            {"url": f"{server_url}/?preset=bunny&view=global"}), timeout=30) as r:
        oembed = json.load(r)
    src = oembed["html"].split('"')[1]
    assert src.replace("view=both", "view=table") == snippet.split('"')[1]
    page.screenshot(path=str(screenshot_dir / "embed-panel.png"))
    assert page.console_errors == []


def test_download_html_button(new_page: Callable[..., Any], server_url: str, tmp_path: Path) -> None:
    page = open_page(new_page(accept_downloads=True), server_url, "preset=bunny&input=cute-bunny")
    with page.expect_download() as info:
        page.click("#export-btn")
    path = tmp_path / "page.html"
    info.value.save_as(path)
    assert info.value.suggested_filename.startswith("basisgraph-bunny-")
    text = path.read_text()
    assert '<script type="application/json" id="basisgraph-data">' in text and "cute-bunny" in text


@pytest.mark.parametrize(("selector", "stem"), [
    ("#counts .fig-tools", "basisgraph-chart-local"),
    ('.panel[data-basis="half"] .fig-tools', "basisgraph-half-animal-bunny-dataset"),
])
def test_figures_download_as_svg_and_png(new_page: Callable[..., Any], server_url: str, tmp_path: Path,
                                         selector: str, stem: str) -> None:
    page = open_page(new_page(accept_downloads=True), server_url, "preset=bunny")
    with page.expect_download() as info:
        page.click(f"{selector} .fig-svg")
    assert info.value.suggested_filename == f"{stem}.svg"
    info.value.save_as(tmp_path / "f.svg")
    svg = ET.parse(tmp_path / "f.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    styled = [el for el in svg.iter() if "fill:" in (el.get("style") or "")]
    assert len(styled) > 10, "computed styles are written inline"
    width, height = int(float(svg.get("width"))), int(float(svg.get("height")))
    with page.expect_download() as info:
        page.click(f"{selector} .fig-png")
    assert info.value.suggested_filename == f"{stem}.png"
    info.value.save_as(tmp_path / "f.png")
    img = Image.open(tmp_path / "f.png")
    assert img.size == (2 * width, 2 * height)
    assert len(img.convert("RGB").getcolors(1 << 20) or []) > 8, "the PNG has the drawing, not a blank"
    assert page.console_errors == []


def test_hostile_link_renders_inert(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    query = urllib.parse.urlencode({
        "animals": "<script>window.__pwned = 1</script>",
        "seed": "\"'><img src=x onerror=\"window.__pwned = 2\">",
        "input": "\r\nSet-Cookie: pwned=1",
        "circuit": "x" * 100_000,  # 100 kB through the real server
        "attributes": "20",
    })
    response = page.goto(f"{server_url}/?{query}")
    assert response.status == 200
    headers = response.all_headers()
    assert "set-cookie" not in headers and "frame-ancestors 'self'" in headers["content-security-policy"]
    page.wait_for_selector(READY, state="attached")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    fields = set(page.eval_on_selector_all(".notice", "ns => ns.map(n => n.dataset.field)"))
    assert {"animals", "seed", "input", "circuit"} <= fields
    assert page.eval_on_selector_all(".notice", "ns => ns.every(n => n.querySelector('img, script') === null)")
    table = api(server_url, "table", attributes=20, v=1)  # config keys without v: a version-1 link
    assert {(c["basis"], c["family"]): c["local_edges_median"] for c in table["cells"]} == dict(
        ((b, f), json.loads(v)) for b, f, v in page.eval_on_selector_all(
            "#counts-table td[data-basis]", "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local])"))
    og = page.get_attribute('meta[property="og:title"]', "content")
    assert og == "basisgraph: edge counts for 1,000 animals in 20 attributes"
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query) == {"v": ["1"], "attributes": ["20"]}
    page.screenshot(path=str(screenshot_dir / "hostile-link.png"))
    assert page.console_errors == []
