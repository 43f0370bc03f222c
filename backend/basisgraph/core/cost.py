"""A cost model: the time and memory one configuration's study and table will take, predicted
from its sizes before any work, so the web layer can refuse what would not fit.

Steps:
1. Count the work in three terms. Edge work: samples x (animals + d_model) x circuits, the edges a
   table sorts and sums. Dense work: (animals + samples + calibration inputs) x d_model^2, the
   decompositions and projections of the build. Pursuit work (residual = sparse): candidates x
   d_model^3, the matching pursuit that finds the sparse completion (core/completion.py).
2. Turn them into seconds with throughputs measured on this project's 2-core machine (see
   `basisgraph bench` and README: the defaults take about 0.3 s).
3. Count the bytes of the arrays a study holds (directions, encoders, activations, dense
   overlay rows), times a headroom factor for temporaries, plus the interpreter's base.
4. `admit` compares both with a budget. Over budget, it names the size field that is furthest
   over and the largest value of that field that fits with every other value kept.

The model is deliberately pessimistic (it over-predicts large N about fourfold, because most
circuits fire on few inputs); tests/test_cost.py checks it never under-predicts the measured
peak memory of a few configurations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from basisgraph.config import Config, ConfigError, describe_range
from basisgraph.core.completion import BASIS_BYTES, POOL, POOL_WORK

__all__ = ["Cost", "Budget", "Count", "predict", "admit", "admit_count", "SIZE_FIELDS"]

EDGE_RATE = 4e8  # edge entries per second (sorting, summing) on the reference machine
DENSE_RATE = 8e8  # multiply-adds per second of the build's dense linear algebra (SVDs included)
OMP_RATE = 4e9  # multiply-adds per second of the pursuit's products (one BLAS thread; 5e9 measured)
CALIBRATION = 8000  # inputs drawn to calibrate the animal readers' biases (model.py)
BASE_BYTES = 110 << 20  # interpreter, numpy, the package and the allocator's kept temporaries
SIZE_FIELDS = ("animals", "attributes", "random_dims", "samples", "circuits", "active")


@dataclass(frozen=True)
class Cost:
    """Predicted cost of building one study and counting its table."""

    seconds: float  # on the reference machine, one thread of work
    bytes: int  # peak resident memory of the computation


@dataclass(frozen=True)
class Budget:
    """What an interactive request may cost."""

    seconds: float = 3.0  # predicted compute time on a quiet machine; a loaded one is 2-4x slower
    bytes: int = 1 << 30  # predicted peak memory


def _circuits(cfg: Config) -> int:
    # Circuits per family are capped by the animals and attributes available (model.py).
    return min(cfg.circuits, cfg.animals) * 2 + min(cfg.circuits, cfg.attributes)


def predict(cfg: Config, repeats: float = 1) -> Cost:
    """The cost of `cfg`'s study and table, `repeats` times (e.g. one per seed)."""
    n, d, s = cfg.animals, cfg.d_model, cfg.samples
    overlay_rows = s * min(1.0, cfg.overlay + 0.05)  # inputs whose coefficients are dense
    edge_work = s * (n + d) * _circuits(cfg) * max(1, cfg.active) ** 0.5
    dense_work = (n + s + CALIBRATION) * d * d
    # The sparse completion's pursuit: d steps of (candidates x d) products for all d axes.
    pool = n if n * d * d <= POOL_WORK else min(n, POOL * d)
    omp_work = pool * d ** 3 if cfg.residual == "sparse" else 0
    seconds = edge_work / EDGE_RATE + dense_work / DENSE_RATE + omp_work / OMP_RATE
    floats = 5 * n * d + 4 * overlay_rows * n + 8 * s * d + (n + d) * d  # dense overlay rows: cached twice
    if cfg.residual == "sparse":  # the pursuit's bases (bounded) and its scores
        floats += min(BASIS_BYTES // 8, d ** 3) + 2 * d * pool
    return Cost(round(seconds * repeats, 3), int(BASE_BYTES + 8 * floats))


def _fits(cfg: Config, budget: Budget, repeats: float) -> bool:
    cost = predict(cfg, repeats)
    return cost.seconds <= budget.seconds and cost.bytes <= budget.bytes


def _largest(cfg: Config, field: str, budget: Budget, repeats: float) -> int | None:
    """The largest value of `field` that fits the budget with every other field kept, or None."""
    lo = int(Config.model_fields[field].metadata[0].ge)
    hi = getattr(cfg, field)

    def ok(v: int) -> bool:
        try:
            trial = cfg.model_copy(update={field: v})
        except ValueError:
            return False
        return _fits(trial, budget, repeats)

    if not ok(lo):
        return None
    while lo < hi - 1:  # invariant: ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def admit(cfg: Config, budget: Budget = Budget(), repeats: float = 1) -> Cost:
    """The predicted cost when it fits `budget`; else ConfigError naming the field to lower.

    The field named is the size field raised furthest above its preset's value (the one that
    made the request big), with the largest value of it that fits; when no raised field can be
    lowered enough, it is the field whose fitting value is closest to the one asked for."""
    cost = predict(cfg, repeats)
    if cost.seconds <= budget.seconds and cost.bytes <= budget.bytes:
        return cost
    base = Config(preset=cfg.preset)
    options: list[tuple[float, float, str, int]] = []  # (raised ratio, kept ratio, field, largest)
    for field in SIZE_FIELDS:
        value = getattr(cfg, field)
        largest = _largest(cfg, field, budget, repeats)
        if largest is None or largest >= value:
            continue
        raised = value / max(getattr(base, field), 1)
        options.append((raised if raised > 1 else 0.0, largest / value, field, largest))
    why = (f"(predicted {cost.seconds:.1f} s and {cost.bytes / 2**30:.2f} GB; a request may take "
           f"{budget.seconds:g} s and {budget.bytes / 2**30:.2f} GB)")
    if not options:
        raise ConfigError("animals", cfg.animals, f"a smaller configuration {why}")
    _, _, field, largest = max(options)
    lo = describe_range(field).split(" from ")[1].split(" to ")[0]
    raise ConfigError(field, getattr(cfg, field),
                      f"an integer from {lo} to {largest} with the other values as given {why}")


class Count(NamedTuple):
    """A request's work as a count of units on one configuration, for `admit_count`."""

    n: int  # units asked for (seeds, sweep points)
    field: str  # the query field that sets n, named when n is too many
    repeats_of: Callable[[int], float]  # units -> work in tables
    lo: int = 1  # the smallest n the field allows


def admit_count(cfg: Config, budget: Budget, count: int, field: str,
                repeats_of: Callable[[int], float], lo: int = 1) -> Cost:
    """`admit` for `count` units of work on one configuration (seeds, sweep points), where
    `repeats_of(count)` is that work in tables. When the configuration fits at `lo` units but
    not at `count`, the ConfigError names `field` (not a size field) with the largest count that
    fits; when it does not fit even at `lo`, `admit`'s own error stands."""
    try:
        return admit(cfg, budget, repeats_of(count))
    except ConfigError:
        if not _fits(cfg, budget, repeats_of(lo)):
            raise
    best = lo
    while best + 1 < count and _fits(cfg, budget, repeats_of(best + 1)):
        best += 1
    cost = predict(cfg, repeats_of(count))
    raise ConfigError(field, count, f"an integer from {lo} to {best} for this configuration "
                      f"(predicted {cost.seconds:.1f} s; a request may take {budget.seconds:g} s)")
