"""The browser harness itself: real server, real Chromium, and nothing fetched from off the machine."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlparse


def test_server_answers_health(server_url: str) -> None:
    with urllib.request.urlopen(f"{server_url}/api/v1/health", timeout=5) as resp:
        assert json.load(resp)["status"] == "ok"


def test_d3_is_served_locally(page, server_url: str) -> None:
    page.goto(f"{server_url}/api/v1/health")
    page.add_script_tag(url=f"{server_url}/vendor/d3.min.js")
    assert page.evaluate("d3.version") == "7.9.0"
    assert page.console_errors == []


def test_api_docs_render_offline(page, server_url: str, screenshot_dir) -> None:
    """Swagger UI comes from this server, not a CDN, and renders the API's routes."""
    hosts: set[str] = set()
    page.on("request", lambda req: hosts.add(urlparse(req.url).netloc))
    page.goto(f"{server_url}/api/v1/docs")
    page.wait_for_selector('[data-path="/api/v1/table"]')
    page.screenshot(path=str(screenshot_dir / "api-docs.png"))
    assert hosts == {urlparse(server_url).netloc}
    assert page.console_errors == []
