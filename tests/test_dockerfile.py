"""Packaging checks: this machine cannot build images, so the Dockerfile is parsed and checked.

A real wheel is built too, to show that it carries the page and D3, so `basisgraph serve` works
outside the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Stages of (INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.strip().startswith("#") and not pending:
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in filter(str.strip, lines):
        instruction, _, args = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append((instruction, " ".join(args.split())))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return parse_dockerfile((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages) -> list[tuple[str, str]]:
    return stages[-1]


def _args(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [args for ins, args in stage if ins == instruction]


def test_final_stage_is_slim_python_311(final) -> None:
    image = _args(final, "FROM")[0].split()[0]
    assert image == "python:3.11-slim"


def test_no_floating_latest_tags(stages) -> None:
    for stage in stages:
        image = _args(stage, "FROM")[0].split()[0]
        assert ":" in image and not image.endswith(":latest"), image


def test_runs_as_non_root_user(final) -> None:
    users = _args(final, "USER")
    assert users, "final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The user must be created before it is used.
    created = " ".join(_args(final, "RUN"))
    assert re.search(rf"(useradd|adduser)\b.*\b{re.escape(users[-1])}\b", created)


def test_healthcheck_probes_health_route_with_python(final) -> None:
    checks = _args(final, "HEALTHCHECK")
    assert len(checks) == 1
    _, _, cmd = checks[0].partition("CMD ")
    argv = json.loads(cmd)  # exec form: no shell needed in a slim image
    assert argv[:2] == ["python", "-c"]
    assert "urllib" in argv[2] and "/api/v1/health" in argv[2] and ":8000" in argv[2]
    compile(argv[2], "<healthcheck>", "exec")


def test_exposes_8000(final) -> None:
    assert "8000" in " ".join(_args(final, "EXPOSE")).split()


def test_cmd_is_exec_form_serve_on_all_interfaces(final) -> None:
    cmds = _args(final, "CMD")
    assert len(cmds) == 1
    assert json.loads(cmds[0]) == ["basisgraph", "serve", "--host", "0.0.0.0"]
    assert not _args(final, "ENTRYPOINT")


def test_torch_is_the_pinned_cpu_build(final) -> None:
    runs = " ".join(_args(final, "RUN"))
    assert "torch==2.13.0" in runs
    assert "whl/cpu" in runs
    pin = re.search(r'"torch==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert pin and pin.group(1) == "2.13.0"


def test_d3_comes_from_the_lock_file(stages) -> None:
    runs = " ".join(args for stage in stages for args in _args(stage, "RUN"))
    assert "npm ci" in runs
    copies = " ".join(args for stage in stages for args in _args(stage, "COPY"))
    assert "package-lock.json" in copies and "d3.min.js" in copies


def test_copied_sources_exist(stages) -> None:
    for stage in stages:
        for args in _args(stage, "COPY"):
            if args.startswith("--from"):
                continue
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert (REPO / src).exists(), f"COPY source missing: {src}"


def test_dockerignore_keeps_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "node_modules" in ignored and ".git" in ignored


@pytest.mark.slow
def test_wheel_carries_frontend_and_d3(tmp_path: Path) -> None:
    """Build the real wheel; it must hold the page (once it exists) and the vendored files."""
    if not (REPO / "node_modules/d3/dist/d3.min.js").is_file():
        pytest.fail("node_modules is missing: run `npm ci` (make test does)")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("basisgraph-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("basisgraph/__init__.py", "basisgraph/web/app.py",
                     "basisgraph/frontend/vendor/d3.min.js",
                     "basisgraph/frontend/vendor/swagger-ui-bundle.js",
                     "basisgraph/frontend/vendor/swagger-ui.css"):
        assert required in names, required
    if (REPO / "frontend/index.html").is_file():
        assert "basisgraph/frontend/index.html" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "basisgraph = basisgraph.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith("basisgraph/node_modules") for n in names)

    # Outside the checkout, the unpacked wheel serves its own copies of the page and D3.
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import basisgraph, basisgraph.web.app as api\n"
        "from fastapi.testclient import TestClient\n"
        f"assert basisgraph.__file__.startswith({str(unpacked)!r}), basisgraph.__file__\n"
        f"assert str(api.vendor_file('d3.min.js')).startswith({str(unpacked)!r})\n"
        "c = TestClient(api.create_app())\n"
        "assert c.get('/vendor/d3.min.js').status_code == 200\n"
        "assert c.get('/api/v1/health').json()['status'] == 'ok'\n"
        "has_page = (api.frontend_dir() / 'index.html').is_file()\n"
        "assert c.get('/').status_code == (200 if has_page else 404)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
