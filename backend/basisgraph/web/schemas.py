"""Response models of the JSON routes, for the OpenAPI document (and so schemathesis and
client generators know what comes back). Bodies are built by the core and sent as pre-encoded
bytes, so these models describe them; they do not re-validate every response. Each model
names the fields a client relies on and allows the rest (`extra="allow"`), so that adding a
field is never a breaking change of the contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Health", "ConfigSchema", "TableBody", "ModelBody", "GraphBody", "SweepBody", "SamplesSweepBody", "SaeSweepBody",
           "TrainedTableBody", "ErrorBody"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(_Open):
    """Liveness, and how full the caches and the compute queue are."""

    status: str  # "ok"
    compute: dict[str, Any] | None = None  # response cache and computations in flight
    studies: dict[str, int] | None = None  # the built-study cache (entries, bytes, budget)
    disk: dict[str, Any] | None = None  # the on-disk cache of trained models


class ConfigSchema(_Open):
    """Every configuration key with its default, range and meaning, plus the presets."""

    version: int
    fields: list[dict[str, Any]]
    presets: dict[str, dict[str, Any]]


class Cell(_Open):
    """One (node set, family) cell of the table: medians over the family's circuits."""

    basis: str
    family: str
    circuits: int
    local_edges_median: float | None
    global_edges_median: float | None


class TableBody(_Open):
    """The side-by-side edge-count table."""

    version: int
    config: dict[str, Any]
    families: list[str]
    bases: list[dict[str, Any]]
    cells: list[Cell]
    circuits: list[dict[str, Any]]


class ModelBody(_Open):
    """Names, circuits, example inputs, node sets and geometry of one planted model."""

    version: int
    config: dict[str, Any]
    circuits: list[dict[str, Any]]
    examples: list[dict[str, Any]]
    bases: list[dict[str, Any]]


class GraphBody(_Open):
    """One attribution graph: the top nodes, a folded "+N more" node, and the links."""

    version: int
    basis: dict[str, Any]
    circuit: dict[str, Any]
    edge_count: int
    nodes: list[dict[str, Any]]
    links: list[dict[str, Any]]


class SweepBody(_Open):
    """Family medians of the union dictionary's edge counts across alpha."""

    version: int
    alphas: list[float]
    points: list[dict[str, Any]]


class SamplesSweepBody(_Open):
    """Every node set's family medians at each dataset size of the samples grid."""

    version: int
    samples: list[int]
    points: list[dict[str, Any]]


class SaeSweepBody(_Open):
    """Every cached SAE of a configuration: width and sparsity against each family's edge counts."""

    version: int
    points: list[dict[str, Any]]


class SaeCachedBody(_Open):
    """The cached SAEs of a configuration, named as the SAE sweep names them."""

    version: int
    saes: list[dict[str, Any]]


class TrainedTableBody(TableBody):
    """The table on the trained MLP, plus the read-out of its decomposition."""

    readout: dict[str, Any]
    target: str | None = None  # the trained MLP: aligned or superposed (decomposition.mlp.TARGETS)
    ablation: dict[str, Any] | None = None  # edges against single-node ablations, per node set and family


class ErrorBody(_Open):
    """A 422 (items naming the field and what it allows) or a 503/404 with a sentence."""

    detail: list[dict[str, Any]] | str
