"""The page in a real browser: numbers equal the API's, URL state round-trips, panels are honest.

Fixtures come from tests/browser/conftest.py (a real uvicorn server, Debian's Chromium under
Playwright). Screenshots go to test-output/screenshots; look at them after a change to the page.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

READY = 'body[data-ready="true"]'


# ---- helpers ------------------------------------------------------------------------------------


def api(server_url: str, endpoint: str, **params: Any) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    with urllib.request.urlopen(f"{server_url}/api/v1/{endpoint}?{query}", timeout=30) as resp:
        return json.load(resp)


def wait_ready(page: Any) -> None:
    page.wait_for_selector(READY, state="attached")


def query_of(page: Any) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))


def table_cells(page: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
    rows = page.eval_on_selector_all(
        "#counts-table td[data-basis]",
        "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local, td.dataset.global])",
    )
    return {(b, f): (json.loads(loc), json.loads(glo)) for b, f, loc, glo in rows}


def assert_table_matches(page: Any, table: dict[str, Any]) -> None:
    shown = table_cells(page)
    expected = {
        (c["basis"], c["family"]): (c["local_edges_median"], c["global_edges_median"]) for c in table["cells"]
    }
    assert shown == expected


def panel_counts(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        ".panel",
        """ps => ps.map(p => ({
              basis: p.dataset.basis,
              badge: Number(p.querySelector('.badge').dataset.edges),
              sum: [...p.querySelectorAll('path.edge')].reduce((s, e) => s + Number(e.dataset.count), 0),
              singles: p.querySelectorAll('path.edge.single').length,
              folded: p.querySelectorAll('path.edge.folded').length,
           }))""",
    )


def no_horizontal_overflow(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


# ---- tests --------------------------------------------------------------------------------------


def test_page_loads_without_console_errors(open_app, page, server_url: str, screenshot_dir: Path) -> None:
    hosts: set[str] = set()
    page.on("request", lambda req: hosts.add(urllib.parse.urlparse(req.url).netloc))
    open_app()
    assert page.console_errors == []
    assert hosts == {urllib.parse.urlparse(server_url).netloc}, "the page fetched from another host"
    assert page.locator("#counts-table td[data-basis]").count() > 0
    assert page.locator(".panel").count() == len(api(server_url, "table")["bases"])
    # A bare visit opens on the story (global count, the clearest attribute circuit) and writes
    # those choices into its link, so the link reopens the same view.
    q = query_of(page)
    assert q.pop("circuit").startswith("attribute:")
    assert q == {"v": "2", "view": "global"}, "a default page's link carries the version and the story's view"
    page.screenshot(path=str(screenshot_dir / "page-default.png"), full_page=True)


@pytest.mark.parametrize("query", ["", "v=1&preset=bunny", "v=2&preset=bunny", "v=2&view=global&animals=300&seed=3"])
def test_table_equals_api(open_app, page, server_url: str, query: str) -> None:
    open_app(query)
    params = {k: v for k, v in urllib.parse.parse_qsl(query) if k != "view"}
    assert_table_matches(page, api(server_url, "table", **params))
    view = query_of(page).get("view", "local")
    # The visible numbers follow the toggle; the data attributes always carry both.
    first = page.locator("#counts-table td[data-basis]").first
    shown = first.locator(".num").inner_text()
    value = json.loads(first.get_attribute(f"data-{view}"))
    assert shown == (
        "–" if value is None else (str(int(value)) if float(value).is_integer() else f"{value:.1f}")
    )
    assert page.console_errors == []


def test_preset_defaults_mirror_the_api(open_app, page, server_url: str) -> None:
    open_app()
    defaults = {f["name"]: f["default"] for f in api(server_url, "config")["fields"]}
    for preset in ["post", "bunny", "wide", "small"]:
        mirrored = page.evaluate(
            "async (p) => (await import('/static/js/state.js')).presetDefaults(p)", preset
        )
        body = api(server_url, "table", preset=preset)["config"]
        # Bodies leave out keys that sit at their defaults (config.OPTIONAL); the page keeps them.
        left_out = {k: v for k, v in mirrored.items() if k not in body}
        assert left_out == {k: defaults[k] for k in left_out}, preset
        assert {k: v for k, v in mirrored.items() if k in body} == body, preset


def test_control_ranges_mirror_the_api(open_app, page, server_url: str) -> None:
    # The controls validate before asking (state.js FIELDS); their ranges and choices must be
    # the API's own (/api/v1/config), or the page would send what the API refuses, or refuse
    # what it accepts.
    open_app()
    fields = page.evaluate("async () => (await import('/static/js/state.js')).FIELDS")
    schemas = {f["name"]: f["schema"] for f in api(server_url, "config")["fields"]}
    assert set(fields) == set(schemas) - {"preset"}
    for name, f in fields.items():
        s = schemas[name]
        if f["kind"] == "choice":
            assert sorted(f["choices"]) == sorted(s["enum"]), name
            continue
        assert f["kind"] == {"integer": "int", "number": "float"}[s["type"]], name
        low = s.get("minimum", s.get("exclusiveMinimum"))
        assert (f["min"], bool(f.get("minOpen")), f["max"]) == (low, "exclusiveMinimum" in s, s["maximum"]), name


def test_a_control_changes_the_url_and_the_numbers(open_app, page, server_url: str) -> None:
    open_app()
    before = table_cells(page)
    page.fill("#f-animals", "200")
    page.press("#f-animals", "Enter")
    page.wait_for_function("() => location.search.includes('animals=200')")
    wait_ready(page)
    q = query_of(page)
    q.pop("circuit", None)  # the story's circuit of the new model (the visit was bare)
    assert q == {"v": "2", "animals": "200", "view": "global"}
    expected = api(server_url, "table", animals=200)
    assert_table_matches(page, expected)
    assert table_cells(page) != before
    # A discrete choice is a new history entry; the view toggle is one too.
    page.check("#view-global", force=True)
    page.wait_for_function("() => location.search.includes('view=global')")
    wait_ready(page)
    assert page.eval_on_selector("#counts-table", "t => t.dataset.view") == "global"
    assert page.console_errors == []


def test_back_restores_the_previous_state(open_app, page, server_url: str) -> None:
    open_app()
    default = api(server_url, "table")
    page.select_option("#f-preset", "bunny")
    page.wait_for_function("() => location.search.includes('preset=bunny')")
    wait_ready(page)
    assert_table_matches(page, api(server_url, "table", preset="bunny"))
    page.go_back()
    page.wait_for_function(
        "() => !location.search.includes('preset') && document.body.dataset.ready === 'true'"
    )
    assert_table_matches(page, default)
    assert page.input_value("#f-preset") == "post"
    assert page.input_value("#f-animals") == "1000"
    page.go_forward()
    page.wait_for_function(
        "() => location.search.includes('preset=bunny') && document.body.dataset.ready === 'true'"
    )
    assert_table_matches(page, api(server_url, "table", preset="bunny"))
    assert page.console_errors == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "circuit=attribute:furry&view=global",
        "circuit=composite:bunny%2Bcute&input=cute-bunny",
        # The dataset panels count globally here; under the local count they show the table's
        # per-circuit median instead (tests/browser/test_story.py).
        "v=2&preset=bunny&coverage=0.5&view=global",
        "v=2&coverage=1&view=global",
    ],
)
def test_each_panel_draws_as_many_edges_as_its_badge(open_app, page, server_url: str, query: str) -> None:
    open_app(query)
    q = query_of(page)
    tau = float(
        q.get("coverage", api(server_url, "table", preset=q.get("preset", "post"))["config"]["coverage"])
    )
    model = api(server_url, "model", preset=q.get("preset"))
    circuit = q.get("circuit", model["circuits"][0]["id"])
    assert page.locator(".notice").count() == 0, "every value in these links is valid"
    panels = panel_counts(page)
    assert panels
    for p in panels:
        assert p["sum"] == p["badge"], p
        graph = api(
            server_url,
            "graph",
            preset=q.get("preset"),
            basis=p["basis"],
            circuit=circuit,
            input=q.get("input", "dataset"),
            coverage=tau,
            top=30,
        )
        if graph["edge_count"] is not None:
            assert p["badge"] == graph["coverage_curve"][round(tau * 100)], p
            if tau < 1:
                # At tau = 1 the count hinges on float round-off of numerically-zero edges.
                assert p["badge"] == graph["edge_count"], p
    assert page.console_errors == []


def test_coverage_slider_prunes_every_panel_live(open_app, page) -> None:
    # Live pruning is the global count's (each panel's coverage curve); a local count follows the
    # table once it is fetched again.
    open_app("circuit=attribute:furry&view=global")
    before = {p["basis"]: p["badge"] for p in panel_counts(page)}
    history_length = page.evaluate("history.length")
    page.focus("#f-coverage")
    for _ in range(40):
        page.keyboard.press("ArrowLeft")
    # Panels follow at once (no fetch); sum of data-count still equals each badge.
    after = panel_counts(page)
    assert all(p["sum"] == p["badge"] for p in after)
    assert {p["basis"]: p["badge"] for p in after} != before
    page.wait_for_function("() => location.search.includes('coverage=0.5')")
    wait_ready(page)
    assert page.evaluate("history.length") == history_length, "a slider must replace, not push"
    assert all(p["sum"] == p["badge"] for p in panel_counts(page))
    assert page.console_errors == []


def test_bunny_preset_draws_every_edge(open_app, page, server_url: str, screenshot_dir: Path) -> None:
    open_app("v=2&view=global&preset=bunny&coverage=1")  # the dataset graph counts globally
    model = api(server_url, "model", preset="bunny")
    circuit = model["circuits"][0]["id"]
    page.screenshot(path=str(screenshot_dir / "page-bunny-all-edges.png"), full_page=True)
    for p in panel_counts(page):
        graph = api(server_url, "graph", preset="bunny", basis=p["basis"], circuit=circuit, input="dataset")
        assert not any(n["kind"] == "more" and n.get("count", 0) > 0 for n in graph["nodes"]), (
            "nothing folded"
        )
        assert p["folded"] == 0
        assert p["singles"] == p["badge"] == graph["coverage_curve"][100], p
        drawn = page.eval_on_selector_all(
            f'.panel[data-basis="{p["basis"]}"] path.edge.single', "es => es.map(e => e.dataset.source)"
        )
        top = [n["id"] for n in graph["nodes"] if n["kind"] not in ("more", "error")][: p["badge"]]
        assert drawn == top
    assert page.console_errors == []


def test_works_at_360_px(new_page, server_url: str, screenshot_dir: Path) -> None:
    page = new_page(360, 740)
    page.goto(f"{server_url}/?circuit=attribute:furry")
    wait_ready(page)
    assert no_horizontal_overflow(page)
    lefts = page.eval_on_selector_all(
        ".panel", "ps => ps.map(p => Math.round(p.getBoundingClientRect().left))"
    )
    assert len(set(lefts)) == 1, "panels stack in one column"
    widths = page.eval_on_selector_all(".panel", "ps => ps.map(p => p.getBoundingClientRect().width)")
    assert all(w <= 360 for w in widths)
    page.screenshot(path=str(screenshot_dir / "page-360px.png"), full_page=True)
    page.locator("#counts").screenshot(path=str(screenshot_dir / "page-360px-counts.png"))
    assert page.console_errors == []


def test_invalid_link_values_fall_back_with_a_notice(
    open_app, page, server_url: str, screenshot_dir: Path
) -> None:
    open_app("v=1&animals=lots&coverage=7&view=sideways&circuit=animal:unicorn&foo=bar")
    fields = set(page.eval_on_selector_all(".notice", "ns => ns.map(n => n.dataset.field)"))
    assert {"animals", "coverage", "view", "circuit"} <= fields
    assert page.locator(".notice").first.is_visible()
    # Fell back to the defaults: the link is canonical again and the numbers are the default's.
    assert query_of(page) == {"v": "1"}
    assert_table_matches(page, api(server_url, "table", v=1))
    assert page.input_value("#f-animals") == "1000"
    page.locator("#notices").screenshot(path=str(screenshot_dir / "page-invalid-link-notice.png"))
    assert page.console_errors == []


def test_a_cell_selects_node_set_and_family(open_app, page, server_url: str) -> None:
    open_app()
    model = api(server_url, "model")
    family = {c["id"]: c["family"] for c in model["circuits"]}
    page.click('#counts-table td[data-basis="attribute"][data-family="attribute"]')
    page.wait_for_function("() => location.search.includes('basis=attribute')")
    wait_ready(page)
    q = query_of(page)
    assert family[q["circuit"]] == "attribute"
    assert (
        page.locator('.panel[data-basis="attribute"]').get_attribute("class").split().count("selected") == 1
    )
    # The keyboard does the same: focus a cell, press Enter.
    page.focus('#counts-table td[data-basis="animal"][data-family="composite"]')
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('basis=animal')")
    wait_ready(page)
    assert family[query_of(page)["circuit"]] == "composite"
    assert page.locator('#counts-table td[aria-current="true"]').get_attribute("data-family") == "composite"
    assert page.console_errors == []


def test_clicking_a_node_highlights_it_in_every_panel(open_app, page) -> None:
    open_app("circuit=attribute:furry")
    node = page.locator('.panel[data-basis="half"] g.node[data-id="attribute:furry"]')
    node.click()
    page.wait_for_function("() => location.search.includes('node=attribute')")
    highlighted = page.eval_on_selector_all(
        "g.node.highlighted", "ns => ns.map(n => [n.closest('.panel').dataset.basis, n.dataset.id])"
    )
    holders = page.eval_on_selector_all(
        'g.node[data-id="attribute:furry"]', "ns => ns.map(n => n.closest('.panel').dataset.basis)"
    )
    assert len(holders) >= 2
    assert sorted(highlighted) == sorted([b, "attribute:furry"] for b in holders)
    # Hover shows the node's details.
    node.hover()
    assert "furry" in page.inner_text("#tooltip")
    assert page.console_errors == []


def test_every_control_has_a_label(open_app, page) -> None:
    open_app()
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')].filter(el =>
              !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
           ).map(el => el.id || el.name)"""
    )
    assert unlabeled == []
    # Table cells and graph nodes are reachable by keyboard.
    assert page.locator("#counts-table td[tabindex='0']").count() > 0
    assert page.locator(".panel g.node[tabindex='0']").count() == page.locator(".panel").count()


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'"
)


def test_page_runs_under_a_strict_csp(page, server_url: str) -> None:
    """No inline script, inline handler or inline style: the page works with script/style 'self'."""

    def add_csp(route: Any) -> None:
        resp = route.fetch()
        route.fulfill(response=resp, headers={**resp.headers, "content-security-policy": STRICT_CSP})

    page.route(lambda url: urllib.parse.urlparse(url).path == "/", add_csp)
    page.goto(f"{server_url}/?circuit=attribute:furry")
    wait_ready(page)
    page.locator('.panel[data-basis="half"] g.node').first.hover()
    page.select_option("#pick-circuit", index=1)
    wait_ready(page)
    page.click('#counts-table td[data-basis="animal"][data-family="attribute"]')
    wait_ready(page)
    assert page.console_errors == []
    # Styles set through the CSSOM (hues, edge widths) are allowed and applied.
    hue = page.eval_on_selector('.panel[data-basis="animal"]', "p => getComputedStyle(p).borderTopColor")
    assert hue == "rgb(230, 159, 0)"


def test_node_set_checkboxes_choose_columns_bars_and_panels(open_app, page) -> None:
    open_app()
    page.uncheck("#show-neuron")
    page.wait_for_function("() => location.search.includes('show=')")
    wait_ready(page)
    shown = query_of(page)["show"].split(",")
    assert "neuron" not in shown and len(shown) >= 2
    assert page.locator('.panel[data-basis="neuron"]').count() == 0
    assert page.locator('#counts-table td[data-basis="neuron"]').count() == 0
    assert page.locator('#chart .bar[data-basis="neuron"]').count() == 0
    assert page.eval_on_selector_all(".panel", "ps => ps.map(p => p.dataset.basis)") == shown
    page.check("#show-neuron")
    page.wait_for_function("() => !location.search.includes('show=')")
    wait_ready(page)
    assert page.locator('.panel[data-basis="neuron"]').count() == 1
    assert page.console_errors == []


def test_residual_control_changes_the_link_and_a_v1_link_keeps_its_numbers(open_app, page, server_url: str) -> None:
    open_app("v=1&preset=bunny")
    assert page.input_value("#f-residual") == "minnorm" and page.input_value("#f-overlay_sampling") == "topup"
    assert query_of(page) == {"v": "1", "preset": "bunny"}, "a version-1 link is written back unchanged"
    v1 = api(server_url, "table", preset="bunny", v=1)
    shown = {(b, f): json.loads(loc) for b, f, loc, _ in page.eval_on_selector_all(
        "#counts-table td[data-basis]",
        "tds => tds.map(td => [td.dataset.basis, td.dataset.family, td.dataset.local, td.dataset.global])")}
    assert shown == {(c["basis"], c["family"]): c["local_edges_median"] for c in v1["cells"]}
    page.select_option("#f-residual", "error")
    page.wait_for_function("() => location.search.includes('residual=error')")
    wait_ready(page)
    assert query_of(page) == {"v": "2", "preset": "bunny", "residual": "error", "overlay_sampling": "topup"}
