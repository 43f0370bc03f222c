"""Real-browser harness: a real uvicorn server and Debian's headless Chromium, driven by Playwright.

The tests here drive the page the way a reader does, against the same server `make run` starts.
Playwright is used only as a driver: it launches /usr/bin/chromium, and `playwright install` is
never run. Without Chromium or Playwright these tests skip locally and fail under CI=true, so CI
can never pass by skipping them.

Fixtures: `run_job(server_url, "sae/jobs?<query>")` (start a background job through the API and
wait for it), `server_url`, `tiny_trained_url` (the app with tiny trained-model settings), `browser`, `new_page(width, height)`, `page` (1280x800), `open_app(query)`
(navigates and waits for `body[data-ready="true"]`), `screenshot_dir`. Every page has a
`console_errors` list holding console errors and uncaught exceptions. A failing test's page is
saved as a screenshot.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without these, Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUTPUT = REPO / "test-output"
SERVER_START_S = 60.0
DEFAULT_TIMEOUT_MS = 20_000


def _unavailable(reason: str) -> None:
    """Skip, except under CI=true, where a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true browser tests must run, not skip")
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser with `browser`, so `-m "not browser"` deselects them."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    # Keep each phase's report on the item so the page fixture knows if the test failed.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _run_job(server_url: str, start: str, timeout_s: float = 180.0) -> dict:
    """POST /api/v1/<start> and poll the job until it is done; fails with its last status."""
    import json

    req = urllib.request.Request(f"{server_url}/api/v1/{start}", method="POST", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        job = json.load(r)
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        with urllib.request.urlopen(f"{server_url}{job['poll']}", timeout=60) as r:
            job = json.load(r)
    assert job["status"] == "done", job
    return job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """test-output/screenshots (git-ignored): where tests save what they want a human to see."""
    path = OUTPUT / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _serve(cache: Path, app: str, *extra: str) -> Iterator[str]:
    """Run `app` (a uvicorn factory) in a subprocess until the generator is closed; yields its URL."""
    port = _free_port()
    env = {**os.environ, "BASISGRAPH_CACHE": str(cache)}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log_path = OUTPUT / f"server-{app.split(':')[0].rsplit('.', 1)[-1]}.log"
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", *extra,
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           # as `basisgraph serve` (api.MAX_HEAD): long shared links must reach the app
           "--h11-max-incomplete-event-size", str(1 << 20)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"uvicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"uvicorn did not answer within {SERVER_START_S:g} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real uvicorn server running the app in a subprocess, e.g. http://127.0.0.1:PORT.

    Its SAE cache (BASISGRAPH_CACHE) is a fresh temporary directory, so SAEs the tests train
    start untrained every session and never land in ~/.cache."""
    yield from _serve(tmp_path_factory.mktemp("server-cache"), "basisgraph.web.app:create_served_app")


@pytest.fixture(scope="session")
def tiny_trained_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same app with tiny trained-model settings (tiny_trained_app.py), its own empty cache:
    a build from the page takes seconds, so the whole flow can be driven in a test."""
    yield from _serve(tmp_path_factory.mktemp("trained-cache"), "tiny_trained_app:create",
                      "--app-dir", str(HERE))


@pytest.fixture(scope="session")
def run_job() -> Callable[..., dict]:
    """run_job(server_url, "sae/jobs?<query>"): start a job through the API and wait for it."""
    return _run_job


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright's sync API (one per session)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (make test installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception:
        pw.stop()
        raise
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest, screenshot_dir: Path) -> Iterator[Callable[..., Any]]:
    """Factory: new_page(width=1280, height=800) -> a fresh page in its own context."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(width: int = 1280, height: int = 800, **context_args: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: page.console_errors.append(f"pageerror: {exc}"))
        contexts.append(context)
        pages.append(page)
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    for i, page in enumerate(pages):
        if failed is not None and failed.failed and not page.is_closed():
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
            page.screenshot(path=str(screenshot_dir / f"FAILED-{name}-{i}.png"), full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A 1280x800 page; `page.console_errors` collects console errors and page exceptions."""
    return new_page()


@pytest.fixture
def open_app(page: Any, server_url: str) -> Callable[..., Any]:
    """open_app(query="", target=page) loads the app and waits until it reports ready."""

    def go(query: str = "", target: Any = None) -> Any:
        p = target or page
        sep = "?" if query and not query.startswith("?") else ""
        p.goto(f"{server_url}/{sep}{query}")
        p.wait_for_selector('body[data-ready="true"]', state="attached")
        return p

    return go
