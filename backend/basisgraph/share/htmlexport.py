"""The one-file HTML export: the page, D3, the app code and the data in a single file that works
from file:// with no server (the page's "Download HTML" and `basisgraph export --html`).

ES modules do not load from file:// (an opaque origin), so `bundle` turns the page's modules into
one classic script: each module becomes a function scope in dependency order, its imports become
reads of the modules before it, and its exports the object it returns. The API answers the page
needs are carried in a JSON data block; frontend/js/datasource.js answers api.js from it instead
of fetching. The export carries the table, the model, and the panels of every node set for the
link's circuit and input plus the first circuit of each family (what a click on a table cell
asks for), on that input and on the whole dataset, so the graphs stay interactive.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import basisgraph
from basisgraph.config import Config, ConfigError
from basisgraph.core import counts, graphs
from basisgraph.decomposition.panels import trained_panel, view_table
from basisgraph.jobs import trained as trained_jobs
from basisgraph.jobs.sae import sae_from_spec
from basisgraph.share.assets import frontend_dir, vendor_file
from basisgraph.share.links import link_query

__all__ = ["bundle", "collect", "build_html", "export_html", "script_safe", "json_for_html"]

ENTRIES = ("main.js", "share.js")
_IMPORT = re.compile(r"^import\s+(?P<what>[^;\"']*?)\s+from\s+[\"'](?P<src>\./[\w.-]+\.js)[\"'];?[ \t]*$", re.M | re.S)
_BARE_IMPORT = re.compile(r"^import\s+[\"'](?P<src>\./[\w.-]+\.js)[\"'];?[ \t]*$", re.M)
_EXPORT_DECL = re.compile(r"^export\s+(?P<kw>(?:async\s+)?function\*?|class|const)\s+(?P<name>[A-Za-z_$][\w$]*)", re.M)
_EXPORT_DEFAULT = re.compile(r"^export\s+default\s+", re.M)


def _var(name: str) -> str:
    return "__bg_" + re.sub(r"\W", "_", name.removesuffix(".js"))


def _imports_to_consts(what: str, mod: str) -> str:
    what = " ".join(what.split())
    out = []
    default, _, named = what.partition("{") if "{" in what else (what, "", "")
    default = default.strip().rstrip(",").strip()
    if default.startswith("* as "):
        out.append(f"const {default[5:].strip()} = {mod};")
    elif default:
        out.append(f"const {default} = {mod}.default;")
    if named:
        names = [n.strip() for n in named.rstrip("} ").split(",") if n.strip()]
        parts = [n.replace(" as ", ": ") for n in names]
        out.append(f"const {{ {', '.join(parts)} }} = {mod};")
    return " ".join(out)


def _module(name: str, text: str) -> tuple[str, list[str]]:
    """(function-scoped module source, the modules it imports)."""
    deps: list[str] = []

    def imp(m: re.Match[str]) -> str:
        deps.append(m["src"][2:])
        return _imports_to_consts(m["what"], _var(m["src"][2:]))

    def bare(m: re.Match[str]) -> str:
        deps.append(m["src"][2:])
        return ""

    text = _IMPORT.sub(imp, text)
    text = _BARE_IMPORT.sub(bare, text)
    exported = [m["name"] for m in _EXPORT_DECL.finditer(text)]
    text = _EXPORT_DECL.sub(lambda m: f"{m['kw']} {m['name']}", text)
    if _EXPORT_DEFAULT.search(text):
        text = _EXPORT_DEFAULT.sub("const __bg_default = ", text)
        exported.append("default: __bg_default")
    leftover = re.search(r"^(export|import)\b.*$", text, re.M)
    if leftover or re.search(r"\bimport\s*\(", text):
        raise ValueError(f"{name}: the export bundler cannot handle: {leftover[0] if leftover else 'import()'}")
    # Classic scripts have no import.meta; the export never fetches, any URL base will do.
    text = text.replace("import.meta.url", "document.baseURI")
    src = (f"// ---- {name}\nconst {_var(name)} = (() => {{\n{text.rstrip()}\n"
           f"return Object.freeze({{ {', '.join(exported)} }});\n}})();\n")
    return src, deps


def bundle(js_dir: Path | None = None, entries: Iterable[str] = ENTRIES) -> str:
    """The page's ES modules as one classic script, dependencies first."""
    js_dir = js_dir or frontend_dir() / "js"
    done: dict[str, str] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise ValueError(f"import cycle through {name}; the export bundler needs an acyclic graph")
        visiting.add(name)
        src, deps = _module(name, (js_dir / name).read_text(encoding="utf-8"))
        for d in deps:
            visit(d)
        visiting.discard(name)
        done[name] = src

    for e in entries:
        visit(e)
    return '(() => {\n"use strict";\n' + "\n".join(done.values()) + "})();\n"


def script_safe(js: str) -> str:
    """JS that cannot end its <script> element early (`</script` and `<!--` are neutralised)."""
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.I).replace("<!--", "<\\!--")


def json_for_html(data: Any) -> str:
    """JSON for a <script type="application/json"> block: `<`, `>` and `&` as \\u escapes, so
    a `</script>` inside the data is just text."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _top(js_dir: Path) -> int:
    # How many nodes the page asks per panel (api.js TOP); the export carries the same panels.
    m = re.search(r"export const TOP = (\d+)", (js_dir / "api.js").read_text(encoding="utf-8"))
    return int(m[1]) if m else 30


def _learned(config: Config, ui: dict[str, Any]) -> tuple[dict | None, dict[str, Any]]:
    """The link's learned dictionary (ui["sae"]), when this machine has it trained: (the table
    with it as a column, {id: node set}); else (None, {}). Never trains."""
    from basisgraph.dictionaries.table import cached_node_set, sae_table

    if not ui.get("sae"):
        return None, {}
    try:
        scfg = sae_from_spec(config, ui["sae"])
    except ConfigError:
        return None, {}
    hit = cached_node_set(config, scfg)
    if hit is None:
        return None, {}
    return sae_table(config, [scfg], train=False), {hit[1].id: hit[1]}


def _trained(config: Config, settings: Any = None,
             target: str | None = None) -> tuple[dict, Callable[..., dict]] | None:
    """The trained model's table and panel function when it is built here, else None."""
    settings = settings or trained_jobs.settings_for(target or trained_jobs.DEFAULT_TARGET)
    if not trained_jobs.is_cached(config, settings):
        return None
    return (view_table(config, settings),
            lambda cfg, basis, *args: trained_panel(cfg, basis, *args, settings=settings))


def collect(config: Config, ui: dict[str, Any], *, table: dict | None = None, model: dict | None = None,
            panel: Callable[..., dict] | None = None, settings: Any = None) -> dict[str, Any]:
    """The data block of an export: table, (trimmed) model and the carried panels. A learned
    dictionary the link names (ui["sae"]) is carried as a column and panels when it is trained
    here, and the trained model (ui["model"] == "trained") when it is built here; either is
    dropped from the link otherwise."""
    trained = _trained(config, settings, ui.get("target")) if ui.get("model") == "trained" else None
    with_sae, extra = _learned(config, ui) if trained is None else (None, {})
    if trained is not None:
        table, panel = trained
    elif with_sae is not None:
        table = with_sae
    ui = {**ui, "model": "trained" if trained else None, "target": ui.get("target") if trained else None,
          "sae": ui.get("sae") if with_sae else None}
    table = table if table is not None else counts.table(config)
    model = model if model is not None else graphs.model_info(config)
    plain = panel or graphs.panel

    def panel(cfg: Config, basis: str, *args: Any) -> dict:
        return graphs.panel(cfg, basis, *args, extra=extra) if basis in extra else plain(cfg, basis, *args)
    circuits = [c["id"] for c in model["circuits"]]
    inputs = [e["id"] for e in model["examples"]]
    if ui.get("circuit") and ui["circuit"] not in circuits:
        raise ConfigError("circuit", ui["circuit"], "a circuit id listed by /api/v1/model")
    if ui.get("input") and ui["input"] not in inputs + ["dataset"]:
        raise ConfigError("input", ui["input"], "an example id listed by /api/v1/model, or 'dataset'")
    circuit = ui.get("circuit") or (circuits[0] if circuits else None)
    inp = ui.get("input") or "dataset"
    carried = [circuit] + [next(c["id"] for c in model["circuits"] if c["family"] == f)
                           for f in dict.fromkeys(c["family"] for c in model["circuits"])]
    carried = list(dict.fromkeys(c for c in carried if c))
    # The whole dataset and one example input (the link's, else the first), so the input picker
    # has a choice to offer.
    other = inp if inp != "dataset" else (inputs[0] if inputs else "dataset")
    carried_inputs = list(dict.fromkeys(["dataset", other]))
    top = _top(frontend_dir() / "js")
    panels = {f"{b['id']}|{c}|{i}": panel(config, b["id"], c, i, top)
              for b in table["bases"] for c in carried for i in carried_inputs}
    trimmed = {**model, "circuits": [c for c in model["circuits"] if c["id"] in carried],
               "examples": [e for e in model["examples"] if e["id"] in carried_inputs]}
    state_ui = {**ui, "circuit": circuit if circuit != circuits[0] else None, "input": inp}
    return {"format": "basisgraph-export", "version": 1, "generator": f"basisgraph {basisgraph.__version__}",
            "query": link_query(config, state_ui), "table": table, "model": trimmed, "graphs": panels}


def build_html(data: dict[str, Any]) -> str:
    """The page (index.html) with its CSS, D3, data and bundled app code inline."""
    root = frontend_dir()
    page = (root / "index.html").read_text(encoding="utf-8")
    page = re.sub(r"[ \t]*<script\b[^>]*>.*?</script>[ \t]*\n?", "", page, flags=re.S | re.I)

    def inline_css(m: re.Match[str]) -> str:
        path = root / m["href"].removeprefix("/static/")
        css = path.read_text(encoding="utf-8") if path.is_file() else ""
        return "<style>\n" + re.sub(r"</(style)", r"<\\/\1", css, flags=re.I) + "</style>"

    page = re.sub(r'<link rel="stylesheet" href="(?P<href>/static/[\w./-]+\.css)">', inline_css, page)
    meta = (f'<meta name="generator" content="{data["generator"]}">\n'
            '  <meta name="basisgraph-export" content="one-file export: works offline from file://">\n')
    page = page.replace("</head>", "  " + meta + "</head>", 1)
    footer = ('<footer class="site"><p>A one-file export of basisgraph. It carries its numbers and graphs '
              f'inline and needs no server. Its link state: <code>?{html.escape(data["query"])}</code>.</p></footer>')
    page = re.sub(r'<footer class="site">.*?</footer>', lambda _: footer, page, count=1, flags=re.S)
    scripts = (
        "<script>\n" + script_safe(vendor_file("d3.min.js").read_text(encoding="utf-8")) + "\n</script>\n"
        '<script type="application/json" id="basisgraph-data">' + json_for_html(data) + "</script>\n"
        "<script>\n" + script_safe(bundle(root / "js")) + "</script>\n"
    )
    return page.replace("</body>", scripts + "</body>", 1)


def export_html(config: Config, ui: dict[str, Any] | None = None, **kw: Any) -> str:
    """One self-contained HTML file for a study and view (see `collect` for what it carries)."""
    return build_html(collect(config, dict(ui or {}), **kw))
