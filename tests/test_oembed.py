"""oEmbed 1.0 at /oembed, checked field by field, with the maxima and every error status.

A consumer (WordPress, Ghost, Embedly) finds the endpoint through the page's discovery <link>,
asks with the page URL, and pastes the returned `html` into a post. So the html must be one
sandboxed iframe pointing at /embed with the same state, and nothing a link holds may escape it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from basisgraph.web.app import create_app

HOST = "http://testserver"


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app()) as c:
        yield c


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    return p.tags


def oembed(client: TestClient, url: str, **params: Any) -> Any:
    return client.get("/oembed", params={"url": url, **params})


def iframe_of(body: dict[str, Any]) -> dict[str, str | None]:
    found = tags(body["html"])
    assert [t for t, _ in found] == ["iframe"], "html is exactly one iframe"
    return found[0][1]


def test_fields_for_a_page_url(client: TestClient) -> None:
    r = oembed(client, f"{HOST}/?v=1&preset=bunny&circuit=composite%3Abunny%2Bcute", format="json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["type"] == "rich"
    assert body["version"] == "1.0"
    assert body["provider_name"] == "basisgraph"
    assert body["provider_url"] == f"{HOST}/"
    assert body["title"] == "basisgraph: edge counts for the cute-bunny example (4 animals, 2 attributes)"
    assert (body["width"], body["height"]) == (720, 1280)
    assert body["thumbnail_url"] == f"{HOST}/api/v1/preview.png?v=1&preset=bunny"
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (1200, 630)
    frame = iframe_of(body)
    assert frame["width"] == "720" and frame["height"] == "1280"
    assert frame["sandbox"] == "allow-scripts allow-popups allow-popups-to-escape-sandbox"
    assert frame["title"] == body["title"]
    src = urlsplit(frame["src"] or "")
    assert (src.scheme, src.netloc, src.path) == ("http", "testserver", "/embed")
    assert parse_qs(src.query) == {"v": ["1"], "preset": ["bunny"], "circuit": ["composite:bunny+cute"], "view": ["both"]}
    # The iframe it describes is served, and may be framed by anyone.
    page = client.get(frame["src"] or "")
    assert page.status_code == 200 and "frame-ancestors *" in page.headers["content-security-policy"]


def test_embed_url_keeps_layout_and_count(client: TestClient) -> None:
    body = oembed(client, f"{HOST}/embed?preset=bunny&view=table&count=global").json()
    assert (body["width"], body["height"]) == (720, 520)
    q = parse_qs(urlsplit(iframe_of(body)["src"] or "").query)
    assert q["view"] == ["table"] and q["count"] == ["global"] and q["preset"] == ["bunny"]
    # A page link's view=global becomes the embed's count=global.
    q = parse_qs(urlsplit(iframe_of(oembed(client, f"{HOST}/?view=global").json())["src"] or "").query)
    assert q["count"] == ["global"] and q["view"] == ["both"]
    graphs = oembed(client, f"{HOST}/embed?view=graphs").json()
    assert graphs["height"] == 820


@pytest.mark.parametrize(("maxwidth", "maxheight", "want"), [
    (400, None, (400, 1280)),
    (None, 300, (720, 300)),
    (360, 200, (360, 200)),
    (5000, 5000, (720, 1280)),  # the maxima are upper bounds, not sizes
])
def test_size_respects_maxima(client: TestClient, maxwidth: int | None, maxheight: int | None, want: tuple[int, int]) -> None:
    params = {k: v for k, v in {"maxwidth": maxwidth, "maxheight": maxheight}.items() if v is not None}
    body = oembed(client, f"{HOST}/?preset=bunny", **params).json()
    assert (body["width"], body["height"]) == want
    frame = iframe_of(body)
    assert (int(frame["width"] or 0), int(frame["height"] or 0)) == want


@pytest.mark.parametrize("url", [
    "http://example.com/?preset=bunny",      # another host
    "http://testserver.evil.example/",       # a host that merely starts like ours
    "http://testserver:8001/",               # our host name on another port
    "ftp://testserver/",
    "javascript:alert(1)",
    "/?preset=bunny",                        # not absolute
    f"{HOST}/api/v1/table?preset=bunny",     # ours, but not a page
    f"{HOST}/static/js/main.js",
])
def test_404_for_urls_that_are_not_ours(client: TestClient, url: str) -> None:
    r = oembed(client, url)
    assert r.status_code == 404
    assert "not a basisgraph" in r.json()["detail"]


def test_default_port_is_the_same_host(client: TestClient) -> None:
    assert oembed(client, "http://testserver:80/?preset=bunny").status_code == 200
    assert oembed(client, "http://TESTSERVER/").status_code == 200


@pytest.mark.parametrize("fmt", ["xml", "XML", "yaml"])
def test_501_for_formats_other_than_json(client: TestClient, fmt: str) -> None:
    assert oembed(client, f"{HOST}/", format=fmt).status_code == 501


@pytest.mark.parametrize(("params", "field"), [
    ({"maxwidth": "abc"}, "maxwidth"),
    ({"maxwidth": "0"}, "maxwidth"),
    ({"maxwidth": "-5"}, "maxwidth"),
    ({"maxwidth": "1.5"}, "maxwidth"),
    ({"maxheight": "wide"}, "maxheight"),
    ({"maxwidth": "99999999"}, "maxwidth"),
])
def test_422_for_bad_maxima(client: TestClient, params: dict[str, str], field: str) -> None:
    r = oembed(client, f"{HOST}/", **params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == field


def test_422_without_url(client: TestClient) -> None:
    r = client.get("/oembed")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "url"


def test_hostile_link_stays_inside_attributes(client: TestClient) -> None:
    hostile = '"><script>alert(1)</script>'
    url = f"{HOST}/?animals={hostile}&circuit={hostile}&seed=3&input=%0d%0aX-Injected:%201"
    r = oembed(client, url)
    assert r.status_code == 200 and "x-injected" not in r.headers
    body = r.json()
    assert "<script" not in body["html"] and "\r" not in body["html"] and "\n" not in body["html"]
    q = parse_qs(urlsplit(iframe_of(body)["src"] or "").query)
    assert q == {"v": ["1"], "seed": ["3"], "view": ["both"]}, "invalid values are dropped"


def test_page_head_carries_discovery_for_its_state(client: TestClient) -> None:
    page = client.get("/?v=1&preset=bunny&seed=2").text
    found = [a for t, a in tags(page) if t == "link" and a.get("type") == "application/json+oembed"]
    assert len(found) == 1 and found[0]["rel"] == "alternate"
    href = found[0]["href"] or ""
    assert href.startswith(f"{HOST}/oembed?url=") and href.endswith("&format=json")
    body = client.get(href).json()
    q = parse_qs(urlsplit(iframe_of(body)["src"] or "").query)
    assert q["preset"] == ["bunny"] and q["seed"] == ["2"]
    assert re.search(r"N = 4, d = 2, k = 1, seed 2", client.get("/?preset=bunny&seed=2").text)


@pytest.mark.parametrize(("figure", "maxwidth", "height"), [
    ("table", 680, 308), ("table", 390, 211), ("bars", 680, 363), ("panels", 680, 394), ("panels", 390, 863),
    ("geometry", 390, 456), ("samples", 680, 324), ("samples", 390, 757)])
def test_a_figure_gets_its_height_at_the_requested_width(client: TestClient, figure: str, maxwidth: int,
                                                          height: int) -> None:
    body = oembed(client, f"{HOST}/embed?v=1&count=global&figure={figure}", maxwidth=maxwidth).json()
    assert (body["width"], body["height"]) == (maxwidth, height)
    src = iframe_of(body)["src"]
    q = parse_qs(urlsplit(src).query)
    assert q["figure"] == [figure] and "view" not in q


def test_embed_without_scripts_links_a_static_figure_to_the_page(client: TestClient) -> None:
    html = client.get("/embed", params={"v": "1", "preset": "bunny", "view": "global", "figure": "bars"}).text
    noscript = html[html.index("<noscript>"):html.index("</noscript>")]
    found = tags(noscript)[1:]  # after <noscript> itself
    assert [t for t, _ in found][:2] == ["a", "img"]
    assert found[0][1]["href"] == f"{HOST}/?v=1&preset=bunny&view=global"
    assert found[1][1]["src"].startswith(f"{HOST}/api/v1/preview.png?v=1&preset=bunny")
