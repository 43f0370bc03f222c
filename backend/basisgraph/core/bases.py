"""Node sets: the dictionaries (and the one non-dictionary) a graph can be drawn on.

A dictionary is a list of blocks. Each block owns a contiguous range of atoms (decoder rows) and
an encoder of the form  g(x) = scale * (planted(x) + z(x) @ Q):
- an *axis* block (neuron basis, attribute basis) has no planted part and z(x) = a(x), with Q
  the transpose of its orthonormal atoms, so g(x) are plain coordinates;
- an *animal* block takes the planted animal coefficients c(x) (sparse) and completes them
  for what they leave out, z(x) = a(x) - c(x) F in feature coordinates (an overlay is one
  non-zero entry there), as the config's `residual` says:
  minnorm: z @ Q with Q = pinv(F) (min_norm_map; for large N through the d x d Gram matrix),
  which smears over every animal; sparse: z_j times the OMP code of axis j (completion.py),
  d animals per axis with a few carrying most of the weight; error: no completion, so z stays
  in the error node. Only inputs with an overlay have a non-zero z.
The union dictionary is an animal block scaled by alpha next to an axis block scaled by 1 - alpha.

`mixed` is not a dictionary: each circuit's read direction is decomposed sparsely over the union
of true feature directions (orthogonal matching pursuit, mixed.py), and its nodes carry the true feature
activations (planted c_i for animals, f'_j . a for attributes). Summing every feature times its
direction gives about 2 a(x), which `reconstruction` reports.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.linalg

from basisgraph.config import Config, ConfigError
from basisgraph.core.completion import SparseCodes, sparse_codes
from basisgraph.core.mixed import _top, mixed_recipe, mixed_scores  # noqa: F401  (re-exported here)
from basisgraph.core.model import Data, PlantedModel

__all__ = [
    "Block",
    "NodeSet",
    "build_node_sets",
    "basis_ids",
    "mixed_recipe",
    "mixed_scores",
    "min_norm_map",
    "residual",
    "reconstruction",
    "true_activations",
]

RESIDUAL_TOL = 1e-10  # a residual row smaller than this (relative to |a|) counts as zero


@dataclass(frozen=True)
class Block:
    """A contiguous range of atoms with one encoder."""

    start: int  # index of the first atom in the node set
    atoms: np.ndarray  # (size, d_model) decoder directions
    scale: float  # coefficient scale (alpha or 1 - alpha in the union)
    planted: bool  # True: animal coefficients plus a min-norm correction; False: coordinates
    q: np.ndarray  # (d_model, size) maps z(x) to coefficients (planted: z in feature coords)
    # Learned (nonlinear) encoder, e.g. an SAE: (data, rows (n,)) -> coefficients (n, size).
    # When set it replaces planted/q: coef = scale * encoder(data, rows).
    encoder: Callable[[Data, np.ndarray], np.ndarray] | None = None
    # Planted blocks: how the residual z is completed (Config.residual). minnorm uses q;
    # sparse uses `codes`; error leaves z to the error node (q and codes unused).
    residual: str = "minnorm"
    codes: SparseCodes | None = None

    @property
    def dense_completion(self) -> bool:
        """Whether a residual row's coefficients fill every atom (the minimum-norm completion)."""
        return self.planted and self.residual == "minnorm"

    @property
    def size(self) -> int:
        """Number of atoms in the block."""
        return self.atoms.shape[0]


@dataclass(frozen=True)
class NodeSet:
    """A named node set: a dictionary of blocks, or the per-circuit mixed view."""

    id: str  # "neuron", "animal", "attribute", "half", "union:<alpha>", "mixed"
    label: str  # short human name
    description: str  # one sentence on what the nodes are
    is_dictionary: bool  # False only for the mixed view
    blocks: tuple[Block, ...]  # empty for mixed
    node_ids: tuple[str, ...]  # one per atom
    node_labels: tuple[str, ...]
    node_kinds: tuple[str, ...]  # "neuron", "animal", "attribute" or "dim"

    @property
    def size(self) -> int:
        """Number of nodes (atoms) in the set."""
        return len(self.node_ids)

    @cached_property
    def _lookup(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.node_ids)}

    def index(self, node_id: str) -> int | None:
        """Position of a node id, or None."""
        return self._lookup.get(node_id)


def basis_ids(cfg: Config) -> list[str]:
    """Node-set ids of a configuration, in display order."""
    ids = ["neuron", "animal", "attribute", "half"]
    if cfg.alpha != 0.5:
        ids.append(f"union:{cfg.alpha:g}")
    return ids + ["mixed"]


def _axis_nodes(model: PlantedModel) -> tuple[list[str], list[str], list[str]]:
    ids = [("attribute:" if j < model.config.attributes else "dim:") + n
           for j, n in enumerate(model.axis_names)]
    kinds = ["attribute" if j < model.config.attributes else "dim" for j in range(len(ids))]
    return ids, list(model.axis_names), kinds


def build_node_sets(model: PlantedModel) -> dict[str, NodeSet]:
    """Every node set of the model's configuration, keyed by id."""
    cfg = model.config
    d = cfg.d_model
    F = model.animal_dirs  # (animals, d_model)
    codes = sparse_codes(model.animal_feat) if cfg.residual == "sparse" else None
    if cfg.residual == "minnorm":
        # Min-norm coefficients of a residual given in feature coordinates (sparse there).
        pinv_f, qf = _min_norm(model.animal_feat)  # (d_model, animals), (d_model, d_model) | None
        if qf is not None:  # pinv(F) F came with the Gram route: seed q @ atoms with it
            _seed_q_atoms(pinv_f, F, qf @ model.rotation)
    else:
        pinv_f = np.zeros((d, 0))  # unused: no minimum-norm map
    axes = model.axis_dirs  # (d_model, d_model) orthonormal rows
    a_ids = [f"animal:{n}" for n in model.animal_names]
    a_lab, a_kind = list(model.animal_names), ["animal"] * cfg.animals
    x_ids, x_lab, x_kind = _axis_nodes(model)
    n_ids = [f"neuron:{j}" for j in range(d)]

    def animal_block(start: int, scale: float) -> Block:
        return Block(start, F, scale, True, pinv_f, residual=cfg.residual, codes=codes)

    def axis_block(start: int, scale: float) -> Block:
        return Block(start, axes, scale, False, axes.T)

    out = {
        "neuron": NodeSet("neuron", "neuron basis",
                          "the standard basis of the activation space: one node per neuron",
                          True, (Block(0, np.eye(d), 1.0, False, np.eye(d)),),
                          tuple(n_ids), tuple(n_ids), ("neuron",) * d),
        "animal": NodeSet("animal", "animal dictionary", ANIMAL_DESCRIPTION[cfg.residual],
                          True, (animal_block(0, 1.0),), tuple(a_ids), tuple(a_lab), tuple(a_kind)),
        "attribute": NodeSet("attribute", "attribute basis",
                             "one node per attribute direction (plus any random dims)",
                             True, (axis_block(0, 1.0),), tuple(x_ids), tuple(x_lab), tuple(x_kind)),
    }
    for alpha in [0.5] + ([cfg.alpha] if cfg.alpha != 0.5 else []):
        ns = union_node_set(out, alpha)
        out[ns.id] = ns
    m_ids = a_ids + x_ids[: cfg.attributes]
    out["mixed"] = NodeSet(
        "mixed", "mixed (per circuit)",
        "each circuit read in the true features it uses, with their true activations; "
        "not a dictionary",
        False, (), tuple(m_ids), tuple(a_lab + x_lab[: cfg.attributes]),
        tuple(a_kind + x_kind[: cfg.attributes]))
    return out


ANIMAL_DESCRIPTION = {  # the animal dictionary's one sentence, per residual policy
    "minnorm": "one node per animal; overlays are completed by a minimum-norm correction spread "
               "over all animals",
    "sparse": "one node per animal; an overlay is completed by the fewest animals that rebuild "
              "it exactly (orthogonal matching pursuit)",
    "error": "one node per animal; what animals cannot carry (an overlay) is left in the "
             "error node",
}
GRAM_WORK = 10**9  # animals * d_model^2 from which pinv goes through the d x d Gram matrix


def min_norm_map(feat: np.ndarray) -> np.ndarray:
    """pinv(feat): the map from a residual to its minimum-norm animal coefficients.

    (animals, d) -> (d, animals). Small problems take numpy's SVD pinv. Large ones with far
    more animals than dimensions (full column rank, condition number near 1) solve the same
    normal equations through the Cholesky factor of the d x d Gram matrix: pinv(F) =
    (F^T F)^-1 F^T, exact in exact arithmetic, on a d x d system instead of an SVD of N x d.
    """
    return _min_norm(feat)[0]


def _min_norm(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """min_norm_map, plus pinv(F) F when the Gram route gives it for free (else None)."""
    n, d = feat.shape
    if n * d * d >= GRAM_WORK and n >= 4 * d:
        gram = feat.T @ feat  # (d, d)
        try:
            chol = scipy.linalg.cho_factor(gram, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return np.linalg.pinv(feat), None
        inv = scipy.linalg.cho_solve(chol, np.eye(d), check_finite=False)  # (d, d)
        return np.ascontiguousarray(inv @ feat.T), inv @ gram  # (d, animals), (d, d)
    return np.linalg.pinv(feat), None


def union_node_set(sets: dict[str, NodeSet], alpha: float) -> NodeSet:
    """The union of the animal and attribute dictionaries with coefficients alpha·c, (1-alpha)·c'."""
    animal, attr = sets["animal"], sets["attribute"]
    sid = "half" if alpha == 0.5 else f"union:{alpha:g}"
    return NodeSet(
        sid, "half-size union" if alpha == 0.5 else f"union, alpha = {alpha:g}",
        f"animals and attributes together, with coefficients {alpha:g}·c and "
        f"{1 - alpha:g}·c' so that the sum still reconstructs the activations",
        True, (replace(animal.blocks[0], scale=alpha),
               replace(attr.blocks[0], start=animal.size, scale=1 - alpha)),
        animal.node_ids + attr.node_ids, animal.node_labels + attr.node_labels,
        animal.node_kinds + attr.node_kinds)


def get_node_set(sets: dict[str, NodeSet], basis: str) -> NodeSet:
    """Look up a node set or raise ConfigError naming the field `basis`."""
    if basis not in sets:
        raise ConfigError("basis", basis, "one of " + ", ".join(sets))
    return sets[basis]


__all__ += ["get_node_set", "union_node_set"]


def residual(model: PlantedModel, data: Data) -> np.ndarray:
    """What the planted animal coefficients leave unexplained: a - c F.  (samples, d_model)"""
    planted = np.einsum("sk,skd->sd", data.animal_mag, model.animal_dirs[data.animal_idx])
    res = data.acts - planted
    small = np.linalg.norm(res, axis=1) <= RESIDUAL_TOL * (np.linalg.norm(data.acts, axis=1) + 1e-30)
    res[small] = 0.0
    return res


_QA: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, np.ndarray]] = {}


def _q_atoms(q: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """q @ atoms, once per pair (the animal block of every union shares it).  -> (d, d)"""
    key = (id(q), id(atoms))
    hit = _QA.get(key)
    if hit is None or hit[0]() is not q or hit[1]() is not atoms:
        for k in [k for k, v in _QA.items() if v[0]() is None or v[1]() is None]:
            del _QA[k]
        hit = (weakref.ref(q), weakref.ref(atoms), q @ atoms)
        _QA[key] = hit
    return hit[2]


def _seed_q_atoms(q: np.ndarray, atoms: np.ndarray, value: np.ndarray) -> None:
    """Record q @ atoms when it is known without the product (d x animals x d flops)."""
    for k in [k for k, v in _QA.items() if v[0]() is None or v[1]() is None]:
        del _QA[k]
    _QA[(id(q), id(atoms))] = (weakref.ref(q), weakref.ref(atoms), value)


def true_activations(model: PlantedModel, data: Data) -> np.ndarray:
    """Every true feature's activation: planted c_i, then f'_j . a.  (samples, animals + attributes)

    Dense, so only call it on small batches (a circuit's active inputs of a small model).
    """
    n = len(data.acts)
    out = np.zeros((n, model.config.animals + model.config.attributes))
    np.add.at(out, (np.arange(n)[:, None], data.animal_idx), data.animal_mag)
    out[:, model.config.animals:] = data.acts @ model.attr_dirs.T
    return out


def reconstruction(model: PlantedModel, ns: NodeSet, data: Data) -> np.ndarray:
    """Reconstruction g(x) D of every input.  (samples, d_model)"""
    if not ns.is_dictionary:
        planted = np.einsum("sk,skd->sd", data.animal_mag, model.animal_dirs[data.animal_idx])
        attr = model.attr_dirs  # (attributes, d_model)
        return planted + (data.acts @ attr.T) @ attr
    res = residual(model, data)
    out = np.zeros_like(data.acts)
    for b in ns.blocks:
        if b.encoder is not None:
            out += b.scale * (b.encoder(data, np.arange(len(data.acts))) @ b.atoms)
        elif b.planted:
            planted = np.einsum("sk,skd->sd", data.animal_mag, b.atoms[data.animal_idx])
            if b.residual == "minnorm":
                planted = planted + (res @ model.axis_dirs.T) @ _q_atoms(b.q, b.atoms)
            elif b.residual == "sparse":  # code_j F in the neuron basis for every axis j
                planted = planted + (res @ model.axis_dirs.T) @ (b.codes.rebuilt @ model.rotation)
            out += b.scale * planted
        else:
            out += b.scale * ((data.acts @ b.q) @ b.atoms)
    return out
