"""Configuration of one SAE training run, and its `train-sae` CLI flags (no torch import here).

`SAEConfig` is frozen and normalised, so its JSON (with the study Config's) keys the on-disk
cache of sae.py. `parse_sae_config` turns loose values (flags, query strings) into one, raising a
ConfigError that names the first bad field, like `config.parse_config`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from basisgraph.config import Config, ConfigError

__all__ = ["SAEConfig", "SAE_FIELD_HELP", "SAE_VERSION", "parse_sae_config", "cache_key"]

Kind = Literal["relu", "topk", "batchtopk", "matryoshka"]


class SAEConfig(BaseModel):
    """How to train one SAE. Frozen and normalised, so its JSON keys the cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Architecture: relu (L1 penalty), topk, batchtopk (both with AuxK), or a two-level
    # matryoshka (relu loss on the whole width plus on the first `attributes` latents).
    kind: Kind = "relu"
    # Latents (dictionary atoms); None means animals + attributes (the planted union's size).
    width: int | None = Field(None, ge=1, le=20_000)
    # L1 coefficient lambda on f_j * ||W_dec_j|| (relu, matryoshka), in normalised units.
    l1: float = Field(1.0, ge=0.0, le=1000.0)
    # Latents kept per input (topk; batch average for batchtopk).
    k: int = Field(4, ge=1, le=4096)
    # Weight of the AuxK dead-latent loss (topk, batchtopk); 0 switches it off.
    aux: float = Field(1 / 32, ge=0.0, le=100.0)
    # Optimiser steps.
    steps: int = Field(3000, ge=1, le=1_000_000)
    # Inputs per minibatch.
    batch: int = Field(512, ge=1, le=65_536)
    # Adam learning rate.
    lr: float = Field(1e-2, gt=0.0, le=1.0)
    # Seed of the initialisation and of the minibatch order (the data follow the study seed).
    seed: int = Field(0, ge=0, le=2**32 - 1)
    # Size of the training set (the held-out evaluation set has the same size).
    samples: int = Field(32_768, ge=64, le=1_000_000)
    # Learn a decoder bias b_dec (off: planted activations have no offset).
    decoder_bias: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> SAEConfig:
        if self.width is not None and self.kind in ("topk", "batchtopk") and self.k > self.width:
            raise ValueError(f"k must be at most width ({self.width}); got {self.k}")
        return self

    def resolve(self, cfg: Config) -> SAEConfig:
        """Fill the width from the study and check what depends on it (ConfigError if not)."""
        width = cfg.animals + cfg.attributes if self.width is None else self.width
        if self.kind == "matryoshka" and width <= cfg.attributes:
            raise ConfigError("width", width, f"more than attributes ({cfg.attributes}) for a "
                              "matryoshka SAE, whose inner level has `attributes` latents")
        if self.kind in ("topk", "batchtopk") and self.k > width:
            raise ConfigError("k", self.k, f"an integer from 1 to width ({width})")
        return self.model_copy(update={"width": width})

    @property
    def uses_l1(self) -> bool:
        """True for the kinds trained with the L1 penalty."""
        return self.kind in ("relu", "matryoshka")


SAE_FIELD_HELP: dict[str, str] = {
    "kind": "relu, topk, batchtopk or matryoshka",
    "width": "latents (default animals + attributes)",
    "l1": "L1 coefficient on f * |W_dec| (relu, matryoshka)",
    "k": "latents kept per input (topk, batchtopk)",
    "aux": "AuxK dead-latent loss weight (topk, batchtopk; 0 = off)",
    "steps": "optimiser steps",
    "batch": "inputs per minibatch",
    "lr": "Adam learning rate",
    "seed": "seed of the SAE initialisation and minibatch order",
    "samples": "training-set size (the evaluation set has the same size)",
    "decoder_bias": "learn a decoder bias b_dec (true/false)",
}


def _allowed(name: str) -> str:
    f = SAEConfig.model_fields[name]
    if name == "kind":
        return "one of relu, topk, batchtopk, matryoshka"
    if name == "decoder_bias":
        return "true or false"
    lo = hi = None
    gt = False
    for m in f.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        if getattr(m, "gt", None) is not None:
            lo, gt = m.gt, True
    kind = "a number" if name in ("l1", "aux", "lr") else "an integer"
    return f"{kind} {'greater than' if gt else 'from'} {lo} to {hi}"


def parse_sae_config(values: dict[str, Any]) -> SAEConfig:
    """An SAEConfig from loosely typed values (CLI flags, query strings); unknown keys dropped.

    Raises a ConfigError naming the first bad field.
    """
    known = {k: v for k, v in values.items() if k in SAEConfig.model_fields and v is not None}
    try:
        return SAEConfig.model_validate(known)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = str(err["loc"][0]) if err["loc"] else "k"
        if name not in SAEConfig.model_fields:
            name = "k"
        allowed = _allowed(name)
        if not err["loc"]:
            allowed += ", and at most width"
        raise ConfigError(name, known.get(name), allowed) from None


class NotTrained(ConfigError):
    """The SAE a request names is not in the cache (web requests never train). Field `sae`."""

    def __init__(self, value: Any, allowed: str = "an SAE that has been trained (basisgraph "
                 "train-sae, or POST /api/v1/sae/jobs)"):
        super().__init__("sae", value, allowed)

    def __reduce__(self):
        return (NotTrained, (self.value, self.allowed))


__all__.append("NotTrained")




SAE_VERSION = 1  # part of the cache key: bump when training or metrics change


def cache_key(cfg: Config, scfg: SAEConfig) -> str:
    """sha256 of the study Config and the resolved SAEConfig.

    Study fields that cannot change the weights or the metrics (coverage, alpha, samples: the
    SAE draws its own data) are left out, so changing them never retrains.
    """
    study = cfg.training_json()
    text = json.dumps({"version": SAE_VERSION, "study": study,
                       "sae": scfg.resolve(cfg).model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
