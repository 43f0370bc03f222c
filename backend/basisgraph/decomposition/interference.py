"""How far a planted circuit's read direction leaks onto inputs where the circuit is silent.

SPD keeps a subcomponent out of an input's mechanism only when masking it changes nothing.
A subcomponent that reads circuit k's direction r_k has the inner activation r_k . a on every
input; where circuit k is silent that value is interference, and if it is large the
subcomponent is needed on inputs that are not its circuit's (docs/spd.md, "Second session").
The paper's residual MLP keeps it near 0.1 (nearly orthogonal embeddings); the planted model
with many animals in few dimensions does not.

Steps (`interference_report`):
1. Pre-activations r_k . a - b_k of every planted circuit on the data: where > 0 the circuit fires.
2. |r_k . a| with r_k normalised, split into the inputs where circuit k fires and the rest.
3. Per family: the fraction of inputs that fire, the median |r . a| where they fire, and the
   median and 90th percentile where they do not.
4. Optionally, for an MLP's W_in (hidden x d), the length of each unit read direction's
   projection onto the row space of W_in, per family: how much of r_k the MLP reads at all.
"""

from __future__ import annotations

import numpy as np

from basisgraph.core.model import Data, PlantedModel

__all__ = ["interference_report", "row_space_projection"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-30)


def row_space_projection(w_in: np.ndarray, reads: np.ndarray) -> np.ndarray:
    """Length of each unit read direction's projection on the row space of w_in.

    w_in (hidden, d), reads (k, d) -> (k,) in [0, 1]
    """
    _, s, vt = np.linalg.svd(w_in, full_matrices=False)
    basis = vt[s > 1e-9 * max(float(s.max(initial=0.0)), 1e-300)]  # (rank, d)
    return np.linalg.norm(_unit(reads) @ basis.T, axis=1)


def interference_report(model: PlantedModel, data: Data, w_in: np.ndarray | None = None) -> dict:
    """Steps 1-4 per family (rounded to 4 places)."""
    reads = np.stack([c.read for c in model.circuits])  # (circuits, d)
    bias = np.array([c.bias for c in model.circuits])  # (circuits,)
    fires = data.acts @ reads.T - bias > 0  # (n, circuits)
    inner = np.abs(data.acts @ _unit(reads).T)  # (n, circuits)
    fams = np.array([c.family for c in model.circuits])
    proj = row_space_projection(w_in, reads) if w_in is not None else None
    out = {}
    for fam in ("animal", "attribute", "composite"):
        k = fams == fam
        if not k.any():
            continue
        on, off = inner[:, k][fires[:, k]], inner[:, k][~fires[:, k]]
        row = {"fire_fraction": round(float(fires[:, k].mean()), 4),
               "on_median": round(float(np.median(on)), 4) if on.size else None,
               "off_median": round(float(np.median(off)), 4) if off.size else None,
               "off_p90": round(float(np.percentile(off, 90)), 4) if off.size else None}
        if proj is not None:
            row["row_space_median"] = round(float(np.median(proj[k])), 4)
        out[fam] = row
    return out
