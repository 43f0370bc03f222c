"""A study: everything one configuration needs, built once and cached.

Building a study draws the planted model, samples the dataset, makes the example inputs,
builds every node set and decomposes each circuit's read direction for the mixed view. The
cache is keyed by the frozen Config, so the CLI, the API and notebooks share the work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from basisgraph.config import Config, ConfigError
from basisgraph.core.attribution import Encoding, encode, pre_activations
from basisgraph.core.bases import NodeSet, basis_ids, build_node_sets, get_node_set
from basisgraph.core.memo import ByteLRU
from basisgraph.core.mixed import mixed_recipe, mixed_scores
from basisgraph.core.model import Circuit, Data, PlantedModel, build_model, make_examples, sample_data

__all__ = ["Study", "get_study", "build_study", "cache_stats", "clear_cache"]


@dataclass(frozen=True)
class Study:
    """One configuration's model, data, node sets and circuit recipes."""

    config: Config
    model: PlantedModel
    enc: Encoding  # the dataset and its residuals
    pre: np.ndarray  # (samples, circuits) pre-activations on the dataset
    node_sets: dict[str, NodeSet]  # in display order
    recipes: dict[str, tuple[np.ndarray, np.ndarray]]  # circuit id -> mixed (nodes, weights)
    examples: dict[str, tuple[str, Encoding]]  # example id -> (label, encoding of one input)
    # circuit id -> {"exact_fits": supports of the recipe's size that fit exactly, "tied": how
    # many of them share the least total |weight|}; more than one means the geometry alone
    # does not say which features a circuit uses.
    recipe_fits: dict[str, dict] = field(default_factory=dict)

    @property
    def data(self) -> Data:
        """The dataset."""
        return self.enc.data

    def circuit(self, cid: str) -> tuple[int, Circuit]:
        """(position, circuit) by id, or ConfigError naming the field `circuit`."""
        for k, c in enumerate(self.model.circuits):
            if c.id == cid:
                return k, c
        shown = ", ".join(c.id for c in self.model.circuits[:6])
        raise ConfigError("circuit", cid, f"a circuit id of this model, e.g. {shown}")

    def node_set(self, basis: str) -> NodeSet:
        """A node set by id, or ConfigError naming the field `basis`."""
        return get_node_set(self.node_sets, basis)

    def example(self, eid: str) -> tuple[str, Encoding]:
        """(label, encoding) of an example input, or ConfigError naming the field `input`."""
        if eid not in self.examples:
            raise ConfigError("input", eid, "dataset or one of " + ", ".join(self.examples))
        return self.examples[eid]


def build_study(cfg: Config) -> Study:
    """Build a study without the cache."""
    model = build_model(cfg)
    data = sample_data(model)
    sets = build_node_sets(model)
    ordered = {b: sets[b] for b in basis_ids(cfg)}
    pre = pre_activations(model, data.acts)  # (samples, circuits)
    firsts = mixed_scores(model, np.stack([c.read for c in model.circuits]))
    fits = {c.id: {} for c in model.circuits}
    recipes = {c.id: mixed_recipe(model, c.read,
                                  partial(_presence, cfg, data, pre[:, k] > 0) if cfg.legacy else None,
                                  first=firsts[k], report=fits[c.id])
               for k, c in enumerate(model.circuits)}
    examples = {eid: (label, encode(model, d)) for eid, label, d in make_examples(model)}
    return Study(cfg, model, encode(model, data), pre, ordered, recipes, examples, fits)


def _presence(cfg: Config, data: Data, on: np.ndarray, node: int) -> float:
    """Fraction of a circuit's active inputs on which a mixed node's feature is present."""
    if not on.any():
        return 0.0
    if node >= cfg.animals:  # attributes are dense: always present
        return 1.0
    return float(np.mean(np.any(data.animal_idx[on] == node, axis=1)))


def get_study(cfg: Config) -> Study:
    """Build (or reuse) the study of a configuration.

    The counting rule (coverage) does not change the model, data or node sets, so studies that
    differ only in coverage share one build; moving the coverage slider never rebuilds.
    """
    shared = _cached_study(cfg.model_copy(update={"coverage": 0.9}))
    return shared if shared.config == cfg else replace(shared, config=cfg)


# Built studies, bounded in bytes (not entries): one study of the largest allowed size holds
# over a GB, so a count of entries says nothing about memory. BASISGRAPH_STUDY_BYTES sets it.
_STUDIES: ByteLRU[Study] = ByteLRU(int(os.environ.get("BASISGRAPH_STUDY_BYTES", 1 << 30)))


def _cached_study(cfg: Config) -> Study:
    study = _STUDIES.get(cfg)
    if study is None:
        study = build_study(cfg)
        _STUDIES.put(cfg, study)
    return study


def cache_stats() -> dict[str, int]:
    """Entries, bytes and budget of the study cache."""
    return _STUDIES.stats()


def clear_cache() -> None:
    """Forget every built study (benchmarks time cold builds with this)."""
    _STUDIES.clear()
