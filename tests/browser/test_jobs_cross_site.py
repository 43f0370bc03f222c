"""Another site cannot make its visitors' browsers start jobs: in real Chromium, a page of another
origin submits an HTML form, a no-cors fetch and a JSON fetch (which needs a CORS preflight the
server never grants) to the job URLs; none starts a job."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.browser

QUERY = "animals=40&attributes=6&samples=200&kind=relu&steps=777&sae_seed=99"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def test_a_cross_site_page_cannot_start_a_job(new_page: Any, server_url: str) -> None:
    target = f"{server_url}/api/v1/sae/jobs?{QUERY}"
    trained = f"{server_url}/api/v1/trained/jobs?animals=5&attributes=3&samples=200&circuits=2"
    page = new_page()
    # about:blank with content: an opaque origin, unrelated to the server's.
    page.set_content(f"""<form id="f" method="post" action="{target}" target="sink">
        <input name="kind" value="relu"></form><iframe name="sink"></iframe>""")
    with page.expect_response(lambda r: r.url.startswith(target)) as info:
        page.eval_on_selector("#f", "f => f.submit()")
    assert info.value.status == 415
    outcomes = page.evaluate("""async ([target, trained]) => {
        const out = [];
        for (const url of [target, trained]) {
          for (const init of [
            {method: "POST", mode: "no-cors", body: "{}"},
            {method: "POST", mode: "no-cors", body: "{}", headers: {"Content-Type": "text/plain"}},
            {method: "POST", body: "{}", headers: {"Content-Type": "application/json"}},
          ]) {
            try { const r = await fetch(url, init); out.push(r.type + ":" + r.status); }
            catch (e) { out.push("blocked"); }
          }
        }
        return out;
    }""", [target, trained])
    # no-cors answers are opaque (status 0) to the page; the JSON one is stopped by CORS.
    assert outcomes == ["opaque:0", "opaque:0", "blocked"] * 2, outcomes
    look = _get(f"{server_url}/api/v1/sae/jobs?{QUERY}")
    assert look["status"] == "untrained", look
    queued = _get(f"{server_url}/api/v1/jobs")["jobs"]
    assert look["id"] not in {j["id"] for j in queued}
    assert not [j for j in queued if j["kind"] == "trained" and j["config"]["animals"] == 5]
