"""Share and embed, the web side: page heads per link, /embed, oEmbed, preview images, the
one-file export route, and the security headers every response carries.

The page and the embed are static files with one dynamic part: their <head> gets link-preview
tags (Open Graph, Twitter card, oEmbed discovery) written from the request's link. Every value
that came from a request is read leniently (links.read_link drops what is invalid) and then
HTML-escaped, so a hostile link can only ever produce a default page, never markup or a header.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basisgraph.config import Config
from basisgraph.jobs import trained as trained_jobs
from basisgraph.share.assets import frontend_dir
from basisgraph.share.links import Link, link_query, read_link
from basisgraph.share.preview import render_preview
from basisgraph.web.bodies import ERRORS, computed_sync, unavailable
from basisgraph.web.compute import Busy, TimedOut
from basisgraph.web.deps import ConfigDep, config_parameters
from basisgraph.web.routes import trained as trained_api

__all__ = ["SecurityHeaders", "router", "oembed_html", "page_head", "csp_with_script_hashes",
           "figure_height", "fallback_html", "FIGURE_HEIGHTS"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")
PROVIDER = "basisgraph"
EMBED_WIDTH = 720
# Initial frame heights per layout; the embed then posts its real height to the host.
EMBED_HEIGHTS = {"table": 520, "graphs": 820, "both": 1280}
# One compact figure (/embed?figure=...) has a fixed height per width band, so a blog that
# strips the host script still gets a frame that fits. (min width, height) pairs, widest first,
# measured in Chromium (tests/browser/test_embed_figures.py checks them within 20 px). They
# follow frontend/css/embed.css: the table compacts at <= 480 px (app.css), the mini panels
# stack below 520 px (embed.js COMPACT_PANEL), the samples sweep's facets below 664 px (its
# figure is the frame less 24 px; samplesweep.js), bars and geometry have fixed drawing heights.
FIGURE_HEIGHTS: dict[str, tuple[tuple[int, int], ...]] = {
    "table": ((481, 308), (0, 211)),
    "bars": ((0, 363),),
    "panels": ((520, 394), (0, 863)),
    "geometry": ((0, 456),),
    "samples": ((664, 324), (0, 757)),  # facets side by side from 640 px of figure (samplesweep.js)
}
MAX_OEMBED = 10_000
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def csp_with_script_hashes(page: str) -> str:
    """The CSP for a page of ours that needs inline scripts (Swagger UI): hash exactly those."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(page)
    )
    return CSP.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; frame-ancestors 'self'"


class SecurityHeaders:
    """ASGI middleware: CSP, nosniff, Referrer-Policy and CORS on every response.

    Only /embed may be framed by any site (`frame-ancestors *`); everything else only by us.
    GET responses carry `Access-Control-Allow-Origin: *` without credentials, because a
    sandboxed frame has an opaque origin and needs CORS even for our own module scripts and API.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embed = scope["path"] == "/embed"
        cors = scope["method"] in ("GET", "HEAD")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("Content-Security-Policy", CSP + ("; frame-ancestors *" if embed else "; frame-ancestors 'self'"))
                if not embed:
                    h.setdefault("X-Frame-Options", "SAMEORIGIN")
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if cors:
                    h["Access-Control-Allow-Origin"] = "*"
            await send(message)

        await self.app(scope, receive, with_headers)


# ---- page heads ---------------------------------------------------------------------------------


def _describe(config: Config) -> tuple[str, str]:
    """(title, description) of a study, for link cards."""
    c = config
    if c.preset == "bunny" and c.animals == 4 and c.attributes == 2:
        what = "the cute-bunny example (4 animals, 2 attributes)"
    else:
        what = f"{c.animals:,} animals in {c.attributes} attributes" + (
            f" + {c.random_dims} random dims" if c.random_dims else "")
    title = f"basisgraph: edge counts for {what}"
    desc = (f"How many attribution-graph edges does a circuit need when the nodes are neurons, animals, "
            f"attributes, their half-size union, or the features each circuit reads? Edge counts side by "
            f"side for N = {c.animals:,}, d = {c.attributes}, k = {c.active}, seed {c.seed}, τ = {c.coverage:g}, "
            f"with the graphs behind them.")
    return title, desc


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def page_head(base: str, link: Link) -> str:
    """Open Graph, Twitter card, canonical and oEmbed discovery tags for one link (escaped)."""
    query = link_query(link.config, link.ui)
    page = f"{base}/?{query}"
    preview = dict(parse_qsl(link_query(link.config)))  # v and the config, as the link writes them
    if link.ui.get("view") == "global":
        preview["view"] = "global"
    if link.ui.get("model") == "trained":
        preview["model"] = "trained"
        if link.ui.get("target", "aligned") != "aligned":
            preview["target"] = link.ui["target"]
    image = f"{base}/api/v1/preview.png?{urlencode(preview)}"
    title, desc = _describe(link.config)
    oembed = f"{base}/oembed?url={quote(page, safe='')}&format=json"
    tags = [
        ("meta", {"property": "og:type", "content": "website"}),
        ("meta", {"property": "og:site_name", "content": PROVIDER}),
        ("meta", {"property": "og:title", "content": title}),
        ("meta", {"property": "og:description", "content": desc}),
        ("meta", {"property": "og:url", "content": page}),
        ("meta", {"property": "og:image", "content": image}),
        ("meta", {"property": "og:image:width", "content": "1200"}),
        ("meta", {"property": "og:image:height", "content": "630"}),
        ("meta", {"property": "og:image:alt", "content": "Grouped bar chart of edge counts per circuit family and node set"}),
        ("meta", {"name": "twitter:card", "content": "summary_large_image"}),
        ("meta", {"name": "twitter:title", "content": title}),
        ("meta", {"name": "twitter:description", "content": desc}),
        ("meta", {"name": "twitter:image", "content": image}),
        ("link", {"rel": "canonical", "href": page}),
        ("link", {"rel": "alternate", "type": "application/json+oembed", "href": oembed, "title": title}),
    ]
    return "\n".join(
        f"  <{tag} " + " ".join(f'{k}="{_attr(v)}"' for k, v in attrs.items()) + ">" for tag, attrs in tags
    ) + "\n"


@lru_cache(maxsize=8)
def _template(path: str, mtime_ns: int) -> str:
    return Path(path).read_text(encoding="utf-8")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def render_page(request: Request, path: Path) -> Response:
    if not path.is_file():
        return PlainTextResponse("basisgraph: the page is not built yet; the API is at /api/v1/docs", status_code=404)
    text = _template(str(path), path.stat().st_mtime_ns)
    link = read_link(request.query_params.multi_items())
    head = page_head(_base(request), link)
    i = text.lower().find("</head>")
    body = text[:i] + head + text[i:] if i >= 0 else text
    body = body.replace("<!--basisgraph:fallback-->", fallback_html(_base(request), link), 1)
    return HTMLResponse(body, headers={"Cache-Control": "no-cache"})


# ---- oEmbed -------------------------------------------------------------------------------------


def figure_height(figure: str, width: int) -> int:
    """The height, in px, that /embed?figure=<figure> needs in a frame `width` px wide."""
    return next(h for w, h in FIGURE_HEIGHTS[figure] if width >= w)


def fallback_html(base: str, link: Link) -> str:
    """What a frame without scripts shows: the link's chart as a PNG, linking to the live page."""
    page = f"{base}/?{link_query(link.config, link.ui)}"
    preview = {"v": "1", **link.config.overrides()}
    if link.ui.get("view") == "global":
        preview["view"] = "global"
    image = f"{base}/api/v1/preview.png?{urlencode(preview)}"
    return (f'<a class="fallback" href="{_attr(page)}" target="_blank" rel="noopener">'
            f'<img src="{_attr(image)}" alt="Edge counts per circuit family and node set; open the live page" '
            f'width="1200" height="630" style="width:100%;height:auto"></a>')


def _same_host(url_host: str, scheme: str, request_host: str) -> bool:
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    a, b = url_host.lower(), request_host.lower()
    return a.removesuffix(default) == b.removesuffix(default)


def embed_query(link: Link, layout: str, figure: str | None = None) -> str:
    """/embed's query for a link: the state, `count` for local/global, `view` for the layout
    (or `figure` for one compact figure)."""
    ui = {k: v for k, v in link.ui.items() if k != "view"}
    query = link_query(link.config, ui)
    extra = {"count": "global"} if link.ui.get("view") == "global" else {}
    shape = {"figure": figure} if figure else {"view": layout}
    return query + "&" + urlencode({**extra, **shape})


def oembed_html(src: str, width: int, height: int, title: str) -> str:
    """The iframe snippet (the same one the page's Embed control offers)."""
    return (f'<iframe src="{_attr(src)}" width="{width}" height="{height}" title="{_attr(title)}" '
            f'loading="lazy" sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" '
            f'style="border:0;max-width:100%"></iframe>')


def _oembed(request: Request, url: str, maxwidth: int | None, maxheight: int | None, fmt: str) -> Response:
    if fmt != "json":
        return PlainTextResponse("only format=json is implemented", status_code=501)
    parts = urlsplit(url)
    host = request.headers.get("host", "")
    if parts.scheme not in ("http", "https") or not _same_host(parts.netloc, parts.scheme, host) \
            or parts.path not in ("", "/", "/embed"):
        return JSONResponse({"detail": "not a basisgraph page or embed URL on this host"}, status_code=404)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    figure = dict(pairs).get("figure")
    figure = figure if figure in FIGURE_HEIGHTS else None
    pairs = [(k, v) for k, v in pairs if k != "figure"]
    layout = "both"
    if parts.path == "/embed":  # an embed URL: `view` is its layout, `count` its local/global
        raw = dict(pairs)
        layout = raw.get("view") if raw.get("view") in EMBED_HEIGHTS else "both"
        pairs = [(k, v) for k, v in pairs if k not in ("view", "count")]
        if raw.get("count") == "global":
            pairs.append(("view", "global"))
    link = read_link(pairs)
    width = min(EMBED_WIDTH, maxwidth or EMBED_WIDTH)
    need = figure_height(figure, width) if figure else EMBED_HEIGHTS[layout]
    height = min(need, maxheight or need)
    base = _base(request)
    title, _ = _describe(link.config)
    src = f"{base}/embed?{embed_query(link, layout, figure)}"
    trained = {"model": "trained"} if link.ui.get("model") == "trained" else {}
    if trained and link.ui.get("target", "aligned") != "aligned":
        trained["target"] = link.ui["target"]
    preview = f"{base}/api/v1/preview.png?{urlencode({**dict(parse_qsl(link_query(link.config))), **trained})}"
    return JSONResponse({
        "type": "rich", "version": "1.0", "title": title,
        "provider_name": PROVIDER, "provider_url": f"{base}/",
        "html": oembed_html(src, width, height, title), "width": width, "height": height,
        "thumbnail_url": preview, "thumbnail_width": 1200, "thumbnail_height": 630, "cache_age": 3600,
    }, headers={"Cache-Control": "public, max-age=3600"})


# ---- routes -------------------------------------------------------------------------------------


router = APIRouter()
_CONFIG_PARAMS = {"parameters": config_parameters()}


@router.get("/", include_in_schema=False)
def index(request: Request) -> Response:
    """The page, its head templated for the link."""
    return render_page(request, frontend_dir() / "index.html")


@router.get("/embed", include_in_schema=False)
def embed_page(request: Request) -> Response:
    """The embed, its head templated for the link."""
    return render_page(request, frontend_dir() / "embed.html")


@router.get("/oembed", tags=["share"])
def oembed(
    request: Request,
    url: Annotated[str, Query(max_length=8192, description="a basisgraph page or /embed URL on this host")],
    maxwidth: Annotated[int | None, Query(ge=1, le=MAX_OEMBED, description="largest width, px")] = None,
    maxheight: Annotated[int | None, Query(ge=1, le=MAX_OEMBED, description="largest height, px")] = None,
    format: Annotated[str, Query(max_length=16, description="json (xml is not implemented: 501)")] = "json",
) -> Response:
    """oEmbed 1.0 (rich): the iframe for a page or embed URL, sized within the maxima."""
    return _oembed(request, url, maxwidth, maxheight, format)


@router.get("/api/v1/preview.png", tags=["share"], response_class=Response, openapi_extra=_CONFIG_PARAMS,
            responses=ERRORS)
def preview(request: Request, config: ConfigDep,
            view: Annotated[Literal["local", "global"], Query(description="which count")] = "local",
            model: Annotated[Literal["planted", "trained"],
                             Query(description="the trained MLP's chart, when it is built")] = "planted",
            target: trained_api.TargetQuery = "aligned",
            ) -> Response:
    """The edge-count chart as a 1200x630 PNG (the pages' og:image). For model=trained it is
    the trained MLP's (of `target`) table if that is built here, else the planted one."""
    built = trained_api.built_table_params(config, target) if model == "trained" else None
    try:
        table = (computed_sync(request, "trained_table", config, built) if built is not None
                 else computed_sync(request, "table", config))
    except (Busy, TimedOut) as exc:
        return unavailable(exc)
    png, png_etag = _preview_png(table.data, table.etag, view)
    headers = {"ETag": png_etag, "Cache-Control": "public, max-age=3600"}
    if png_etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(png, media_type="image/png", headers=headers)


@router.get("/api/v1/export.html", tags=["share"], response_class=Response, openapi_extra=_CONFIG_PARAMS,
            responses=ERRORS)
def export(request: Request, config: ConfigDep) -> Response:
    """The page as one self-contained HTML file (D3, app code and data inline), as a download."""
    link = read_link(request.query_params.multi_items())
    # Computed like any body (admitted, under a deadline, cached); it also draws panels. The
    # trained model's settings travel with it, so a worker shows what this server would.
    try:
        settings = trained_jobs.settings_for(link.ui.get("target") or trained_jobs.DEFAULT_TARGET)
        page = computed_sync(request, "export", config, (json.dumps(link.ui, sort_keys=True), settings),
                             repeats=2).data.decode()
    except (Busy, TimedOut) as exc:
        return unavailable(exc)
    name = f"basisgraph-{config.preset}-{hashlib.sha256(page.encode()).hexdigest()[:8]}.html"
    return Response(page, media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@lru_cache(maxsize=32)
def _preview_png(table_body: bytes, etag: str, view: str) -> tuple[bytes, str]:
    png = render_preview(json.loads(table_body), view)
    return png, '"' + hashlib.sha256(png).hexdigest()[:32] + '"'
