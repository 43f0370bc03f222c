"""Train-and-decompose jobs: the trained model of one configuration, built by the background
worker that SAE jobs also use (one queue, so two trainings never share the cores).

Steps of a job (`TrainedJobs.run`, in the worker process):
1. Train every compared SAE that is not cached yet, reporting each one's steps.
2. Train the MLP and decompose it (`decomposition.table.trained_table(train=True)`, what
   `basisgraph decompose` runs), reporting their steps through its `on_progress`.
3. Return the recovery and fit: from now on the disk cache answers, even after a restart.

The job id is a sha256 of the configuration and the settings, so asking twice joins the running
job, and a cached model is "done" at once. Progress is a weighted sum over the stages (the
decomposition weighs most). A request never trains.

Sizes are bounded (`check_size`): a configuration past MAX_ANIMALS, MAX_DIMS or MAX_CIRCUITS is
refused with the field and its range, because training and decomposing it would take too long.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from basisgraph.config import Config, ConfigError
from basisgraph.decomposition.panels import Settings, model_config
from basisgraph.dictionaries.config import SAEConfig
from basisgraph.jobs import sae as sae_jobs
from basisgraph.jobs.kind import Cancelled, JobKind, JobRequest, Reporter, max_job_seconds

__all__ = ["MAX_ANIMALS", "MAX_DIMS", "MAX_CIRCUITS", "SETTINGS", "KIND", "TrainedJobs", "check_size",
           "job_key", "is_cached", "estimate_s", "request", "TARGET_NAMES", "DEFAULT_TARGET", "check_target",
           "settings_for", "TARGET_SPD"]

MAX_ANIMALS = 1000  # animals a trained model may have (the post's default)
MAX_DIMS = 64  # attributes + random dims
MAX_CIRCUITS = 20  # circuits per family (the MLP outputs 3 x this)
# Rough share of wall time per stage, from the defaults (N = 1000, d = 50): each SAE about 30 s,
# the MLP about 50 s, the decomposition about 35 s.
_WEIGHTS = {"sae": 1.0, "mlp": 1.5, "spd": 1.0}
READOUT_STAGE = "read out and count"  # the last stage: recovery, ablations and the table
_DONE_AT = 0.97  # the read-out after the last step takes the rest of the bar
DEFAULT = Settings()  # the defaults of `basisgraph decompose`
# What the web app and the HTML export build and show: the defaults (tests swap in tiny ones).
# Resolved per configuration, since the compared SAEs depend on its sizes.
SETTINGS = DEFAULT
# The MLPs the page can build (decomposition.mlp.TARGETS; spelled here so a request needs no torch,
# tests/test_trained_api.py checks the two agree). "aligned" is SETTINGS itself.
TARGET_NAMES = ("aligned", "superposed")
DEFAULT_TARGET = "aligned"
# SPD changes of a target beyond its MLP's: issue 13 decomposes the superposed MLP from random
# initialisation, as docs/spd.md measured it (the neuron start would hand SPD the answer).
TARGET_SPD = {"superposed": {"init": "random"}}


def check_target(target: object) -> str:
    """`target` if it names a target, else ConfigError naming `target`."""
    if target not in TARGET_NAMES:
        raise ConfigError("target", target, "one of " + ", ".join(TARGET_NAMES))
    return str(target)


def settings_for(target: str = DEFAULT_TARGET, base: Settings | None = None) -> Settings:
    """What the web app builds for `target`: `base` (default SETTINGS, which tests swap for tiny
    ones) with the training fields in which mlp.TARGETS[target] differs from the aligned target,
    and the target's SPD changes. ConfigError naming `target` for an unknown name."""
    check_target(target)
    base = SETTINGS if base is None else base
    if target == DEFAULT_TARGET:
        return base
    from basisgraph.decomposition.mlp import TARGETS, TrainConfig  # torch: only for a target's build
    from basisgraph.decomposition.spd import SPDConfig

    ref, want = TARGETS[DEFAULT_TARGET], TARGETS[target]
    diff = {f.name: getattr(want, f.name) for f in dataclasses.fields(TrainConfig)
            if getattr(want, f.name) != getattr(ref, f.name)}
    train = dataclasses.replace(base.train or TrainConfig(), **diff)
    spd = dataclasses.replace(base.spd or SPDConfig(), **TARGET_SPD.get(target, {}))
    return Settings(train, spd, base.saes)


def check_size(cfg: Config) -> None:
    """ConfigError naming the field if `cfg` is too large to train and decompose here."""
    if cfg.animals > MAX_ANIMALS:
        raise ConfigError("animals", cfg.animals, f"an integer from 2 to {MAX_ANIMALS} for the "
                          "trained model (training and decomposing must finish in minutes)")
    if cfg.d_model > MAX_DIMS:
        raise ConfigError("attributes", cfg.attributes, f"attributes + random_dims at most {MAX_DIMS} "
                          "for the trained model")
    if cfg.circuits > MAX_CIRCUITS:
        raise ConfigError("circuits", cfg.circuits, f"an integer from 1 to {MAX_CIRCUITS} for the "
                          "trained model")


def _settings_doc(s: Settings) -> dict:
    return {"train": dataclasses.asdict(s.train), "spd": dataclasses.asdict(s.spd),
            "saes": [x.model_dump(mode="json") for x in s.saes]}


def job_key(cfg: Config, settings: Settings) -> str:
    """The job id: sha256 of the configuration (coverage left out) and the resolved settings."""
    from basisgraph.decomposition.mlp import cache_key

    cfg = model_config(cfg)
    return cache_key("decompose-job", cfg, json.dumps(_settings_doc(settings.resolve(cfg)), sort_keys=True))


def _files(cfg: Config, settings: Settings) -> tuple[Path, Path]:
    """The cache files of the trained MLP and of its decomposition."""
    from basisgraph.decomposition.mlp import mlp_path
    from basisgraph.decomposition.spd import decomposition_path

    s, cfg = settings.resolve(cfg), model_config(cfg)
    return mlp_path(cfg, s.train), decomposition_path(cfg, s.train, s.spd)


def is_cached(cfg: Config, settings: Settings) -> bool:
    """Whether the MLP and its decomposition are on disk (the SAEs are optional extras). Checks
    the files only: every table and panel request asks, and loading them is the view's job."""
    return all(path.exists() for path in _files(cfg, settings))



def _settings(doc: dict[str, Any]) -> Settings:
    from basisgraph.decomposition.mlp import TrainConfig  # torch: loaded with the trained model
    from basisgraph.decomposition.spd import SPDConfig

    return Settings(TrainConfig(**doc["train"]), SPDConfig(**doc["spd"]),
                    tuple(SAEConfig.model_validate(x) for x in doc["saes"]))


# --------------------------------------------------------------------------------------------
# Cost model: seconds on this machine, from the defaults (N = 1000, d = 50: each SAE about 30 s,
# the MLP about 50 s, the decomposition about 35 s); SAEs use jobs.sae's model.

MLP_STEP_S = 2.5e-3  # per MLP step whatever the size
SPD_STEP_S = 1e-2  # per SPD step whatever the size (several losses and masks per step)
MAC_S = sae_jobs.MAC_S  # per multiply-add of a step, backward included
SETUP_S = 5.0  # data, read-out and saving


def estimate_s(cfg: Config, settings: Settings) -> float:
    """Predicted seconds to build the trained model of `cfg` under `settings`."""
    cfg = model_config(cfg)
    s = settings.resolve(cfg)
    out = 3 * cfg.circuits  # circuits over the three families (an upper bound)
    hidden = s.train.hidden(out)
    mlp = s.train.steps * (MLP_STEP_S + MAC_S * s.train.batch * hidden * (cfg.d_model + out))
    macs_spd = s.spd.components_in * (cfg.d_model + hidden) + s.spd.components_out * (hidden + out)
    spd = s.spd.steps * (SPD_STEP_S + 3 * MAC_S * s.spd.batch * macs_spd)
    saes = sum(sae_jobs.estimate_s(cfg, x.resolve(cfg)) for x in s.saes)
    return SETUP_S + mlp + spd + saes


def _check_cost(cfg: Config, settings: Settings) -> float:
    """Predicted seconds; past the cap a ConfigError naming `animals` with the largest that fits."""
    cap, est = max_job_seconds(), estimate_s(cfg, settings)
    if est <= cap:
        return est
    lo, hi = 1, cfg.animals  # the largest animal count that fits: bisect (cost grows with it)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fits = estimate_s(cfg.model_copy(update={"animals": mid, "active": min(cfg.active, mid)}),
                          settings) <= cap
        lo, hi = (mid, hi) if fits else (lo, mid)
    why = f"a job may take at most {cap:g} s predicted; this one {est:.0f} s"
    if lo < 2:
        raise ConfigError("animals", cfg.animals, f"no animal count fits: the trained model's "
                          f"settings alone take too long here ({why})")
    raise ConfigError("animals", cfg.animals, f"an integer from 2 to {lo} for the trained model ({why})")


def request(cfg: Config, settings: Settings, *, check: bool = True,
            target: str = DEFAULT_TARGET) -> JobRequest:
    """The job that builds the trained model of `cfg` (`settings` built for `target`, which the
    job's links carry); ConfigError past the size bounds, and past the cost cap when `check`."""
    check_size(cfg)
    est = _check_cost(cfg, settings) if check else estimate_s(cfg, settings)
    mcfg = model_config(cfg)
    spec = {"config": mcfg.model_dump(mode="json"), "settings": _settings_doc(settings.resolve(mcfg))}
    if target != DEFAULT_TARGET:
        spec["target"] = check_target(target)
    return JobRequest("trained", job_key(cfg, settings), spec, round(est, 1))


class TrainedJobs(JobKind):
    """Training the MLP of one configuration, decomposing it and training the compared SAEs."""

    name = "trained"

    def describe(self, spec: dict[str, Any], status: str) -> dict[str, Any]:
        cfg = Config.model_validate(spec["config"])
        pairs = {k: str(v) for k, v in cfg.overrides().items() if k != "coverage"}
        if spec.get("target", DEFAULT_TARGET) != DEFAULT_TARGET:
            pairs["target"] = spec["target"]
        query = urlencode(pairs)
        out: dict[str, Any] = {"config": spec["config"], "query": query}
        if status == "done":
            out["table"] = "/api/v1/trained/table" + (f"?{query}" if query else "")
        return out

    def cached_result(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        cfg = Config.model_validate(spec["config"])
        return {} if is_cached(cfg, _settings(spec["settings"])) else None

    def touch(self, spec: dict[str, Any]) -> None:
        for path in _files(Config.model_validate(spec["config"]), _settings(spec["settings"])):
            with contextlib.suppress(OSError):  # evicted meanwhile: nothing to mark
                os.utime(path)

    def run(self, spec: dict[str, Any], report: Reporter) -> dict[str, Any]:
        import torch

        from basisgraph.decomposition.table import trained_table
        from basisgraph.dictionaries.sae import train_sae

        torch.set_num_threads(1)  # small matrices: one thread is as fast, and the server keeps a core
        cfg = Config.model_validate(spec["config"])
        s = _settings(spec["settings"])
        saes = [x.resolve(cfg) for x in s.saes]
        names = [f"SAE {x.kind}:{x.width}" for x in saes] + ["train MLP", "decompose (SPD)", READOUT_STAGE]
        weights = [_WEIGHTS["sae"]] * len(saes) + [_WEIGHTS["mlp"], _WEIGHTS["spd"]]

        def stage(i: int, done: int | None, total: int | None) -> None:
            if i >= len(weights):  # the read-out: no steps, the rest of the bar
                frac = 1.0
            else:
                frac = (sum(weights[:i]) + weights[i] * min((done or 0) / max(total or 1, 1), 1.0)) / sum(weights)
            if not report(_DONE_AT * frac, {"phase": "running", "stage": names[i], "stage_index": i,
                                            "stages": len(names), "stage_names": names,
                                            "step": done, "steps": total}):
                raise Cancelled

        def on_progress(name: str, done: int, total: int) -> None:
            stage(index[name], done, total)
            if name == "spd" and done >= total:  # what follows is the read-out and the counts
                stage(len(names) - 1, None, None)

        report(0.0, {"phase": "running", "stage": "loading", "stage_index": 0,
                     "stages": len(names), "stage_names": names, "step": None, "steps": None})
        for i, x in enumerate(saes):
            train_sae(cfg, x, progress=lambda step, steps, _loss, i=i: stage(i, step, steps))
        index = {"mlp": len(saes), "spd": len(saes) + 1}
        t = trained_table(cfg, s.train, s.spd, train=True, sae_cfgs=saes, on_progress=on_progress)
        return {"result": {"recovery": t["readout"]["recovery"], "fit": t["readout"]["fit"]["fve_per_family"]}}


KIND = TrainedJobs()
