"""Share and embed over HTTP (TestClient): headers, per-link page heads, the preview image, the
one-file export and hostile links. The real-browser side is in tests/browser/test_embed.py and
tests/browser/test_export.py.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from basisgraph.config import Config
from basisgraph.share.htmlexport import bundle, json_for_html, script_safe
from basisgraph.share.preview import _count
from basisgraph.web.app import create_app, frontend_dir

HOST = "http://testserver"
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "quotes": "\"'><img src=x onerror=alert(2)>",
    "crlf": "1\r\nSet-Cookie: pwned=1",
    # 60 kB: httpx caps a query at 64 kB; tests/browser sends 100 kB through a real server.
    "huge": "9" * 60_000,
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app()) as c:
        yield c


class _Head(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[a.get("property") or a.get("name") or ""] = a.get("content") or ""
        elif tag == "link":
            self.links.append(a)
        elif tag == "script":
            self.scripts.append(a)


def head(html: str) -> _Head:
    p = _Head()
    p.feed(html)
    return p


# ---- headers ------------------------------------------------------------------------------------


def test_embed_may_be_framed_by_anyone_and_nothing_else_is(client: TestClient) -> None:
    embed = client.get("/embed?preset=bunny").headers
    assert embed["content-security-policy"].endswith("frame-ancestors *")
    assert "x-frame-options" not in embed
    for path in ["/", "/?preset=bunny", "/api/v1/health", "/api/v1/docs", "/oembed?url=http://testserver/"]:
        h = client.get(path).headers
        assert "frame-ancestors 'self'" in h["content-security-policy"], path
        assert h["x-frame-options"] == "SAMEORIGIN", path


@pytest.mark.parametrize("path", ["/", "/embed", "/api/v1/table?preset=bunny", "/static/js/main.js",
                                  "/static/js/embed.js", "/vendor/d3.min.js", "/api/v1/preview.png?preset=bunny"])
def test_every_response_is_hardened_and_readable_cross_origin(client: TestClient, path: str) -> None:
    h = client.get(path, headers={"Origin": "null"}).headers
    csp = h["content-security-policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp and "object-src 'none'" in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "strict-origin-when-cross-origin"
    # A sandboxed frame's origin is opaque: our modules and API must allow it, without credentials.
    assert h["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in h


def test_docs_allow_exactly_their_own_inline_script(client: TestClient) -> None:
    r = client.get("/api/v1/docs")
    csp = r.headers["content-security-policy"]
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+';", csp)
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_served_pages_have_no_inline_script_or_handler() -> None:
    for name in ["index.html", "embed.html"]:
        html = (frontend_dir() / name).read_text()
        for s in head(html).scripts:
            assert s.get("src") or s.get("type") == "application/json", f"{name}: inline script"
        assert not re.search(r"\son[a-z]+\s*=", html), f"{name}: inline event handler"
        assert not re.search(r"\sstyle\s*=", html), f"{name}: inline style"


# ---- page heads ---------------------------------------------------------------------------------


def test_page_head_is_templated_from_the_link(client: TestClient) -> None:
    meta = head(client.get("/?v=1&animals=300&attributes=20&seed=4&view=global").text).meta
    assert meta["og:title"] == "basisgraph: edge counts for 300 animals in 20 attributes"
    assert "N = 300, d = 20, k = 1, seed 4" in meta["og:description"]
    assert meta["og:url"] == f"{HOST}/?v=1&animals=300&attributes=20&seed=4&view=global"
    assert meta["og:image"] == f"{HOST}/api/v1/preview.png?v=1&animals=300&attributes=20&seed=4&view=global"
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["twitter:image"] == meta["og:image"] and meta["twitter:title"] == meta["og:title"]
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
    default = head(client.get("/").text).meta
    assert default["og:title"] == "basisgraph: edge counts for 1,000 animals in 50 attributes"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_link_gives_a_default_page_and_clean_headers(client: TestClient, kind: str) -> None:
    value = HOSTILE[kind]
    for path in ["/", "/embed"]:
        keys = ["animals"] if kind == "huge" else ["animals", "circuit", "view", "x"]
        r = client.get(path, params={**dict.fromkeys(keys, value), "seed": "5"})
        assert r.status_code == 200
        assert "set-cookie" not in r.headers and "pwned" not in str(r.headers)
        assert len(r.text) < 20_000, "nothing of the value is echoed"
        for bad in ["<script>alert", "onerror=", "\r\nSet-Cookie", "9" * 200]:
            assert bad not in r.text
        meta = head(r.text).meta
        assert "animals" not in meta["og:url"] and "seed=5" in meta["og:url"], "invalid keys dropped, valid kept"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_values_are_422_in_the_api(client: TestClient, kind: str) -> None:
    for endpoint in ["table", "model", "preview.png", "export.html"]:
        r = client.get(f"/api/v1/{endpoint}", params={"animals": HOSTILE[kind]})
        assert r.status_code == 422, endpoint
        item = r.json()["detail"][0]
        assert item["loc"] == ["query", "animals"] and len(item.get("value", "")) <= 80
    r = client.get("/api/v1/graph", params={"basis": "half", "circuit": HOSTILE[kind]})
    assert r.status_code == 422


# ---- preview image ------------------------------------------------------------------------------


def test_preview_png_is_1200_by_630_and_cached(client: TestClient) -> None:
    r = client.get("/api/v1/preview.png?preset=bunny")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (1200, 630) and img.format == "PNG"
    # Mostly white with the node-set hues present (the bars were drawn).
    colours = {c for _, c in img.convert("RGB").getcolors(1 << 20) or []}
    assert {(0xE6, 0x9F, 0x00), (0x56, 0xB4, 0xE9), (0x00, 0x9E, 0x73), (0xCC, 0x79, 0xA7)} <= colours
    again = client.get("/api/v1/preview.png?preset=bunny", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    glob = client.get("/api/v1/preview.png?preset=bunny&view=global")
    assert glob.status_code == 200 and glob.content != r.content
    assert client.get("/api/v1/preview.png?preset=bunny&view=nope").status_code == 422


# ---- export -------------------------------------------------------------------------------------


def test_export_download_is_one_self_contained_file(client: TestClient) -> None:
    r = client.get("/api/v1/export.html?preset=bunny&circuit=composite%3Abunny%2Bcute&input=cute-bunny")
    assert r.status_code == 200
    assert re.fullmatch(r'attachment; filename="basisgraph-bunny-[0-9a-f]{8}\.html"', r.headers["content-disposition"])
    page = r.text
    h = head(page)
    assert all(not s.get("src") for s in h.scripts), "no external script"
    assert not [ln for ln in h.links if ln.get("rel") == "stylesheet"], "no external stylesheet"
    assert "/static/" not in page.split("</head>")[0]
    assert len(re.findall(r'^<script type="application/json" id="basisgraph-data">', page, re.M)) == 1
    assert "composite:bunny+cute" in page and "cute-bunny" in page
    assert client.get("/api/v1/export.html?preset=bunny&circuit=nope").status_code == 422


def test_json_for_html_cannot_close_its_script() -> None:
    text = json_for_html({"label": "</script><script>alert(1)</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert '"\\u003c/script\\u003e' in text
    assert script_safe('x = "</SCRIPT>"; // <!--') == 'x = "<\\/SCRIPT>"; // <\\!--'


def test_bundle_is_one_classic_script() -> None:
    js = bundle()
    assert not re.search(r"^\s*(import|export)\b", js, re.M)
    assert "import.meta" not in js
    names = re.findall(r"^// ---- (\S+)$", js, re.M)
    for mod, dep in [("main.js", "state.js"), ("main.js", "datasource.js"), ("panels.js", "figures.js")]:
        assert names.index(dep) < names.index(mod), f"{dep} must come before {mod}"
    assert names[-2:] == ["main.js", "share.js"]
    node = subprocess.run(["node", "--check", "-"], input=js, capture_output=True, text=True) if _has_node() else None
    assert node is None or node.returncode == 0, node.stderr


def _has_node() -> bool:
    from shutil import which

    return which("node") is not None


@pytest.mark.slow
def test_cli_export_writes_the_same_kind_of_file(tmp_path: Path) -> None:
    out = tmp_path / "bunny.html"
    cmd = [sys.executable, "-m", "basisgraph.cli", "export", "--html", str(out), "--preset", "bunny", "--view", "global"]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
    page = out.read_text()
    assert 'id="basisgraph-data"' in page and "?v=2&amp;preset=bunny&amp;view=global" in page
    bad = subprocess.run(cmd[:-2] + ["--circuit", "nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("basisgraph: error: circuit:")


def test_export_of_an_unbuilt_trained_model_carries_the_planted_one() -> None:
    from basisgraph.share.htmlexport import collect

    data = collect(Config(preset="bunny"), {"model": "trained"})  # the session cache is empty
    assert "model" not in data["table"] and "model=" not in data["query"]
    assert all(b["id"] != "spd" for b in data["table"]["bases"])


def test_preview_draws_medians_below_one() -> None:
    # A median of 0.5 (counts 0 and 1) or 0 sits on the axis floor instead of failing.
    from basisgraph.share.preview import render_preview

    cfg = Config(preset="bunny").model_dump()
    cells = [{"basis": "spd", "family": "animal", "local_edges_median": v} for v in (0.5,)]
    cells.append({"basis": "hidden", "family": "animal", "local_edges_median": 0})
    png = render_preview({"config": cfg, "families": ["animal"], "cells": cells,
                          "bases": [{"id": "spd"}, {"id": "hidden"}]})
    assert Image.open(io.BytesIO(png)).size == (1200, 630)


@pytest.mark.parametrize(("value", "text"), [(314.5, "314.5"), (87.0, "87"), (24.5, "24.5"), (1000, "1000"), (None, "–")])
def test_preview_uses_the_pages_rounding_rule(value: float | None, text: str) -> None:
    assert _count(value) == text  # the one rounding rule (frontend/js/format.js)


def test_links_carry_the_trained_target() -> None:
    from basisgraph.share.links import link_query, read_link

    link = read_link("v=2&animals=40&model=trained&target=superposed")
    assert link.ui["target"] == "superposed" and link.ui["model"] == "trained"
    assert "target=superposed" in link_query(link.config, link.ui)
    assert "target=" not in link_query(link.config, {**link.ui, "target": "aligned"})  # the default
    bad = read_link("v=2&animals=40&model=trained&target=nope")
    assert "target" not in bad.ui and "target" in bad.dropped


def test_links_carry_the_learned_fit() -> None:
    from basisgraph.share.links import link_query, read_link

    link = read_link("v=2&animals=40&sae=relu:46&learned=input")
    assert link.ui["learned"] == "input"
    assert "learned=input" in link_query(link.config, link.ui)
    assert "learned=" not in link_query(link.config, {**link.ui, "learned": "read"})  # the default
    assert "learned=" not in link_query(link.config, {"learned": "input"})  # no SAE, no view
    bad = read_link("v=2&animals=40&sae=relu:46&learned=oracle")
    assert "learned" not in bad.ui and "learned" in bad.dropped


def test_links_carry_the_seeds_of_the_table() -> None:
    from basisgraph.share.links import link_query, read_link

    link = read_link("v=2&preset=small&seeds=5&view=global")
    assert link.ui["seeds"] == "5"
    assert link_query(link.config, link.ui) == "v=2&preset=small&view=global&seeds=5"  # the page's order
    assert "seeds=" not in link_query(link.config, {"seeds": "1"})  # one seed is the plain table
    for bad in ("0", "10", "two"):
        assert "seeds" in read_link(f"v=2&seeds={bad}").dropped


def test_learned_with_is_carried_with_an_sae_only() -> None:
    from basisgraph.share.links import link_query, read_link

    link = read_link("v=2&animals=40&sae=relu:46&learned_with=relu:8:1:200:5")
    assert link.ui["learned_with"] == "relu:8:1:200:5" and not link.dropped
    query = link_query(link.config, link.ui)
    assert query.endswith("sae=relu%3A46&learned_with=relu%3A8%3A1%3A200%3A5")  # after every older key
    assert "learned_with" not in link_query(link.config, {"learned_with": "relu:8"})  # no SAE, no view
    assert "learned_with" not in link_query(link.config, {"sae": "relu:46"})  # default: none


def test_a_bad_learned_with_is_dropped() -> None:
    from basisgraph.share.links import read_link

    for bad in ("relu", "gelu:8", "relu:8,relu:9", "relu:8:1:2:3:4"):
        link = read_link(f"v=2&animals=40&sae=relu:46&learned_with={bad}")
        assert "learned_with" not in link.ui and link.dropped == ("learned_with",), bad
