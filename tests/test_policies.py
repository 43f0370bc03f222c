"""The residual policies side by side: only animal-block cells move, and in the expected order."""

from __future__ import annotations

from basisgraph.config import parse_config
from basisgraph.core.counts import table
from basisgraph.core.policies import POLICIES, format_policies, residual_policies

SMALL = parse_config({"animals": 300, "attributes": 20, "samples": 600})


def test_policies_side_by_side():
    doc = residual_policies(SMALL)
    assert doc["policies"] == list(POLICIES) and "residual" not in doc["config"]
    assert {r["basis"] for r in doc["cells"]} == {"animal", "half"}
    cells = {(r["basis"], r["family"]): r for r in doc["cells"]}
    for p in POLICIES:  # each column is the table of that policy
        t = table(SMALL.model_copy(update={"residual": p}))
        got = next(c for c in t["cells"] if (c["basis"], c["family"]) == ("animal", "composite"))
        assert cells[("animal", "composite")][p]["local_edges_median"] == got["local_edges_median"]
    comp = cells[("animal", "composite")]
    # the densest completion needs the most edges; leaving the overlay out needs the fewest,
    # and only that policy leaves anything in the error node
    assert comp["minnorm"]["local_edges_median"] > comp["sparse"]["local_edges_median"] \
        > comp["error"]["local_edges_median"]
    assert comp["error"]["error_share_median"] > 0.1
    assert comp["minnorm"]["error_share_median"] == comp["sparse"]["error_share_median"] == 0.0
    text = format_policies(doc)
    assert text.splitlines()[2].split() == ["cell", *POLICIES]
