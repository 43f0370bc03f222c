"""The story in a real browser: one count on screen, the evidence first, steps that mark the cells
the numbers say make the point, links that land where they point, and axe-core on every view.

Screenshots go to test-output/screenshots (story-*.png); look at them after a change.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

READY = 'body[data-ready="true"]'
REPO = Path(__file__).resolve().parents[2]
AXE = Path(os.environ.get("BASISGRAPH_AXE", REPO / "node_modules" / "axe-core" / "axe.min.js"))
DICTIONARIES = ("animal", "attribute", "half")


def api(server_url: str, endpoint: str, **params: Any) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{server_url}/api/v1/{endpoint}?{query}", timeout=60) as r:
        return json.load(r)


def fmt(v: float) -> str:
    """The page's one rounding rule (frontend/js/format.js). JS toFixed rounds an exact half of
    the binary value up (8.25 -> 8.3) where Python's format rounds it to even (8.2)."""
    if float(v).is_integer():
        return str(int(v))
    return str(Decimal(v).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)).removesuffix(".0")


def cell_value(table: dict, basis: str, family: str, view: str) -> float:
    return next(c[f"{view}_edges_median"] for c in table["cells"] if c["basis"] == basis and c["family"] == family)


def shown_cells(page: Any) -> dict[tuple[str, str], str]:
    rows = page.eval_on_selector_all(
        "#counts-table td[data-basis]", "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.querySelector('.num').textContent])")
    return {(b, f): n for b, f, n in rows}


def step_cells(table: dict, basis: str, view: str) -> set[tuple[str, str]]:
    """The cells a step should mark, by the rule the page states: a dictionary's best and worst
    family; every family of the per-circuit view."""
    vals = {f: cell_value(table, basis, f, view) for f in table["families"]}
    if basis == "mixed":
        return {(basis, f) for f in vals}
    order = sorted(vals, key=lambda f: vals[f])
    return {(basis, order[0]), (basis, order[-1])}


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)])
def test_first_screen_holds_the_table_with_the_api_numbers_under_the_global_count(
    size: tuple[int, int], new_page: Callable[..., Any], server_url: str, screenshot_dir: Path
) -> None:
    page = new_page(*size)
    page.goto(f"{server_url}/")
    page.wait_for_selector(READY, state="attached")
    table = api(server_url, "table")
    assert page.get_attribute("#counts-table", "data-view") == "global", "a bare visit counts globally"
    assert page.is_checked("#view-global")
    want = {(c["basis"], c["family"]): fmt(c["global_edges_median"]) for c in table["cells"]}
    assert shown_cells(page) == want
    box = page.locator("#counts-table").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= size[1], f"the table is not on the first screen: {box}"
    sentence = page.text_content("#count-sentence")
    assert sentence.startswith("Global count") and "per-circuit view needs at most" in sentence
    worst = min(max(cell_value(table, b, f, "global") for f in table["families"]) for b in DICTIONARIES)
    assert f"at least {fmt(worst)} edge" in sentence
    # The default circuit is the clearest attribute circuit: the dictionaries disagree most on it.
    circuit = page.input_value("#pick-circuit")
    spread = {c["id"]: max(c["stats"][b]["global_edges"] for b in DICTIONARIES)
              - min(c["stats"][b]["global_edges"] for b in DICTIONARIES)
              for c in table["circuits"] if c["family"] == "attribute" and c["active_inputs"]}
    assert circuit == max(spread, key=lambda k: (spread[k], -list(spread).index(k)))
    page.screenshot(path=str(screenshot_dir / f"story-first-screen-{size[0]}.png"))
    assert page.console_errors == []


def test_each_step_marks_the_cells_its_numbers_name(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = new_page(1280, 900)
    page.goto(f"{server_url}/")
    page.wait_for_selector(READY, state="attached")
    table = api(server_url, "table")
    steps = page.eval_on_selector_all("#steps button.step", "bs => bs.map(b => b.dataset.step)")
    assert steps == ["animal", "attribute", "half", "mixed"]
    for i, basis in enumerate(steps):
        page.click(f'#steps button[data-step="{basis}"]')
        page.wait_for_selector(f'#step-text[data-step="{basis}"]')
        page.wait_for_selector(READY, state="attached")
        marked = set(map(tuple, page.eval_on_selector_all(
            "#counts-table td.story-mark", "tds => tds.map(td => [td.dataset.basis, td.dataset.family])")))
        assert marked == step_cells(table, basis, "global"), basis
        bars = set(map(tuple, page.eval_on_selector_all(
            "#chart g.bar.story-mark", "gs => gs.map(g => [g.dataset.basis, g.dataset.family])")))
        assert bars == marked
        text = page.text_content("#step-text")
        for b, f in marked:
            assert fmt(cell_value(table, b, f, "global")) in text, (basis, text)
        assert page.get_attribute(f'.panel[data-basis="{basis}"]', "class").split().count("selected") == 1
        page.screenshot(path=str(screenshot_dir / f"story-step-{i + 1}-{basis}.png"))
    assert page.console_errors == []


@pytest.mark.parametrize("view", ["global", "local"])
def test_every_cell_equals_the_panel_it_opens(view: str, new_page: Callable[..., Any], server_url: str) -> None:
    page = new_page(1280, 900)
    page.goto(f"{server_url}/?v=2&view={view}")
    page.wait_for_selector(READY, state="attached")
    table = api(server_url, "table", v=2)
    stats = {c["id"]: c["stats"] for c in table["circuits"]}
    for (basis, family), text in shown_cells(page).items():
        page.click(f'#counts-table td[data-basis="{basis}"][data-family="{family}"]')
        page.wait_for_function(
            "([b, f]) => document.querySelector(`#counts-table td[data-basis='${b}'][data-family='${f}']`)"
            "?.getAttribute('aria-current') === 'true'", arg=[basis, family])
        page.wait_for_selector(READY, state="attached")
        panel = page.locator(f'.panel[data-basis="{basis}"]')
        assert json.loads(panel.locator(".panel-median").get_attribute("data-value")) == cell_value(table, basis, family, view)
        assert fmt(cell_value(table, basis, family, view)) == text
        assert text in panel.locator(".panel-median").text_content()
        circuit = page.input_value("#pick-circuit")
        # The circuit opened is the family's circuit nearest the median, and the panel counts it.
        want = stats[circuit][basis][f"{view}_edges"]
        near = min(abs(s[basis][f"{view}_edges"] - cell_value(table, basis, family, view))
                   for c, s in stats.items() if c.startswith(family + ":"))
        assert abs(want - cell_value(table, basis, family, view)) == near
        assert float(panel.locator(".badge").get_attribute("data-edges")) == want
    assert page.console_errors == []


def test_a_link_with_circuit_and_node_lands_on_the_node(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = new_page(1280, 900)
    page.goto(f"{server_url}/?v=2&view=global&basis=animal&circuit=attribute%3Acute&node=animal%3Abunny")
    page.wait_for_selector(READY, state="attached")
    node = page.locator('.panel[data-basis="animal"] g.node[data-id="animal:bunny"]')
    assert "highlighted" in node.get_attribute("class").split()
    box = node.bounding_box()
    assert page.evaluate("scrollY") > 0
    assert box["y"] >= 0 and box["y"] + box["height"] <= 900, box
    page.screenshot(path=str(screenshot_dir / "story-link-lands.png"))
    # A circuit alone scrolls the graphs into view.
    page.goto(f"{server_url}/?v=2&circuit=attribute%3Acute")
    page.wait_for_selector(READY, state="attached")
    top = page.locator("#graphs").bounding_box()["y"]
    assert top < 900 and page.evaluate("scrollY") > 0


def run_axe(page: Any) -> list[dict]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", [
    "/", "/?v=2&view=local&preset=bunny", "/?v=2&model=trained",
    "/embed?figure=table", "/embed?figure=bars", "/embed?figure=panels", "/embed?figure=geometry&preset=bunny",
    "/embed?figure=samples&preset=bunny",
    "/?v=2&preset=bunny&seeds=3&basis=mixed&circuit=composite%3Abunny%2Bcute&input=cute-bunny&node=animal%3Abunny",
])
def test_axe_finds_no_serious_violation(path: str, new_page: Callable[..., Any], server_url: str) -> None:
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (it is pinned in package-lock.json)")
    # CSP forbids inline scripts on our pages, so axe is injected with the CSP bypassed.
    page = new_page(1280, 900, bypass_csp=True)
    page.goto(f"{server_url}{path}")
    page.wait_for_selector(READY, state="attached")
    assert run_axe(page) == []


def test_node_search_detail_pane_zoom_and_more(new_page: Callable[..., Any], server_url: str, screenshot_dir: Path) -> None:
    page = new_page(1280, 900)
    page.goto(f"{server_url}/?v=2&view=global&circuit=attribute%3Acute")
    page.wait_for_selector(READY, state="attached")
    # Search: a label finds its node, which is highlighted in every panel that has it.
    page.fill("#node-search", "bunny")
    page.press("#node-search", "Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('node') === 'animal:bunny'")
    page.wait_for_selector(READY, state="attached")
    assert page.locator('g.node.highlighted[data-id="animal:bunny"]').count() == 2  # animal and half
    rows = page.eval_on_selector_all(
        "#node-detail tbody tr", "trs => trs.map(tr => [...tr.children].map(c => c.textContent))")
    by_set = {r[0]: r for r in rows}
    for basis in ("animal", "half"):
        graph = api(server_url, "graph", v=2, basis=basis, circuit="attribute:cute", input="dataset", top=30)
        node = next(n for n in graph["nodes"] if n["id"] == "animal:bunny")
        assert float(by_set[basis][1]) == pytest.approx(node["weight"], abs=5e-5)
        assert by_set[basis][5] == str(node["rank"] + 1)
        assert float(by_set[basis][2]) == pytest.approx(node["ablation_pre"], abs=5e-5)  # beside the edge
    assert by_set["attribute"][1] == "not a node of this set"
    page.screenshot(path=str(screenshot_dir / "story-node-detail.png"))
    # "+N more" lists four times as many nodes.
    animal = page.locator('.panel[data-basis="animal"]')
    before = animal.locator("g.node").count()
    animal.locator("g.node.kind-more").click()
    page.wait_for_function(
        "n => document.querySelectorAll('.panel[data-basis=\"animal\"] g.node').length > n", arg=before)
    page.wait_for_selector(READY, state="attached")
    graph = api(server_url, "graph", v=2, basis="animal", circuit="attribute:cute", input="dataset", top=120)
    more = next(n for n in graph["nodes"] if n["kind"] == "more")
    assert f"+{more['count']}" in animal.locator("g.node.kind-more text").text_content()
    # Ctrl + wheel zooms one panel's drawing; a double click resets it.
    page.evaluate("window.scrollTo(0, document.querySelector('.panel[data-basis=\"animal\"] svg').getBoundingClientRect().top + scrollY - 10)")
    box = animal.locator("svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 80)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)
    page.keyboard.up("Control")
    page.wait_for_function("() => (document.querySelector('.panel[data-basis=\"animal\"] g.zoom').getAttribute('transform') || '').includes('scale')")
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + 80)
    page.wait_for_function("() => /scale\\(1\\)$/.test(document.querySelector('.panel[data-basis=\"animal\"] g.zoom').getAttribute('transform'))")
    assert page.console_errors == []


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)])
def test_the_built_trained_view_is_readable_and_passes_axe(
    size: tuple[int, int], new_page: Callable[..., Any], tiny_trained_url: str, run_job: Any, screenshot_dir: Path
) -> None:
    tiny = "animals=40&attributes=6&samples=400&circuits=4"
    run_job(tiny_trained_url, f"trained/jobs?{tiny}")
    page = new_page(*size, bypass_csp=True)
    page.goto(f"{tiny_trained_url}/?v=2&{tiny}&model=trained&view=global")
    page.wait_for_selector(READY, state="attached")
    assert page.locator('#counts td[data-basis="spd"]').count() == 3
    # Every column keeps its own hue, and the table fits the page (it scrolls inside its box).
    hues = page.eval_on_selector_all("#counts-table thead th[data-basis]", "ths => ths.map(th => th.style.getPropertyValue('--hue'))")
    assert len(hues) == len(set(hues)) >= 8
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    if size[0] >= 1280:
        right = page.evaluate("Math.max(...[...document.querySelectorAll('#counts-table th')].map(e => e.getBoundingClientRect().right))")
        assert right <= size[0], "every column is on screen at 1280 px"
    page.screenshot(path=str(screenshot_dir / f"story-trained-{size[0]}.png"), full_page=True)
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci`")
    assert run_axe(page) == []


def test_geometry_draws_the_models_plane_and_the_circuits_read_direction(
    new_page: Callable[..., Any], server_url: str, screenshot_dir: Path
) -> None:
    page = new_page(1280, 900)
    page.goto(f"{server_url}/?v=2&view=global&preset=bunny&circuit=composite%3Abunny%2Bcute")
    page.wait_for_selector(READY, state="attached")
    model = api(server_url, "model", preset="bunny", v=2)
    table = api(server_url, "table", preset="bunny", v=2)
    geo = model["geometry"]
    assert page.locator("#geometry svg.geometry g.animals > g").count() == len(geo["animals"])
    assert page.locator("#geometry svg.geometry g.attrs > g").count() == min(2, len(geo["attributes"]))
    # The read direction is bunny + w·cute in the plane: its angle matches the API's numbers.
    circuit = next(c for c in model["circuits"] if c["id"] == "composite:bunny+cute")
    at = {f"attribute:{n}": ([1, 0] if j == 0 else [0, 1]) for j, n in enumerate(geo["attributes"][:2])}
    at.update({f"animal:{n}": geo["cosines"][i][:2] for i, n in enumerate(geo["animals"])})
    x = sum(r["weight"] * at[r["node"]][0] for r in circuit["reads"])
    y = sum(r["weight"] * at[r["node"]][1] for r in circuit["reads"])
    line = page.eval_on_selector("#geometry line.read", "l => ['x1','y1','x2','y2'].map(k => +l.getAttribute(k))")
    dx, dy = line[2] - line[0], -(line[3] - line[1])
    assert abs(dx * y - dy * x) <= 1e-3 * (abs(dx) + abs(dy)) * (abs(x) + abs(y)) + 1e-6 and dx * x + dy * y > 0
    stats = next(c for c in table["circuits"] if c["id"] == circuit["id"])["stats"]
    caption = page.text_content("#geometry figcaption")
    assert f"{fmt(stats['animal']['global_edges'])} global edge" in caption
    assert f"{fmt(stats['attribute']['global_edges'])} with attribute nodes" in caption
    page.locator("#geometry-card").screenshot(path=str(screenshot_dir / "story-geometry.png"))
    assert page.console_errors == []


def test_geometry_labels_of_crowded_animals_do_not_overlap(new_page: Callable[..., Any], server_url: str) -> None:
    # At the defaults a dozen named animals crowd the centre of the plane: their labels are
    # spread so that no two boxes overlap (the drawn boxes, measured in the browser).
    page = new_page(1280, 900)
    page.goto(f"{server_url}/?v=2")
    page.wait_for_selector(READY, state="attached")
    boxes = page.eval_on_selector_all("#geometry svg.geometry g.animals text", """ts => ts.map(t => {
        const b = t.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })""")
    assert len(boxes) >= 10
    overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5]
    assert overlaps == []
