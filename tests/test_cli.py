"""The command line: the table, single graphs and one-line errors with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import networkx as nx
import pytest

from basisgraph.cli.main import build_parser, main
from basisgraph.config import Config
from basisgraph.core.counts import table

BUNNY = ["--preset", "bunny"]
GRAPH = ["graph", *BUNNY, "--basis", "half", "--circuit", "animal:bunny"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """main(argv) -> (exit status, stdout, stderr); argparse's exits count as statuses too."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_table_text(capsys):
    status, out, err = run(["table", *BUNNY], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert "coverage tau = 0.9" in lines[0]
    header = next(line for line in lines if line.startswith("family"))
    for basis in ("neuron", "animal", "attribute", "half", "mixed"):
        assert basis in header.split()
    for fam in ("animal", "attribute", "composite"):
        assert any(line.split()[0] == fam and "/" in line for line in lines if line.strip()), fam
    assert any(line.startswith("own share") and "half" in line for line in lines)
    assert "not a dictionary" in out


def test_table_text_shows_the_union_column(capsys):
    status, out, _ = run(["table", *BUNNY, "--alpha", "0.3"], capsys)
    assert status == 0
    assert "union:0.3" in next(line for line in out.splitlines() if line.startswith("family"))


def test_table_json(capsys):
    status, out, err = run(["table", "--json", *BUNNY, "--seed", "2"], capsys)
    assert status == 0 and err == ""
    got = json.loads(out)
    want = json.loads(json.dumps(table(Config(preset="bunny", seed=2))))
    assert got == want
    assert got["config"]["seed"] == 2 and got["config"]["animals"] == 4


@pytest.mark.parametrize("fmt", ["json", "graphml", "csv"])
def test_graph_formats(fmt, capsys):
    status, out, err = run([*GRAPH, "--input", "cute-bunny", "--format", fmt], capsys)
    assert status == 0 and err == ""
    if fmt == "json":
        doc = json.loads(out)
        assert {"metadata", "qParams", "nodes", "links"} <= set(doc)
        assert doc["metadata"]["info"]["basis"] == "half"
    elif fmt == "graphml":
        g = nx.read_graphml(io.StringIO(out))
        assert g.graph["circuit"] == "animal:bunny" and g.graph["input"] == "cute-bunny"
    else:
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows and all(r["target"] == "circuit:animal:bunny" for r in rows)


def test_graph_defaults_to_the_dataset(capsys):
    _, default, _ = run([*GRAPH, "--format", "csv"], capsys)
    _, dataset, _ = run([*GRAPH, "--format", "csv", "--dataset"], capsys)
    assert default == dataset
    status, out, _ = run([*GRAPH, "--format", "json"], capsys)
    assert status == 0 and json.loads(out)["metadata"]["prompt"].startswith("all 400 inputs")


def test_graph_output_file(tmp_path, capsys):
    target = tmp_path / "g.graphml"
    status, out, err = run([*GRAPH, "--format", "graphml", "--top", "1", "-o", str(target)], capsys)
    assert status == 0 and out == "" and err == ""
    assert nx.read_graphml(target).graph["basis"] == "half"


BAD = [
    (["table", "--alpha", "2"], "alpha", "from 0.0 to 1.0"),
    (["table", "--animals", "4", "--active", "5"], "active", "at most animals (4)"),
    (["table", "--animals", "100001"], "animals", "from 2 to 100000"),
    (["table", "--animals", "abc"], "animals", "from 2 to 100000"),
    (["table", "--coverage", "0"], "coverage", "greater than 0.0"),
    (["table", "--preset", "nope"], "preset", "post, bunny, wide, small"),
    (["table", "--samples", "20000", "--attributes", "1024"], "samples", "20000000"),
    (["graph", *BUNNY, "--basis", "nope", "--circuit", "animal:bunny"], "basis", "half"),
    (["graph", *BUNNY, "--basis", "half", "--circuit", "nope"], "circuit", "animal:bunny"),
    ([*GRAPH, "--input", "nope"], "input", "cute-bunny"),
    ([*GRAPH, "--top", "0"], "top", "from 1 to 2000"),
    ([*GRAPH, "--top", "many"], "top", "from 1 to 2000"),
    (["serve", "--port", "http"], "port", "from 1 to 65535"),
    (["serve", "--port", "70000"], "port", "from 1 to 65535"),
]


@pytest.mark.parametrize("argv, field, allowed", BAD, ids=[" ".join(b[0][-2:]) for b in BAD])
def test_bad_input_is_one_line(argv, field, allowed, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith(f"basisgraph: error: {field}: ")
    assert allowed in err


@pytest.mark.parametrize("argv, mention", [
    ([], "command"),
    (["graph", *BUNNY, "--circuit", "animal:bunny"], "--basis"),
    ([*GRAPH, "--format", "xml"], "--format"),
    ([*GRAPH, "--input", "bunny", "--dataset"], "--dataset"),
    (["table", "--colour", "red"], "--colour"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_errors_are_one_line(argv, mention, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("basisgraph: error: ")
    assert mention in err


def test_unwritable_output_is_one_line(tmp_path, capsys):
    status, _, err = run([*GRAPH, "-o", str(tmp_path / "missing" / "g.json")], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err


def test_help_lists_every_config_flag():
    text = build_parser().parse_known_args(["table"])[0]
    assert text.command == "table"
    sub = build_parser()._subparsers._group_actions[0].choices["table"].format_help()
    for name in Config.model_fields:
        assert "--" + name.replace("_", "-") in sub


# ---- real processes ---------------------------------------------------------------------------

def _spawn(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_processes():
    """A bad flag through the console script and a good table through `python -m`, side by side."""
    exe = shutil.which("basisgraph")
    module = [sys.executable, "-m", "basisgraph.cli"]
    bad = _spawn([exe, "table", "--alpha", "2"] if exe else [*module, "table", "--alpha", "2"])
    good = _spawn([*module, "table", *BUNNY])
    (out, err), code = good.communicate(timeout=120), good.returncode
    assert code == 0 and err == "" and "mixed" in out
    (out, err), code = bad.communicate(timeout=120), bad.returncode
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("basisgraph: error: alpha: ")


def test_export_of_an_unbuilt_trained_model_exits_2(capsys, tmp_path) -> None:
    # The session cache is empty, so nothing is built: one line naming `model`, no file.
    out = tmp_path / "x.html"
    status, _, err = run(["export", "--html", str(out), *BUNNY, "--model", "trained"], capsys)
    assert status == 2 and not out.exists()
    assert err.count("\n") == 1 and "model" in err and "basisgraph decompose" in err
    status, _, err = run(["export", "--html", str(out), "--animals", "5000", "--model", "trained"], capsys)
    assert status == 2 and "animals" in err and "1000" in err
