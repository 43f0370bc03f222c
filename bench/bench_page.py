"""Front-end benchmark: the page in headless Chromium (prints figures; not a test).

    python bench/bench_page.py [--url http://127.0.0.1:8000] [--runs 5]

Without --url it starts its own uvicorn server on a free loopback port (the app as `basisgraph
serve` runs it, default study warmed). Measured:

1. first full render of the default page: navigation start -> body[data-ready="true"] in a fresh
   browser context (no HTTP cache), API answers already computed by the server;
2. control change -> re-rendered panels, API answers cached in the page: pick another circuit,
   change the preset, toggle local/global; from the change event to ready, and to the next frame;
3. coverage slider: one input event -> every panel re-pruned (no fetch);
4. a cached GET /api/v1/table, p50 and p95 over 50 requests from Python.

Targets: 1 <= 1 s and 2 <= 150 ms (issue 12, "Story first"), 4 <= 5 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

# Records, in the page's own clock, when body[data-ready] first turns "true".
READY_PROBE = """
(() => {
  const mark = () => {
    if (document.body && document.body.dataset.ready === 'true' && window.__readyAt === undefined) {
      window.__readyAt = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-ready']});
})();
"""

# Dispatches one change and resolves with [ms to ready, ms to the next frame after ready].
CHANGE = """
async ([selector, value, kind]) => {
  const el = document.querySelector(selector);
  const t0 = performance.now();
  if (kind === 'check') el.checked = true; else el.value = value;
  el.dispatchEvent(new Event(kind === 'range' ? 'input' : 'change', {bubbles: true}));
  const ready = await new Promise(res => {
    const done = () => document.body.dataset.ready === 'true';
    if (done()) return res(performance.now());
    const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); res(performance.now()); } });
    mo.observe(document.body, {attributes: true, attributeFilter: ['data-ready']});
  });
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return [ready - t0, performance.now() - t0];
}
"""

# One coverage input event; the panels are re-pruned synchronously inside the handler.
PRUNE = """
(value) => {
  const el = document.querySelector('#f-coverage');
  const t0 = performance.now();
  el.value = value;
  el.dispatchEvent(new Event('input', {bubbles: true}));
  return performance.now() - t0;
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "basisgraph.web.app:create_served_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs):7.1f} ms   min {min(xs):7.1f}   max {max(xs):7.1f}   (n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an already running server (default: start one)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    with server(args.url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # Warm the server's cache for everything the runs below ask for.
        warm = browser.new_page()
        warm.goto(f"{base}/")
        warm.wait_for_selector('body[data-ready="true"]', state="attached", timeout=60_000)
        warm.close()

        first: list[float] = []
        for _ in range(args.runs):
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            page.add_init_script(READY_PROBE)
            page.goto(f"{base}/")
            page.wait_for_function("() => window.__readyAt !== undefined", timeout=60_000)
            first.append(page.evaluate("window.__readyAt"))
            ctx.close()

        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        page.goto(f"{base}/")
        page.wait_for_selector('body[data-ready="true"]', state="attached", timeout=60_000)
        circuits = page.eval_on_selector_all("#pick-circuit option", "os => os.map(o => o.value)")
        a, b = circuits[0], circuits[len(circuits) // 2]
        cases = {
            "circuit picker": [("#pick-circuit", b, "select"), ("#pick-circuit", a, "select")],
            "preset (post <-> bunny)": [("#f-preset", "bunny", "select"), ("#f-preset", "post", "select")],
            "local/global toggle": [("#view-global", "", "check"), ("#view-local", "", "check")],
        }
        changes: dict[str, tuple[list[float], list[float]]] = {}
        for name, steps in cases.items():
            for step in steps:  # first pass fills the page's API cache
                page.evaluate(CHANGE, list(step))
            to_ready, to_frame = [], []
            for _ in range(args.runs):
                for step in steps:
                    r, f = page.evaluate(CHANGE, list(step))
                    to_ready.append(r)
                    to_frame.append(f)
            changes[name] = (to_ready, to_frame)

        prune = [page.evaluate(PRUNE, v) for v in ["0.5", "0.7", "0.3", "0.95", "0.6", "0.8"] * args.runs]
        npanels = page.locator(".panel").count()
        browser.close()

        api: list[float] = []
        for _ in range(50):
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{base}/api/v1/table", timeout=10) as resp:
                resp.read()
            api.append(1000 * (time.perf_counter() - t0))

    print("basisgraph page benchmark (headless Chromium, this machine)")
    print(f"  first full render, default page                 {ms(first)}   target <= 1000 ms")
    for name, (to_ready, to_frame) in changes.items():
        print(f"  change -> panels ready: {name:<24}{ms(to_ready)}   target <= 150 ms")
        print(f"  change -> next frame:   {name:<24}{ms(to_frame)}")
    print(f"  coverage slider, re-prune {npanels} panels              {ms(prune)}")
    api_sorted = sorted(api)
    print(
        f"  cached GET /api/v1/table                        p50 {statistics.median(api):6.2f} ms   "
        f"p95 {api_sorted[int(0.95 * len(api)) - 1]:6.2f} ms   target p50 <= 5 ms"
    )


if __name__ == "__main__":
    main()
