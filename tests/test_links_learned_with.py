"""share/links.py's `learned_with` key: one more SAE in the learned view's union."""

from __future__ import annotations

from basisgraph.share.links import link_query, read_link


def test_learned_with_is_carried_with_an_sae_only() -> None:
    link = read_link("v=2&animals=40&sae=relu:46&learned_with=relu:8:1:200:5")
    assert link.ui["learned_with"] == "relu:8:1:200:5" and not link.dropped
    query = link_query(link.config, link.ui)
    assert query.endswith("sae=relu%3A46&learned_with=relu%3A8%3A1%3A200%3A5")  # after every older key
    assert "learned_with" not in link_query(link.config, {"learned_with": "relu:8"})  # no SAE, no view
    assert "learned_with" not in link_query(link.config, {"sae": "relu:46"})  # default: none


def test_a_bad_learned_with_is_dropped() -> None:
    for bad in ("relu", "gelu:8", "relu:8,relu:9", "relu:8:1:2:3:4"):
        link = read_link(f"v=2&animals=40&sae=relu:46&learned_with={bad}")
        assert "learned_with" not in link.ui and link.dropped == ("learned_with",), bad
