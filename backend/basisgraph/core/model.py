"""The planted model: features, data and the circuits that read them.

Steps of `build_model`:
1. Attribute directions are the first `attributes` axes of a feature space of width
   d_model = attributes + random_dims; the remaining axes are the random dims.
2. Each animal is drawn by the config's `attribute_law` and normalised to unit length:
   gaussian: a Gaussian weight on every attribute (and on every random dim), with signs fixed
   for a few named pairs; binary: `attributes_on` attributes switched on with weights uniform in
   [BINARY_LOW, BINARY_HIGH] (a named animal's positive attributes first, its negative ones
   never), every other attribute off, and Gaussian weights on the random dims.
3. A seeded random rotation maps the feature space into the neuron basis, so the standard
   basis is a genuine baseline rather than the attribute basis in disguise.
4. Circuits are ReLU readers y = ReLU(r . a - b) in three families: one animal, one attribute,
   or animal + w * attribute. Biases sit above the interference each reader sees; an animal
   reader's bias is calibrated on a separate sample (see _calibrate_animal_biases).

`sample_data` draws the dataset: k animals per input from a Zipf-like frequency law (so named
animals are common), magnitudes in [MAG_LOW, MAG_HIGH], and one boolean attribute overlay on a
fraction `overlay` of the inputs, preferring the attribute a composite circuit pairs with the
animal (`overlay_sampling`: stratified, or the version-1 top-up draw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from basisgraph.config import Config
from basisgraph.core.binary import BINARY_HIGH, BINARY_LOW, binary_weights
from basisgraph.core.names import (
    ATTRIBUTE_NAMES,
    COMPOSITE_PAIRS,
    SIGNS,
    animal_fact,
    animal_name,
    attribute_name,
    attribute_rule,
)

__all__ = [
    "Circuit",
    "PlantedModel",
    "Data",
    "build_model",
    "sample_data",
    "make_examples",
    "MAG_LOW",
    "MAG_HIGH",
    "OVERLAY_STRENGTH",
    "typical_max_cosine",
    "BINARY_LOW",
    "BINARY_HIGH",
]

MAG_LOW, MAG_HIGH = 0.8, 1.2  # range of an active animal's coefficient
OVERLAY_STRENGTH = 1.0  # a boolean overlay adds this much of one attribute direction
ZIPF_EXPONENT = 1.0  # animal i is drawn with probability proportional to 1 / (i + 1)
BATCH_COSINES = 5_000_000  # animals x d_model from which the readers' cosines are batched
# An attribute reader's bias under the binary law: just above float round-off (an input without
# the attribute reads it as about 1e-16, not 0); the gaussian law's readers keep a bias of 0.
BINARY_ATTRIBUTE_BIAS = 1e-9


@dataclass(frozen=True)
class Circuit:
    """One downstream reader y = ReLU(read . a - bias)."""

    id: str  # stable id, e.g. "animal:elephant"
    family: str  # "animal", "attribute" or "composite"
    label: str  # human label, e.g. "elephants fear mice"
    read: np.ndarray  # (d_model,) read direction in the neuron basis
    bias: float  # threshold that suppresses interference
    reads: tuple[tuple[str, float], ...]  # planted recipe over true features (for checking only)
    own: str | None  # node id of the feature this circuit is about, if it has exactly one


@dataclass(frozen=True)
class PlantedModel:
    """Feature geometry and circuits of one configuration (all in the neuron basis)."""

    config: Config
    rotation: np.ndarray  # (d_model, d_model) feature coords -> neuron coords, orthogonal
    animal_dirs: np.ndarray  # (animals, d_model) unit-norm animal directions f_i
    animal_feat: np.ndarray  # (animals, d_model) the same directions in feature coordinates
    axis_dirs: np.ndarray  # (d_model, d_model) attribute directions f'_j, then random-dim axes
    circuits: tuple[Circuit, ...]
    animal_names: tuple[str, ...]
    axis_names: tuple[str, ...]  # attribute names, then "dim-<j>" for random dims
    pair_attr: np.ndarray  # (animals,) attribute a composite circuit pairs with, or -1

    @property
    def attr_dirs(self) -> np.ndarray:
        """(attributes, d_model) the true attribute directions."""
        return self.axis_dirs[: self.config.attributes]

    def circuit(self, cid: str) -> Circuit:
        """Look up a circuit by id (KeyError if absent)."""
        for c in self.circuits:
            if c.id == cid:
                return c
        raise KeyError(cid)


@dataclass(frozen=True)
class Data:
    """A batch of inputs, kept with the planted recipe that made each activation."""

    acts: np.ndarray  # (samples, d_model) activations a(x) in the neuron basis
    animal_idx: np.ndarray  # (samples, k) active animals
    animal_mag: np.ndarray  # (samples, k) their coefficients c_i(x)
    overlay_attr: np.ndarray  # (samples,) overlaid attribute, -1 for none
    overlay_mag: np.ndarray  # (samples,) overlay strength (0 where none)


def _rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random rotation that is not close to a signed permutation.

    In two or three dimensions a uniform draw can land next to the identity, and then the
    neuron basis would quietly be the attribute basis; such draws are redrawn.
    """
    for _ in range(50):
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        q = q * np.sign(np.diag(r))  # sign fix makes the draw unique  # (n, n)
        if n == 1 or np.abs(q).max() <= 0.9:
            break
    return q


def _animal_row(rng: np.random.Generator, cfg: Config, name: str) -> np.ndarray:
    w = rng.standard_normal(cfg.d_model)  # (d_model,) feature coordinates
    for attr, sign in SIGNS.get(name, {}).items():
        j = ATTRIBUTE_NAMES.index(attr)
        if j < cfg.attributes:
            w[j] = sign * max(abs(w[j]), 0.5)
    return w / np.linalg.norm(w)


def typical_max_cosine(cfg: Config) -> float:
    """About the largest cosine between one random unit animal and N others in d_model dims."""
    return float(np.sqrt(2 * np.log(max(cfg.animals, 2)) / cfg.d_model))


def _animal_weights(rng: np.random.Generator, cfg: Config, names: list[str]) -> np.ndarray:
    """Unit animal directions; the ones circuits read are redrawn until well separated.

    A reader's bias sits above typical interference, so an animal that happens to lie unusually
    close to another (cosine above the typical maximum) is redrawn, up to 20 times.
    """
    if cfg.attribute_law == "binary":
        return binary_weights(rng, cfg, names, typical_max_cosine(cfg))
    w = rng.standard_normal((cfg.animals, cfg.d_model))  # (animals, d_model) feature coords
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    for i, name in enumerate(names[: len(SIGNS)]):
        if name in SIGNS:
            w[i] = _animal_row(rng, cfg, name)
    limit = typical_max_cosine(cfg)
    m = min(cfg.circuits, cfg.animals)
    # A large table reads w once for every reader's first check (one matrix product).
    first = w @ w[:m].T if w.size >= BATCH_COSINES else None  # (animals, m)
    redrawn: list[int] = []
    for i in range(m):
        for attempt in range(20):
            if first is not None and attempt == 0:
                cos = first[:, i].copy()  # (animals,)
                for j in redrawn:  # rows redrawn since the product
                    cos[j] = w[j] @ w[i]
            else:
                cos = w @ w[i]  # (animals,)
            cos[i] = 0.0
            if np.abs(cos).max() <= limit:
                break
            w[i] = _animal_row(rng, cfg, names[i])
            redrawn.append(i)
    return w


def build_model(cfg: Config) -> PlantedModel:
    """Draw the planted model of `cfg` (deterministic in cfg.seed)."""
    rng = np.random.default_rng([cfg.seed, 1])
    names = [animal_name(i) for i in range(cfg.animals)]
    axis_names = [attribute_name(j) for j in range(cfg.attributes)]
    axis_names += [f"dim-{j}" for j in range(cfg.random_dims)]
    feat = _animal_weights(rng, cfg, names)  # (animals, d_model)
    rot = _rotation(rng, cfg.d_model)  # (d_model, d_model)
    animal_dirs = feat @ rot  # (animals, d_model)
    axis_dirs = rot.copy()  # rows are the rotated feature axes
    attrs = axis_dirs[: cfg.attributes]

    circuits: list[Circuit] = []
    animal_bias = _animal_bias(cfg)
    for i in range(min(cfg.circuits, cfg.animals)):
        circuits.append(Circuit(
            f"animal:{names[i]}", "animal", animal_fact(names[i]), animal_dirs[i].copy(),
            animal_bias, ((f"animal:{names[i]}", 1.0),), f"animal:{names[i]}"))
    # Binary animals lack most attributes exactly, so a zero bias would fire on round-off.
    attr_bias = BINARY_ATTRIBUTE_BIAS if cfg.attribute_law == "binary" else 0.0
    for j in range(min(cfg.circuits, cfg.attributes)):
        circuits.append(Circuit(
            f"attribute:{axis_names[j]}", "attribute", attribute_rule(axis_names[j]),
            attrs[j].copy(), attr_bias, ((f"attribute:{axis_names[j]}", 1.0),),
            f"attribute:{axis_names[j]}"))
    pair_attr = np.full(cfg.animals, -1)
    for i, j in _composite_pairs(cfg, names, axis_names, feat):
        w = cfg.composite_weight
        read = animal_dirs[i] + w * attrs[j]
        # Sit just above the strongest plain animal i, so only the overlaid version fires.
        # With k > 1 a second animal's interference can also lift it; raise the bar a little.
        bias = MAG_HIGH * float(read @ animal_dirs[i]) + 1e-3 + 0.1 * (cfg.active - 1)
        circuits.append(Circuit(
            f"composite:{names[i]}+{axis_names[j]}", "composite",
            f"{axis_names[j]} {names[i]} → special case", read, bias,
            ((f"animal:{names[i]}", 1.0), (f"attribute:{axis_names[j]}", w)), None))
        pair_attr[i] = j
    model = PlantedModel(cfg, rot, animal_dirs, feat, axis_dirs, tuple(circuits), tuple(names),
                         tuple(axis_names), pair_attr)
    return _calibrate_animal_biases(model)


def _calibrate_animal_biases(model: PlantedModel) -> PlantedModel:
    """Set each animal reader's bias just above what other inputs make it read.

    Another animal's interference plus an overlay's projection onto the read direction can
    exceed any fixed threshold, so each reader is tuned the way training would tune it: on a
    separate calibration sample (never the dataset), the bias sits just above the largest
    response to an input without that animal, but never so high that a plain input of the
    animal at the weakest magnitude would stay silent. Animals absent from the sample keep
    the geometric default.
    """
    cfg = model.config
    calib = sample_data(model, samples=min(8000, 16_000_000 // cfg.d_model), seed_offset=3)
    out = []
    for c in model.circuits:
        if c.family == "animal":
            i = model.animal_names.index(c.id.split(":", 1)[1])
            has = np.any(calib.animal_idx == i, axis=1)
            resp = calib.acts[~has] @ c.read  # (negatives,)
            if has.any() and len(resp):
                bias = float(np.clip(resp.max() + 0.1, 0.5 * MAG_LOW, 0.95 * MAG_LOW))
                c = replace(c, bias=bias)
        out.append(c)
    return replace(model, circuits=tuple(out))


def _animal_bias(cfg: Config) -> float:
    """Threshold above the typical largest interference between random unit animals.

    The largest of N cosines between random unit vectors in d_model dims is about
    sqrt(2 ln N / d_model); scaled by the strongest magnitude and kept inside
    [0.5, 0.875] x MAG_LOW, so a present animal always clears it.
    """
    worst = MAG_HIGH * typical_max_cosine(cfg)
    return float(np.clip(worst, 0.5 * MAG_LOW, 0.875 * MAG_LOW))


def _composite_pairs(cfg: Config, names: list[str], attrs: list[str],
                     feat: np.ndarray) -> list[tuple[int, int]]:
    """Named (animal, attribute) pairs first, then each animal with its strongest attribute.

    A pair is kept only when the animal leans positively on the attribute, so "a particularly
    cute bunny" always means more of something bunnies already have.
    """
    a_idx = {n: i for i, n in enumerate(names)}
    t_idx = {n: j for j, n in enumerate(attrs[: cfg.attributes])}
    pairs = [(a_idx[a], t_idx[t]) for a, t in COMPOSITE_PAIRS if a in a_idx and t in t_idx]
    used = {i for i, _ in pairs}
    for i in range(cfg.animals):
        if len(pairs) >= min(cfg.circuits, cfg.animals):
            break
        j = int(np.argmax(feat[i, : cfg.attributes]))
        if i not in used and feat[i, j] > 0:
            pairs.append((i, j))
            used.add(i)
    return pairs[: min(cfg.circuits, cfg.animals)]


def _activations(model: PlantedModel, idx: np.ndarray, mag: np.ndarray, ov: np.ndarray,
                 ov_mag: np.ndarray) -> np.ndarray:
    acts = np.einsum("sk,skd->sd", mag, model.animal_dirs[idx])  # (samples, d_model)
    has = ov >= 0
    acts[has] += ov_mag[has, None] * model.axis_dirs[ov[has]]
    return acts


def sample_data(model: PlantedModel, samples: int | None = None, seed_offset: int = 2) -> Data:
    """Draw the dataset of `model.config` (deterministic in the seed)."""
    cfg = model.config
    n = cfg.samples if samples is None else samples
    rng = np.random.default_rng([cfg.seed, seed_offset])
    p = 1.0 / np.arange(1, cfg.animals + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(p / p.sum())
    idx = np.minimum(np.searchsorted(cdf, rng.random((n, cfg.active))), cfg.animals - 1)
    for s in range(n):  # redraw repeated animals within one input (rare for k << N)
        while len(set(idx[s].tolist())) < cfg.active:
            idx[s] = np.minimum(np.searchsorted(cdf, rng.random(cfg.active)), cfg.animals - 1)
    mag = rng.uniform(MAG_LOW, MAG_HIGH, size=(n, cfg.active))
    if cfg.overlay_sampling == "stratified":
        ov = _stratified_overlays(model, idx, rng)
        ov_mag = np.where(ov >= 0, OVERLAY_STRENGTH, 0.0)
        return Data(_activations(model, idx, mag, ov, ov_mag), idx, mag, ov, ov_mag)
    has = rng.random(n) < cfg.overlay
    random_attr = rng.integers(0, cfg.attributes, size=n)
    # An input gets the overlay its first paired animal prefers ("cute" on a bunny).
    pairs = model.pair_attr[idx]  # (n, k)
    first = np.argmax(pairs >= 0, axis=1)
    paired = pairs[np.arange(n), first]
    ov = np.where(paired >= 0, paired, random_attr)
    ov = np.where(has, ov, -1)
    if cfg.overlay > 0:
        _ensure_pairs(model, idx, ov)
    ov_mag = np.where(ov >= 0, OVERLAY_STRENGTH, 0.0)
    return Data(_activations(model, idx, mag, ov, ov_mag), idx, mag, ov, ov_mag)


def _preferred_attr(model: PlantedModel, idx: np.ndarray, random_attr: np.ndarray) -> np.ndarray:
    """The overlay each input prefers: its first paired animal's attribute, else a random one.

    idx (n, k), random_attr (n,) -> (n,)
    """
    pairs = model.pair_attr[idx]  # (n, k)
    paired = pairs[np.arange(len(idx)), np.argmax(pairs >= 0, axis=1)]
    return np.where(paired >= 0, paired, random_attr)


def _stratified_overlays(model: PlantedModel, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Overlaid attribute per input (-1 for none), with exactly round(overlay x n) overlays.

    Steps: (1) each composite pair (animal i, attribute j) wants max(3, overlay x the inputs
    holding i) overlaid inputs, capped by that count; (2) the pairs take their wanted inputs
    from the overlay budget in turns, one input per pair per turn, each from a seeded shuffle
    of the inputs holding its animal, so a budget too small for every minimum is shared evenly;
    (3) what is left of the budget goes to inputs drawn uniformly from the rest, each with the
    overlay it prefers (_preferred_attr). The realised rate is the setting, to 0.5 / n.
    idx (n, k) -> (n,)
    """
    cfg = model.config
    n = len(idx)
    ov = np.full(n, -1)
    left = round(cfg.overlay * n)
    pairs = np.flatnonzero(model.pair_attr >= 0)
    rows = [rng.permutation(np.flatnonzero(np.any(idx == i, axis=1))) for i in pairs]
    want = [min(len(r), max(3, round(cfg.overlay * len(r)))) for r in rows]
    taken, pos = [0] * len(pairs), [0] * len(pairs)
    moved = True
    while left > 0 and moved:
        moved = False
        for p, i in enumerate(pairs):
            r = rows[p]
            while pos[p] < len(r) and ov[r[pos[p]]] >= 0:  # taken by another pair
                pos[p] += 1
            if left > 0 and taken[p] < want[p] and pos[p] < len(r):
                ov[r[pos[p]]] = model.pair_attr[i]
                taken[p], pos[p], left, moved = taken[p] + 1, pos[p] + 1, left - 1, True
    free = np.flatnonzero(ov < 0)  # (m,)
    pick = np.sort(rng.choice(free, size=min(left, len(free)), replace=False))
    random_attr = rng.integers(0, cfg.attributes, size=len(pick))
    ov[pick] = _preferred_attr(model, idx[pick], random_attr)
    return ov


def _ensure_pairs(model: PlantedModel, idx: np.ndarray, ov: np.ndarray) -> None:
    """Give every composite pair at least a few overlaid inputs (changes `ov` in place).

    A composite circuit only fires on its animal with its attribute overlaid; a rare animal
    could otherwise go without one by chance. The first plain inputs of that animal are
    overlaid until it has max(3, overlay x its count) of them (or all).
    """
    for i in np.flatnonzero(model.pair_attr >= 0):
        j = model.pair_attr[i]
        rows = np.flatnonzero(np.any(idx == i, axis=1))
        want = min(len(rows), max(3, round(model.config.overlay * len(rows))))
        missing = want - int(np.sum(ov[rows] == j))
        if missing > 0:
            plain = rows[ov[rows] < 0][:missing]
            ov[plain] = j


def make_examples(model: PlantedModel) -> list[tuple[str, str, Data]]:
    """Hand-made single inputs: a few plain animals and each composite's overlaid animal.

    Each holds one animal at the strongest magnitude, so a composite circuit stays silent on
    the plain animal and fires on the overlaid one whatever k the dataset uses.
    """
    rows: list[tuple[str, str, int, int]] = []
    for i in range(min(4, model.config.animals)):
        name = model.animal_names[i]
        rows.append((name, f"{'an' if name[:1] in 'aeiou' else 'a'} {name}", i, -1))
    for c in model.circuits:
        if c.family == "composite":
            a, t = c.id.split(":")[1].split("+")
            i, j = model.animal_names.index(a), model.axis_names.index(t)
            rows.append((f"{t}-{a}", f"a particularly {t} {a}", i, j))
    out = []
    for eid, label, animal, ov in rows:
        idx, mag = np.array([[animal]]), np.array([[MAG_HIGH]])
        ova = np.array([ov])
        ovm = np.array([OVERLAY_STRENGTH if ov >= 0 else 0.0])
        out.append((eid, label, Data(_activations(model, idx, mag, ova, ovm), idx, mag, ova, ovm)))
    return out
