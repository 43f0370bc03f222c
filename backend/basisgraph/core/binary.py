"""The binary attribute law: each animal is a few attributes switched on, with positive weights.

Under the gaussian law (model.py) an animal has a signed Gaussian weight on every attribute, so
any rotation of the attribute axes gives animals with the same distribution and only the
overlays single the axes out. Here an animal is sparse and non-negative in the attribute basis,
which makes the attribute axes identifiable from the animals alone.

Steps of `binary_weights`:
1. Every animal switches on `attributes_on` attributes (capped at d), chosen uniformly as the
   smallest of d random keys, with weights uniform in [BINARY_LOW, BINARY_HIGH]; random dims
   (if any) get Gaussian weights as under the gaussian law; each row is normalised.
2. Named animals are redrawn by `binary_row`: their positive attributes (names.SIGNS) on first,
   their negative ones only when nothing else is left.
3. For each reader (the first `circuits` animals) in turn, an animal whose |cosine| with it
   exceeds max(`limit`, SHARE_LIMIT) is redrawn, up to 20 rounds: the reader while it clashes
   with an earlier reader, then every later animal that clashes with it, each redrawn animal
   checked again against every reader so far. Two animals that share one attribute of
   three have a cosine near 1/3, above the gaussian law's typical maximum once d is large, so
   that bar alone would forbid a reader's attributes to every other animal; SHARE_LIMIT lets
   neighbours share an attribute but not most of the reader. Sparse animals share attributes far more often than
   Gaussian ones share directions, so redrawing only the reader (as the gaussian law does)
   would rarely succeed.
"""

from __future__ import annotations

import numpy as np

from basisgraph.config import Config
from basisgraph.core.names import ANIMAL_NAMES, ATTRIBUTE_NAMES, SIGNS

__all__ = ["BINARY_LOW", "BINARY_HIGH", "SHARE_LIMIT", "binary_row", "binary_weights"]

# Weights of the attributes an animal has switched on: bounded away from zero (an attribute is
# on or off, never faintly on), at most 2:1 so no single attribute hides the others.
BINARY_LOW, BINARY_HIGH = 0.5, 1.0
SHARE_LIMIT = 0.5  # the lowest cosine with a reader at which another animal is redrawn
SUPPORT_CHUNK = 8192  # animals whose supports are drawn at once (bounds the random keys)


def binary_row(rng: np.random.Generator, cfg: Config, name: str) -> np.ndarray:
    """One unit animal under the binary law.  -> (d_model,) feature coordinates

    A named animal's positive attributes are switched on first and its negative ones only if
    nothing else is left; the rest of the `attributes_on` are drawn uniformly.
    """
    d, m = cfg.attributes, min(cfg.attributes_on, cfg.attributes)
    signs = {ATTRIBUTE_NAMES.index(a): s for a, s in SIGNS.get(name, {}).items()
             if ATTRIBUTE_NAMES.index(a) < d}
    forced = [j for j, s in signs.items() if s > 0][:m]
    free = np.array([j for j in range(d) if j not in signs], dtype=int)
    banned = np.array([j for j, s in signs.items() if s < 0], dtype=int)
    pick = rng.permutation(free)[: m - len(forced)]
    pick = np.concatenate([pick, rng.permutation(banned)[: m - len(forced) - len(pick)]])
    w = np.zeros(cfg.d_model)
    w[np.array(forced + pick.tolist(), dtype=int)] = rng.uniform(BINARY_LOW, BINARY_HIGH, m)
    w[d:] = rng.standard_normal(cfg.random_dims)
    return w / np.linalg.norm(w)


def binary_weights(rng: np.random.Generator, cfg: Config, names: list[str], limit: float) -> np.ndarray:
    """Unit animals under the binary law (steps in the module docstring).  -> (animals, d_model)"""
    n, d, m = cfg.animals, cfg.attributes, min(cfg.attributes_on, cfg.attributes)
    w = np.zeros((n, cfg.d_model))  # (animals, d_model) feature coords
    for s in range(0, n, SUPPORT_CHUNK):
        rows = np.arange(s, min(n, s + SUPPORT_CHUNK))
        on = np.argpartition(rng.random((len(rows), d)), m - 1, axis=1)[:, :m]  # (rows, m)
        w[rows[:, None], on] = rng.uniform(BINARY_LOW, BINARY_HIGH, (len(rows), m))
    w[:, d:] = rng.standard_normal((n, cfg.random_dims))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    for i, name in enumerate(names[: len(ANIMAL_NAMES)]):
        if name in SIGNS:
            w[i] = binary_row(rng, cfg, name)
    readers = min(cfg.circuits, n)
    limit = max(limit, SHARE_LIMIT)
    for i in range(readers):
        for _ in range(20):  # first against the earlier readers (a few rows: cheap)
            if not i or np.abs(w[:i] @ w[i]).max() <= limit:
                break
            w[i] = binary_row(rng, cfg, names[i])
        # Then every later animal against this reader (a view: no copy of w), and each redrawn
        # animal again against every reader so far.
        clash = np.flatnonzero(np.abs(w[i + 1:] @ w[i]) > limit) + i + 1
        for _ in range(20):
            if not len(clash):
                break
            for j in clash:
                w[j] = binary_row(rng, cfg, names[j])
            cos = np.abs(w[clash] @ w[: i + 1].T)  # (redrawn, readers so far)
            clash = clash[cos.max(axis=1) > limit]
    return w
