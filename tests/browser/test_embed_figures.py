"""Compact embed figures for blogs: each /embed?figure= fits the height /oembed reports for that
width (within 20 px) with no horizontal scroll, at 680 px and on a 390 px phone; without scripts
the frame shows a static image linking to the live page; "Open in basisgraph" works inside an
allow-scripts-only sandbox through the host script the Embed control offers.

Screenshots: test-output/screenshots/embed-figure-*.png.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_embed import host_origin  # noqa: F401  (the fixture: a second loopback origin for host pages)

READY = 'body[data-ready="true"]'


def oembed(server_url: str, url: str, maxwidth: int) -> dict:
    q = urllib.parse.urlencode({"url": url, "maxwidth": maxwidth, "format": "json"})
    with urllib.request.urlopen(f"{server_url}/oembed?{q}", timeout=60) as r:
        return json.load(r)


@pytest.mark.parametrize("width", [680, 390])
@pytest.mark.parametrize("query", ["figure=table", "figure=bars", "figure=panels", "figure=geometry&preset=bunny",
                                   "figure=samples&preset=bunny"])
def test_figure_fits_the_height_oembed_reports(
    query: str, width: int, new_page: Callable[..., Any], server_url: str, screenshot_dir: Path
) -> None:
    body = oembed(server_url, f"{server_url}/embed?v=1&count=global&{query}", width)
    src = body["html"].split('src="')[1].split('"')[0].replace("&amp;", "&")
    assert "figure=" in src and body["width"] == width
    page = new_page(width, 600)
    page.goto(src)
    page.wait_for_selector(READY, state="attached")
    height = page.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
    assert abs(height - body["height"]) <= 20, (query, width, height, body["height"])
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    if "panels" in query and width >= 520:
        tops = page.eval_on_selector_all(".panel", "ps => ps.map(p => Math.round(p.getBoundingClientRect().top))")
        assert len(tops) == 3 and len(set(tops)) == 1, "the three mini panels sit side by side"
    name = query.split("&")[0].split("=")[1]
    page.screenshot(path=str(screenshot_dir / f"embed-figure-{name}-{width}.png"), full_page=True)
    assert page.console_errors == []


def test_script_free_frame_shows_a_static_figure_linking_to_the_page(new_page: Callable[..., Any], server_url: str) -> None:
    page = new_page(680, 600, java_script_enabled=False)
    page.goto(f"{server_url}/embed?v=1&view=global&figure=bars")
    link = page.locator("a.fallback")
    href = link.get_attribute("href")
    assert href.startswith(f"{server_url}/?v=1") and "view=global" in href
    page.wait_for_function("() => document.querySelector('a.fallback img').complete")
    assert page.evaluate("document.querySelector('a.fallback img').naturalWidth") == 1200
    assert link.bounding_box()["width"] > 600


HOST = """<!doctype html><html><head><meta charset="utf-8"><title>post</title></head><body>
<iframe id="bg" src="{src}" sandbox="allow-scripts" style="border:0;width:680px;height:400px"></iframe>
{script}</body></html>"""


def test_open_in_basisgraph_from_an_allow_scripts_sandbox(
    new_page: Callable[..., Any], server_url: str, host_origin: tuple[str, Path]  # noqa: F811
) -> None:
    # The host script is the one the page's Embed control offers.
    app = new_page(1280, 900)
    app.goto(f"{server_url}/?v=1&view=global")
    app.wait_for_selector(READY, state="attached")
    app.click("#embed-btn")
    script = app.input_value("#embed-resizer")
    assert "basisgraph:link" in script
    page = new_page(900, 700)
    src = f"{server_url}/embed?v=1&count=global&figure=bars"
    origin, root = host_origin
    (root / "open-post.html").write_text(HOST.format(src=src.replace("&", "&amp;"), script=script))
    page.goto(f"{origin}/open-post.html")
    frame = page.frame_locator("#bg")
    frame.locator(READY).wait_for(state="attached")
    with page.context.expect_page() as opened:
        frame.locator("#open-app").click()
    new = opened.value
    new.wait_for_load_state()
    assert new.url.startswith(f"{server_url}/?v=1") and "view=global" in new.url
