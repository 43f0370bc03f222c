"""Benchmark (not a timed test): a cached GET /api/v1/table over real HTTP to a real server.

`make bench` reports the figures (issue target: p50 <= 5 ms); in the normal suite the benchmark
fixture runs the request once, as a plain correctness check.
"""

from __future__ import annotations

import urllib.request


def test_cached_table_latency(benchmark, server_url: str) -> None:
    url = f"{server_url}/api/v1/table?preset=bunny"

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            return resp.read()

    first = fetch()  # fills the cache; the benchmark times only cached responses
    assert benchmark.pedantic(fetch, rounds=200, warmup_rounds=10) == first
