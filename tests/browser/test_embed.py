"""/embed inside <iframe sandbox="allow-scripts"> on another origin, as WordPress embeds it.

A tiny http.server on a second loopback origin (http://localhost:<other port>) serves a host page
that frames the app's /embed (http://127.0.0.1:<port>). The frame's origin is then opaque, so
this only works if our module scripts and API answer CORS and the embed never needs storage,
history or popups. The host records every message the frame posts.
"""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

READY = 'body[data-ready="true"]'
HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>a blog post</title><link rel="icon" href="data:,"></head>
<body style="font-family: serif; margin: 20px; background: #fffdf5">
<h1>A blog post that embeds basisgraph</h1>
<p>Some text above the embed.</p>
<iframe id="bg" src="{src}" sandbox="allow-scripts" style="border: 1px solid #ccc; width: {width}px; height: 300px"></iframe>
<p>Some text below the embed.</p>
<script>
  window.messages = [];
  window.addEventListener("message", (e) => {{
    if (e.source !== document.getElementById("bg").contentWindow) return;
    window.messages.push(e.data);
    // What a host does with the generic message: fit the frame to its content.
    if (e.data && e.data.type === "basisgraph:height") document.getElementById("bg").style.height = e.data.height + "px";
  }});
</script>
</body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(http://localhost:<port>, folder it serves): a second origin for host pages."""
    root = tmp_path_factory.mktemp("host")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def host_page(host_origin: tuple[str, Path], server_url: str, new_page: Callable[..., Any]) -> Callable[..., Any]:
    """host_page(query, width=760) -> (page, frame): the host page with the embed, frame ready."""

    def open_host(query: str, width: int = 760, viewport: tuple[int, int] = (1280, 900)) -> tuple[Any, Any]:
        origin, root = host_origin
        name = f"post-{abs(hash((query, width)))}.html"
        src = f"{server_url}/embed?{query}"
        (root / name).write_text(HOST_PAGE.format(src=src.replace("&", "&amp;").replace('"', "&quot;"), width=width))
        page = new_page(*viewport)
        page.goto(f"{origin}/{name}")
        frame = next(f for f in page.frames if f.url.startswith(f"{server_url}/embed"))
        frame.wait_for_selector(READY, state="attached")
        return page, frame

    return open_host


def api(server_url: str, endpoint: str, **params: Any) -> Any:
    with urllib.request.urlopen(f"{server_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}", timeout=60) as r:
        return json.load(r)


def no_horizontal_overflow(frame: Any) -> bool:
    return frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def messages(page: Any) -> list[Any]:
    return page.evaluate("window.messages")


def cells(frame: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
    rows = frame.eval_on_selector_all(
        "#counts-table td[data-basis]",
        "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local, td.dataset.global])",
    )
    return {(b, f): (json.loads(loc), json.loads(glo)) for b, f, loc, glo in rows}


def test_sandboxed_embed_on_another_origin_renders_and_posts_its_height(
    host_page: Callable[..., Any], server_url: str, screenshot_dir: Path
) -> None:
    page, frame = host_page("v=1&preset=bunny&view=both#?secret=abc123", viewport=(1280, 2000))
    assert frame.evaluate("self.origin") == "null", "the sandbox makes the frame's origin opaque"
    assert page.evaluate("location.origin") != urllib.parse.urlsplit(server_url)._replace(path="").geturl()
    table = api(server_url, "table", preset="bunny", v=1)
    want = {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}
    assert cells(frame) == want
    assert frame.locator(".panel").count() == len(table["bases"])
    page.wait_for_function("() => window.messages.some(m => m && m.type === 'basisgraph:height')")
    msgs = messages(page)
    generic = [m for m in msgs if m.get("type") == "basisgraph:height"]
    wordpress = [m for m in msgs if m.get("message") == "height"]
    assert generic and wordpress
    assert wordpress[-1] == {"message": "height", "value": generic[-1]["height"], "secret": "abc123"}
    height = generic[-1]["height"]
    doc = frame.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
    assert height == doc and height > 400
    # The host applied the height: the whole embed is visible without an inner scrollbar.
    page.wait_for_function(f"() => document.getElementById('bg').getBoundingClientRect().height >= {height}")
    assert frame.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    # A tall viewport rather than full_page: Chromium does not repaint a cross-origin frame
    # while a full-page capture resizes the view.
    page.screenshot(path=str(screenshot_dir / "embed-sandboxed-host.png"))
    assert [e for e in page.console_errors if "Blocked opening" not in e] == []


def test_open_link_is_a_normal_link_and_a_host_message(host_page: Callable[..., Any], server_url: str) -> None:
    page, frame = host_page("v=1&preset=bunny&seed=3&count=global&view=table#?secret=s3cr3t")
    link = frame.locator("#open-app")
    assert link.get_attribute("target") == "_blank"
    href = link.get_attribute("href")
    parts = urllib.parse.urlsplit(href)
    assert f"{parts.scheme}://{parts.netloc}" == server_url and parts.path == "/"
    assert urllib.parse.parse_qs(parts.query) == {"v": ["1"], "preset": ["bunny"], "seed": ["3"], "view": ["global"]}
    link.click()  # the sandbox blocks the new window; the host hears about the click instead
    page.wait_for_function("() => window.messages.some(m => m && m.message === 'link')")
    msgs = messages(page)
    assert {"message": "link", "value": href, "secret": "s3cr3t"} in msgs
    assert {"type": "basisgraph:link", "href": href} in msgs
    assert len(page.frames) == 2 and len(page.context.pages) == 1, "no window was opened"


@pytest.mark.parametrize(("layout", "table_shown", "panels_shown"), [
    ("table", True, False), ("graphs", False, True), ("both", True, True),
])
def test_layouts(host_page: Callable[..., Any], layout: str, table_shown: bool, panels_shown: bool) -> None:
    page, frame = host_page(f"preset=bunny&view={layout}")
    assert frame.locator("#counts-table").is_visible() == table_shown
    assert (frame.locator(".panel").count() > 0 and frame.locator("#panels").is_visible()) == panels_shown
    assert frame.evaluate("document.body.dataset.layout") == layout
    assert page.console_errors == []


def test_embed_never_touches_storage_or_history(host_page: Callable[..., Any]) -> None:
    # In an opaque origin localStorage throws and history rewrites fail: any use would be an error.
    page, frame = host_page("preset=bunny&view=both&count=global")
    frame.locator('#counts-table td[data-basis="animal"][data-family="attribute"]').click()
    frame.wait_for_selector(READY, state="attached")
    assert frame.locator('.panel[data-basis="animal"]').get_attribute("class").split().count("selected") == 1
    frame.locator(".panel g.node").first.click()
    assert frame.locator(".panel g.node.highlighted").count() >= 1
    assert frame.evaluate("location.search") == "?preset=bunny&view=both&count=global"
    assert frame.locator("#counts-table").get_attribute("data-view") == "global"
    assert [e for e in page.console_errors if "Blocked opening" not in e] == []


def test_narrow_embed_stacks_and_stays_inside(host_page: Callable[..., Any], screenshot_dir: Path) -> None:
    page, frame = host_page("preset=bunny&view=both", width=340, viewport=(380, 3400))
    assert no_horizontal_overflow(frame)
    page.wait_for_function("() => window.messages.some(m => m && m.type === 'basisgraph:height')")
    page.screenshot(path=str(screenshot_dir / "embed-narrow-host.png"))


def test_hostile_embed_link_is_inert(host_page: Callable[..., Any], server_url: str) -> None:
    dialogs: list[str] = []
    bad = urllib.parse.urlencode({
        "animals": "<script>parent.postMessage('pwned','*')</script>",
        "circuit": "\"'><img src=x onerror=parent.postMessage('pwned','*')>",
        "view": "<b>both</b>", "count": "9" * 5000, "preset": "bunny",
    })
    page, frame = host_page(bad)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    assert frame.locator(".notice").count() >= 2
    assert "pwned" not in json.dumps(messages(page)) and dialogs == []
    assert cells(frame) == {
        (c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"])
        for c in api(server_url, "table", preset="bunny", v=1)["cells"]  # config keys, no v: version 1
    }


def test_embed_carries_a_trained_sae_column(host_page: Callable[..., Any], server_url: str, run_job: Any) -> None:
    # Trained through the API first; the embed of a link naming it shows it as a column.
    tiny = "animals=30&attributes=5&samples=200"
    q = f"v=1&{tiny}&kind=relu&width=35&l1=1&steps=200&sae_seed=0"  # the link's version
    run_job(server_url, f"sae/jobs?{q}")
    page, frame = host_page(f"v=1&{tiny}&sae=relu:35:1:200&view=both")
    table = api(server_url, "sae/table", **dict(urllib.parse.parse_qsl(q)))
    want = {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}
    got = cells(frame)
    assert ("sae:relu:35", "animal") in got and got == want
    frame.wait_for_selector('#panels .panel[data-basis="sae:relu:35"]')
    assert page.console_errors == []

    # An SAE the server has not trained: the planted table, a notice, and no failed request.
    page, frame = host_page(f"v=1&{tiny}&sae=relu:36:1:200&view=table")
    assert frame.locator('#counts-table td[data-basis^="sae:"]').count() == 0
    assert "not trained on this server" in frame.inner_text("#notices")
    assert page.console_errors == []
