"""Configuration of one basisgraph study: the planted model, its data and the counting rule.

Every number the app shows is a pure function of one `Config`. Presets are named starting
points; any field given explicitly overrides the preset. Ranges are enforced here so the CLI,
the API and the URL state all reject the same inputs with the same field names.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "Config", "PRESETS", "FIELD_HELP", "ConfigError", "LEGACY", "OPTIONAL", "describe_range", "explain",
    "parse_config", "MAX_DATA",
]

PresetName = Literal["post", "bunny", "wide", "small"]
Residual = Literal["minnorm", "sparse", "error"]
OverlaySampling = Literal["topup", "stratified"]
AttributeLaw = Literal["gaussian", "binary"]

# Values of the keys added after link version 1 that reproduce version 1's numbers. A config
# holding all of them is a version-1 config, and its JSON bodies leave these keys out (as_json).
LEGACY: dict[str, Any] = {"residual": "minnorm", "overlay_sampling": "topup"}
# Keys added later whose default reproduces every earlier number: a config at these values
# leaves them out of JSON bodies and training cache keys, whatever its link version.
OPTIONAL: dict[str, Any] = {"attribute_law": "gaussian", "attributes_on": 3}

# Field values a preset sets; everything else keeps the model default.
PRESETS: dict[str, dict[str, Any]] = {
    "post": {},
    "bunny": {"animals": 4, "attributes": 2, "samples": 400, "circuits": 4},
    "wide": {"random_dims": 50},
    # A readable model that still shows every dictionary tangling one family (link version 2).
    "small": {"animals": 200, "attributes": 20, "samples": 1000, "circuits": 8},
}


MAX_DATA = 20_000_000  # samples x d_model at most: the dataset's floats


class ConfigError(ValueError):
    """A configuration or request value outside its allowed range or set.

    `field` names the offending input and `allowed` describes what would be accepted, so the
    CLI can print one line and the API can answer 422 with the field named.
    """

    def __init__(self, field: str, value: Any, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        super().__init__(f"{field}: {shown} is not allowed; expected {allowed}")

    def __reduce__(self):  # crosses process boundaries (web workers) with its fields intact
        return (ConfigError, (self.field, self.value, self.allowed))


class Config(BaseModel):
    """One study. Frozen, hashable and normalised, so it can key caches and links."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Named starting point; explicit fields override it.
    preset: PresetName = "post"
    # N: sparse animal features, all living in the attribute subspace.
    animals: int = Field(1000, ge=2, le=100_000)
    # d: dense, orthonormal attribute directions that span the animal subspace.
    attributes: int = Field(50, ge=1, le=1024)
    # Extra dimensions in which animal directions are random (the thread's 100-dim variant).
    random_dims: int = Field(0, ge=0, le=1024)
    # k: animals active in each input.
    active: int = Field(1, ge=1, le=16)
    # Inputs in the dataset.
    samples: int = Field(2000, ge=1, le=20_000)
    # Seed for every random draw.
    seed: int = Field(0, ge=0, le=2**32 - 1)
    # tau: fraction of |attribution| the counted edges must cover.
    coverage: float = Field(0.9, gt=0.0, le=1.0)
    # Weight of the animal coefficients in the union dictionary (attributes get 1 - alpha).
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    # Circuits per family (capped by the number of animals or attributes available).
    circuits: int = Field(20, ge=1, le=64)
    # Probability that an input carries one boolean attribute overlay ("a cute bunny").
    overlay: float = Field(0.25, ge=0.0, le=1.0)
    # Weight of the attribute in a composite reader: animal + composite_weight * attribute.
    composite_weight: float = Field(0.2, gt=0.0, le=1.0)
    # How the animal dictionary encodes what its atoms do not carry (an overlay such as "cute"):
    # sparse = the fewest animals that rebuild it exactly (OMP), minnorm = the minimum-L2
    # correction over every animal (link version 1), error = left in the error node.
    residual: Residual = "sparse"
    # How overlays are drawn: stratified = exactly round(overlay x samples) overlaid inputs, with
    # each composite pair's minimum taken from that budget; topup = independent draws, then extra
    # overlays until every composite pair has its minimum (link version 1, rate above `overlay`).
    overlay_sampling: OverlaySampling = "stratified"
    # How an animal is made of the attributes: gaussian = a signed Gaussian weight on every
    # attribute (dense; a rotation of the attribute axes gives the same animals, so only the
    # overlays single the axes out), binary = `attributes_on` attributes switched on with
    # positive weights, the rest off (sparse and non-negative, so the axes are identifiable).
    attribute_law: AttributeLaw = "gaussian"
    # Attributes switched on in each animal under the binary law (capped at `attributes`;
    # unused by the gaussian law).
    attributes_on: int = Field(3, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "post")
        if preset in PRESETS:
            merged = dict(PRESETS[preset])
            merged.update({k: v for k, v in data.items() if v is not None})
            return merged
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.active > self.animals:
            raise ValueError(f"active must be at most animals ({self.animals}); got {self.active}")
        # Guards on total work and memory: the dataset is samples x d_model floats and the
        # min-norm encoder animals x d_model (the benchmark's 100000 x 256 fits).
        if self.samples * self.d_model > MAX_DATA:
            raise ValueError(f"samples must be at most {MAX_DATA} / (attributes + random_dims)")
        if self.animals * self.d_model > 26_000_000:
            raise ValueError("animals must be at most 26000000 / (attributes + random_dims)")
        return self

    @property
    def d_model(self) -> int:
        """Width of the activation space: attribute dims plus random dims."""
        return self.attributes + self.random_dims

    def overrides(self) -> dict[str, Any]:
        """Fields that differ from what the preset alone gives (what a link must carry)."""
        base = Config(preset=self.preset)
        out: dict[str, Any] = {}
        if self.preset != "post":
            out["preset"] = self.preset
        for name in type(self).model_fields:
            if name != "preset" and getattr(self, name) != getattr(base, name):
                out[name] = getattr(self, name)
        return out

    @property
    def legacy(self) -> bool:
        """Whether this is a version-1 configuration (every LEGACY value): its numbers and JSON
        bodies are version 1's, including the mixed view's label-based tie-break."""
        return all(getattr(self, k) == v for k, v in LEGACY.items())

    def as_json(self) -> dict[str, Any]:
        """The config as JSON bodies carry it: a version-1 config (every LEGACY value) leaves the
        later keys out, so its bodies stay byte-identical to the ones version 1 gave."""
        out = self.model_dump()
        if self.legacy:
            for k in LEGACY:
                del out[k]
        for k, v in OPTIONAL.items():
            if out[k] == v:
                del out[k]
        return out

    def training_json(self) -> dict[str, Any]:
        """The fields that can change what is trained on this study (SAE and MLP cache keys).

        Coverage, alpha and samples only change counting (training draws its own data), and
        `residual` only the animal dictionary's encoder. A version-1 overlay draw and OPTIONAL keys
        at their defaults are left out, so caches made before those keys existed stay valid.
        """
        skip = {"coverage", "alpha", "samples", "residual"}
        if self.overlay_sampling == LEGACY["overlay_sampling"]:
            skip.add("overlay_sampling")
        skip |= {k for k, v in OPTIONAL.items() if getattr(self, k) == v}
        return self.model_dump(mode="json", exclude=skip)

    def key(self) -> str:
        """A stable text key for caches and ETags."""
        return self.model_dump_json()


def describe_range(name: str) -> str:
    """Human-readable allowed range of one Config field, e.g. 'an integer from 2 to 100000'."""
    field = Config.model_fields[name]
    if name == "preset":
        return "one of " + ", ".join(PRESETS)
    if field.annotation not in (int, float) and get_args(field.annotation):  # a Literal
        return "one of " + ", ".join(get_args(field.annotation))
    lo = hi = None
    lo_open = hi_open = False
    for m in field.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        if getattr(m, "gt", None) is not None:
            lo, lo_open = m.gt, True
        if getattr(m, "lt", None) is not None:
            hi, hi_open = m.lt, True
    kind = "an integer" if field.annotation is int else "a number"
    left = "greater than" if lo_open else "from"
    return f"{kind} {left} {lo} to {hi}" + (" (exclusive)" if hi_open else "")


FIELD_HELP: dict[str, str] = {
    "preset": "named starting point: post (1000 animals / 50 attributes), bunny (4 / 2), wide (+50 random dims), "
              "small (200 / 20, 8 circuits per family)",
    "animals": "N, number of sparse animal features",
    "attributes": "d, number of dense attribute directions",
    "random_dims": "extra dimensions in which animal directions are random",
    "active": "k, animals active per input",
    "samples": "inputs in the dataset",
    "seed": "seed for every random draw",
    "coverage": "tau, fraction of |attribution| the counted edges must cover",
    "alpha": "animal weight in the union dictionary (0.5 is the half-size union)",
    "circuits": "circuits per family",
    "overlay": "probability of a boolean attribute overlay on an input",
    "composite_weight": "attribute weight in composite readers (animal + w * attribute)",
    "residual": "animal dictionary's encoding of what animals cannot carry: sparse (fewest "
                "animals, exact), minnorm (spread over all animals), error (left in the error node)",
    "overlay_sampling": "stratified (overlay rate exactly as set) or topup (version-1 draws plus "
                        "extra overlays for composite pairs)",
    "attribute_law": "how animals are made of attributes: gaussian (signed weights on every "
                     "attribute) or binary (a few attributes switched on, positive weights)",
    "attributes_on": "attributes switched on in each animal under the binary law (capped at "
                     "attributes)",
}


def explain(exc: ValidationError) -> list[ConfigError]:
    """pydantic errors as ConfigErrors; a cross-field rule is pinned to the field it names."""
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        msg = err["msg"].removeprefix("Value error, ")
        field = str(err["loc"][0]) if err["loc"] else msg.split(" ", 1)[0]
        if field not in Config.model_fields:
            field = "config"
        allowed = describe_range(field) if field != "config" else "a consistent configuration"
        if not err["loc"]:  # e.g. "active must be at most animals (4)"
            allowed += ", and " + msg.split("; got")[0].removeprefix(f"{field} must be ")
        value = err.get("input")
        out.append(ConfigError(field, value.get(field) if isinstance(value, dict) else value, allowed))
    return out


def parse_config(values: dict[str, Any]) -> Config:
    """A Config from loosely typed values (CLI flags, query strings); unknown keys are dropped.

    Raises the first ConfigError when a value is out of range or inconsistent.
    """
    known = {k: v for k, v in values.items() if k in Config.model_fields and v is not None}
    try:
        return Config.model_validate(known)
    except ValidationError as exc:
        raise explain(exc)[0] from None
