"""The one-file HTML export opened from file:// in Chromium, with no server.

The file is downloaded from the running app (the page's "Download HTML") or written by
`basisgraph export --html`; either way it must show the numbers the API gives, keep its graphs
interactive for the data it carries, and fetch nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from basisgraph.config import Config
from basisgraph.share.htmlexport import build_html, collect

READY = 'body[data-ready="true"]'


def api(server_url: str, endpoint: str, **params: Any) -> Any:
    with urllib.request.urlopen(f"{server_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}", timeout=60) as r:
        return json.load(r)


def open_file(new_page: Callable[..., Any], path: Path) -> tuple[Any, list[str]]:
    page = new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(path.as_uri())
    page.wait_for_selector(READY, state="attached")
    return page, requested


def open_export(new_page: Callable[..., Any], url: str, path: Path) -> tuple[Any, list[str]]:
    """Download the export at `url` to `path` and open it from file:// (see open_file)."""
    with urllib.request.urlopen(url, timeout=60) as r:
        path.write_bytes(r.read())
    return open_file(new_page, path)


def table_cells(table: dict) -> dict[tuple[str, str], tuple[Any, Any]]:
    """What `cells` should read for an API table."""
    return {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}


def cells(page: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
    rows = page.eval_on_selector_all(
        "#counts-table td[data-basis]",
        "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local, td.dataset.global])",
    )
    return {(b, f): (json.loads(loc), json.loads(glo)) for b, f, loc, glo in rows}


def badges(page: Any) -> dict[str, int]:
    return dict(page.eval_on_selector_all(".panel", "ps => ps.map(p => [p.dataset.basis, Number(p.querySelector('.badge').dataset.edges)])"))


def test_downloaded_export_works_offline(new_page: Callable[..., Any], server_url: str, tmp_path: Path,
                                         screenshot_dir: Path) -> None:
    query = "v=1&preset=bunny&circuit=composite%3Abunny%2Bcute&input=cute-bunny"
    with urllib.request.urlopen(f"{server_url}/api/v1/export.html?{query}", timeout=60) as r:
        path = tmp_path / "bunny.html"
        path.write_bytes(r.read())
    page, requested = open_file(new_page, path)
    table = api(server_url, "table", preset="bunny", v=1)  # the export's link is version 1
    assert cells(page) == {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}
    want = {b["id"]: api(server_url, "graph", v=1, preset="bunny", basis=b["id"], circuit="composite:bunny+cute",
                         input="cute-bunny")["edge_count"] or 0 for b in table["bases"]}
    assert badges(page) == want
    assert page.input_value("#pick-circuit") == "composite:bunny+cute"
    assert page.input_value("#pick-input") == "cute-bunny"
    page.screenshot(path=str(screenshot_dir / "export-file.png"), full_page=True)

    # Interactive for what it carries: coverage prunes live, nodes highlight, the other input
    # and a table cell's circuit are carried too.
    graph = api(server_url, "graph", v=1, preset="bunny", basis="half", circuit="composite:bunny+cute", input="cute-bunny")
    page.eval_on_selector("#f-coverage", "el => { el.value = '0.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function(f"() => document.querySelector('.panel[data-basis=half] .badge').dataset.edges === '{graph['coverage_curve'][50]}'")
    page.locator('.panel[data-basis="mixed"] g.node').first.click()
    assert page.locator(".panel g.node.highlighted").count() >= 1
    page.select_option("#pick-input", "dataset")
    page.wait_for_selector(READY, state="attached")
    page.click('#counts-table td[data-basis="attribute"][data-family="attribute"]')
    page.wait_for_selector(READY, state="attached")
    assert page.input_value("#pick-circuit").startswith("attribute:")
    assert page.locator(".panel").count() == len(table["bases"])
    assert page.locator(".notice").count() == 0
    assert cells(page) == {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}
    assert "carries the table for τ = 0.90" in page.inner_text("#counts")
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requested), "the export fetched from a server"
    assert page.console_errors == []


def test_cli_export_shows_the_api_numbers(new_page: Callable[..., Any], server_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cli.html"
    cmd = [sys.executable, "-m", "basisgraph.cli", "export", "--html", str(path),
           "--animals", "60", "--attributes", "8", "--samples", "200", "--seed", "2", "--view", "global"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    page, requested = open_file(new_page, path)
    table = api(server_url, "table", animals=60, attributes=8, samples=200, seed=2)
    assert cells(page) == {(c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]}
    assert page.get_attribute("#counts-table", "data-view") == "global"
    shown = page.eval_on_selector_all("#counts-table td[data-basis] .num", "ns => ns.map(n => n.textContent)")
    assert len(shown) == len(table["cells"])
    assert page.locator(".panel").count() == len(table["bases"])
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requested)
    assert page.console_errors == []


def test_script_in_the_data_stays_text(new_page: Callable[..., Any], tmp_path: Path) -> None:
    data = collect(Config(preset="bunny"), {})
    evil = "</script><script>window.__pwned = 1</script><!--"
    data["model"]["circuits"][0]["label"] = evil
    path = tmp_path / "evil.html"
    path.write_text(build_html(data))
    page, _ = open_file(new_page, path)
    assert page.evaluate("window.__pwned") is None
    assert evil in page.inner_text("#circuit-info")
    assert page.console_errors == []


def test_export_carries_the_links_trained_sae(new_page: Callable[..., Any], server_url: str, tmp_path: Path,
                                              run_job: Any) -> None:
    tiny = "animals=24&attributes=4&samples=200"
    q = f"v=1&{tiny}&kind=relu&width=28&l1=1&steps=200&sae_seed=0"  # the link's version
    run_job(server_url, f"sae/jobs?{q}")
    page, requested = open_export(new_page, f"{server_url}/api/v1/export.html?v=1&{tiny}&sae=relu:28:1:200",
                                  tmp_path / "sae.html")
    table = api(server_url, "sae/table", **dict(urllib.parse.parse_qsl(q)))
    assert cells(page) == table_cells(table)
    graph = api(server_url, "graph", **dict(urllib.parse.parse_qsl(q)), basis="sae:relu:28",
                circuit=table["circuits"][0]["id"], input="dataset")
    # A v=1 link counts locally: the dataset panel shows the circuit's local median (the table's).
    assert graph["circuit"]["id"] == table["circuits"][0]["id"]
    assert badges(page)["sae:relu:28"] == table["circuits"][0]["stats"]["sae:relu:28"]["local_edges"]
    assert "sae:relu:28" in page.inner_text("#sae")  # its metrics travel too
    assert page.locator(".notice").count() == 0
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requested)
    assert page.console_errors == []

    # An SAE this server never trained is left out of the file, and of its link.
    with urllib.request.urlopen(f"{server_url}/api/v1/export.html?v=1&{tiny}&sae=relu:29", timeout=60) as r:
        text = r.read().decode()
    data = json.loads(text.split('id="basisgraph-data">', 1)[1].split("</script>", 1)[0])
    assert "sae" not in data["query"]
    assert not any(b["id"].startswith("sae:") for b in data["table"]["bases"])


def test_export_of_the_trained_model(new_page: Callable[..., Any], tiny_trained_url: str, tmp_path: Path,
                                     run_job: Any) -> None:
    tiny = "animals=40&attributes=6&samples=400&circuits=4"
    run_job(tiny_trained_url, f"trained/jobs?v=1&{tiny}")  # the link's version
    page, requested = open_export(new_page, f"{tiny_trained_url}/api/v1/export.html?v=1&{tiny}&model=trained",
                                  tmp_path / "trained.html")
    table = api(tiny_trained_url, "trained/table", v=1, **dict(urllib.parse.parse_qsl(tiny)))
    assert cells(page) == table_cells(table)
    circuit = page.input_value("#pick-circuit")
    graph = api(tiny_trained_url, "trained/graph", v=1, **dict(urllib.parse.parse_qsl(tiny)), basis="spd",
                circuit=circuit, input="dataset", top=30)
    assert badges(page)["spd"] == (graph["edge_count"] or 0)
    assert page.is_checked("#model-trained") and page.is_disabled("#model-planted")
    assert page.locator("#trained table.trained-recovery").count() == 1
    assert page.locator(".notice").count() == 0
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requested)
    assert page.console_errors == []
