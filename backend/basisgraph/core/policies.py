"""What the numbers depend on: the table's cells under each `residual` policy, side by side.

The animal dictionary cannot carry an overlay with the planted animal coefficients, so its
encoder must do something with the rest (Config.residual). Steps of `residual_policies`:
1. Build the table of the same configuration once per policy (minnorm, sparse, error), with
   nothing else changed.
2. Keep the cells of the node sets that hold an animal block (animal, half, any union): the
   others do not depend on the policy.
3. Report each cell's local and global counts and its error share per policy.
"""

from __future__ import annotations

from basisgraph.config import Config
from basisgraph.core.counts import table
from basisgraph.fmt import format_count

__all__ = ["POLICIES", "residual_policies", "format_policies"]

POLICIES = ("minnorm", "sparse", "error")
AFFECTED = ("animal", "half")  # node sets with an animal block, besides any union:<alpha>


def residual_policies(cfg: Config) -> dict:
    """The affected cells of `cfg`'s table under every residual policy (JSON-ready)."""
    tables = {p: table(Config.model_validate({**cfg.model_dump(), "residual": p})) for p in POLICIES}
    first = tables[POLICIES[0]]
    bases = [b["id"] for b in first["bases"] if b["id"] in AFFECTED or b["id"].startswith("union:")]
    cells = []
    for b in bases:
        for fam in first["families"]:
            row = {"basis": b, "family": fam}
            for p, t in tables.items():
                c = next(c for c in t["cells"] if c["basis"] == b and c["family"] == fam)
                row[p] = {"local_edges_median": c["local_edges_median"],
                          "global_edges_median": c["global_edges_median"],
                          "error_share_median": c["error_share_median"]}
            cells.append(row)
    return {"config": {k: v for k, v in cfg.model_dump().items() if k != "residual"},
            "policies": list(POLICIES), "cells": cells}


def format_policies(doc: dict) -> str:
    """`residual_policies` as text: one row per (node set, family), local / global per policy."""
    width = 22
    lines = ["animal-block cells under each residual policy: local / global (error share)", "",
             "cell".ljust(22) + "".join(p.rjust(width) for p in doc["policies"])]
    for row in doc["cells"]:
        text = f"{row['basis']} / {row['family']}".ljust(22)
        for p in doc["policies"]:
            c = row[p]
            share = c["error_share_median"]
            share_txt = "-" if share is None else f"{share:.2f}"
            text += (f"{format_count(c['local_edges_median'])} / {format_count(c['global_edges_median'])}"
                     f" ({share_txt})").rjust(width)
        lines.append(text)
    return "\n".join(lines)
