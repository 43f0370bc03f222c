"""The text rounding rule matches the page's (JavaScript toFixed rounds exact ties up)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from basisgraph.fmt import format_count

CASES = [(None, "-"), (87, "87"), (87.0, "87"), (314.5, "314.5"), (8.25, "8.3"), (8.75, "8.8"),
         (0.05, "0.1"), (2.96, "3"), (1.25, "1.3"), (0.35, "0.3")]  # 0.35 is just below a tie


@pytest.mark.parametrize(("value", "text"), CASES)
def test_format_count(value, text):
    assert format_count(value) == text


def test_missing_symbol():
    assert format_count(None, missing="–") == "–"


def test_same_as_the_page():
    # The page's formatCount, run by node on the same values: every case agrees.
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (make test installs the npm packages with it)")
    values = [v for v, _ in CASES if v is not None]
    module = (Path(__file__).resolve().parents[1] / "frontend" / "js" / "format.js").as_uri()
    script = (f"import('{module}').then(m => console.log(JSON.stringify("
              f"{values}.map(m.formatCount))))")
    out = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == [format_count(v) for v in values]
