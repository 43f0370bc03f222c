"""The long-running commands of the CLI (training SAEs, sweeps, decomposition) and their flags.

They live here, not beside the science they drive, so that nothing below the CLI prints progress
bars or parses argv. Training modules are imported inside the commands because they load torch,
which `basisgraph table` and `basisgraph serve` never need.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from basisgraph.config import Config, ConfigError
from basisgraph.dictionaries.codes import TrainedSAE
from basisgraph.dictionaries.config import SAE_FIELD_HELP, SAEConfig, cache_key, parse_sae_config
from basisgraph.dictionaries.learned import FITS as LEARNED_FITS
from basisgraph.dictionaries.learned import TOL as LEARNED_TOL
from basisgraph.dictionaries.sweep import MAX_GRID, format_sweep, sae_sweep, sparsity
from basisgraph.jobs.trained import TARGET_SPD

__all__ = ["add_train_parser", "add_sweep_parser", "format_metrics", "run_train_cli", "run_train_args",
           "run_sweep_cli", "run_decompose_command", "learned_tol", "format_recovery", "DECOMPOSE_TARGETS", "SPD_INITS"]


def add_train_parser(sub, add_config_flags: Callable[[Any], None]) -> None:
    """Register `train-sae` on the CLI's subparsers (flags are strings, checked by SAEConfig)."""
    t = sub.add_parser("train-sae", help="train (or load from the cache) one SAE on the planted "
                       "activations; progress on stderr, then the metrics")
    for name in SAEConfig.model_fields:
        if name == "decoder_bias":
            continue
        flag = {"seed": "--sae-seed", "samples": "--train-samples"}.get(name, "--" + name)
        t.add_argument(flag, dest=f"sae_{name}", default=None, metavar="X",
                       help=f"{SAE_FIELD_HELP[name]} (default {SAEConfig.model_fields[name].default})")
    t.add_argument("--decoder-bias", dest="sae_decoder_bias", action="store_const", const=True,
                   default=None, help=SAE_FIELD_HELP["decoder_bias"])
    t.add_argument("--json", action="store_true", help="print the metrics as JSON")
    t.add_argument("--no-cache", action="store_true", help="train even if cached; store nothing")
    t.add_argument("--table", action="store_true", help="then print the table with the SAE appended, "
                   "and the learned per-circuit view over its atoms beside the oracle (with --json: "
                   "the table's JSON, the view under `learned`)")
    t.add_argument("--widths", default=None, metavar="W,W",
                   help="train one SAE per width (the other flags shared); with --table the learned "
                        "view reads over all their atoms, e.g. --widths 20,200 (d and N)")
    t.add_argument("--learned-tol", default=None, metavar="X",
                   help=f"OMP tolerance of the learned view: relative miss of a read direction "
                        f"(default {LEARNED_TOL}; a number above 0 and below 1)")
    t.add_argument("--learned-fit", default="read", choices=list(LEARNED_FITS),
                   help="what the learned view decomposes: read (the read direction over the atoms, "
                        "default) or input (the reader's input over the atoms' codes)")
    add_config_flags(t)


def add_sweep_parser(sub, add_config_flags: Callable[[Any], None]) -> None:
    """Register `sae-sweep` on the CLI's subparsers."""
    t = sub.add_parser("sae-sweep", help="train a width x sparsity grid of SAEs (progress on "
                       "stderr; cached ones load at once), then print their edge counts per family")
    t.add_argument("--kind", dest="sweep_kind", default="relu", metavar="X",
                   help=SAE_FIELD_HELP["kind"] + " (default relu)")
    t.add_argument("--widths", default=None, metavar="W,W",
                   help="comma-separated widths (default: attributes, 2 x attributes, "
                        "animals + attributes)")
    t.add_argument("--sparsities", default=None, metavar="S,S",
                   help="comma-separated L1 coefficients (relu, matryoshka; default 0.3,1,3) or k "
                        "values (topk, batchtopk; default 1,4,16)")
    t.add_argument("--steps", dest="sweep_steps", default=None, metavar="X",
                   help="optimiser steps per SAE (default 3000)")
    t.add_argument("--sae-seed", dest="sweep_seed", default=None, metavar="X",
                   help="seed of every SAE (default 0)")
    t.add_argument("--json", dest="sweep_json", default=None, metavar="FILE",
                   help="also write the sweep's JSON (as GET /api/v1/sae/sweep) to FILE")
    add_config_flags(t)


def _train_bar(step: int, steps: int, loss: float, t0: float) -> None:
    frac = step / steps
    n = int(30 * frac)
    sys.stderr.write(f"\rtraining [{'#' * n}{'.' * (30 - n)}] {100 * frac:5.1f}%  "
                     f"step {step}/{steps}  loss {loss:.4g}  {time.perf_counter() - t0:.0f}s")
    if step == steps:
        sys.stderr.write("\n")
    sys.stderr.flush()


def format_metrics(t: TrainedSAE) -> str:
    """Metrics as aligned text lines."""
    m = t.metrics
    keys = ["l0", "explained_variance", "dead_fraction", "shrinkage", "norm_ratio",
            "mcc_animals", "mcc_attributes", "match_animals", "match_attributes",
            "animals_recovered", "attributes_recovered", "train_s"]
    lines = [f"{t.id}  ({'from cache' if t.cached else 'trained'}; key {cache_key(t.config, t.sae)[:12]})"]
    for k in keys:
        v = m.get(k)
        lines.append(f"  {k:<22} {v if not isinstance(v, float) else f'{v:.4g}'}")
    return "\n".join(lines)




def run_train_cli(cfg: Config, values: dict[str, Any], as_json: bool = False,
                  use_cache: bool = True, out: Any = None) -> SAEConfig:
    """`basisgraph train-sae`: train with a stderr progress bar, then print the metrics (to
    `out`, default stdout). Returns the resolved SAE configuration."""
    from basisgraph.dictionaries.sae import train_sae

    scfg = parse_sae_config(values).resolve(cfg)
    t0 = time.perf_counter()
    t = train_sae(cfg, scfg, progress=lambda s, n, loss: _train_bar(s, n, loss, t0), use_cache=use_cache)
    if as_json:
        print(json.dumps({"id": t.id, "key": cache_key(cfg, scfg), "cached": t.cached,
                          "config": cfg.model_dump(mode="json"),
                          "sae": t.sae.model_dump(mode="json"),
                          "metrics": {k: v for k, v in t.metrics.items() if k != "loss_curve"}},
                         indent=1), file=out or sys.stdout)
    else:
        print(format_metrics(t), file=out or sys.stdout)
    return scfg


def run_train_args(cfg: Config, args: Any) -> list[SAEConfig]:
    """Dispatch of `basisgraph train-sae` from parsed arguments: one SAE per width (resolved
    configurations returned, for the table that `--table` then prints)."""
    values = {name: getattr(args, f"sae_{name}", None) for name in SAEConfig.model_fields}
    widths = _list("widths", args.widths, [values["width"]], int)
    learned_tol(args.learned_tol)  # a bad tolerance fails before any training
    if len(widths) > MAX_GRID:
        raise ConfigError("widths", args.widths, f"at most {MAX_GRID} widths")
    scfgs = []
    for w in widths:
        try:
            parse_sae_config({**values, "width": w}).resolve(cfg)
        except ConfigError as exc:  # name the flag: the study has a seed and samples of its own
            flag = {"seed": "sae_seed", "samples": "train_samples"}.get(exc.field, exc.field)
            raise ConfigError("widths" if flag == "width" and args.widths else flag, exc.value,
                              exc.allowed) from None
    for w in widths:
        # With --table --json, stdout carries the table's JSON alone; the metrics go to stderr.
        scfgs.append(run_train_cli(cfg, {**values, "width": w}, as_json=args.json and not args.table,
                                   use_cache=not args.no_cache,
                                   out=sys.stderr if args.table and args.json else None))
    return scfgs


def learned_tol(text: str | None) -> float:
    """The learned view's OMP tolerance from a flag; ConfigError (field learned_tol) if not in (0, 1)."""
    if text is None:
        return LEARNED_TOL
    try:
        tol = float(text)
    except ValueError:
        tol = float("nan")
    if not 0 < tol < 1:
        raise ConfigError("learned_tol", text, "a number greater than 0 and less than 1")
    return tol


def _list(name: str, text: str | None, default: list, cast) -> list:
    if text is None:
        return default
    try:
        vals = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(name, text, "a comma-separated list of numbers") from None
    if not vals:
        raise ConfigError(name, text, "a comma-separated list of numbers")
    return vals


def run_sweep_cli(cfg: Config, kind: str, widths: str | None, sparsities: str | None,
                  steps: str | None, seed: str | None, out: str | None) -> None:
    """`basisgraph sae-sweep`: train a width x sparsity grid (progress on stderr), then print it."""
    from basisgraph.dictionaries.sae import train_sae

    d, n = cfg.attributes, cfg.animals
    ws = _list("widths", widths, [d, 2 * d, n + d], int)
    uses_l1 = kind in ("relu", "matryoshka")
    sp = _list("sparsities", sparsities, [0.3, 1.0, 3.0] if uses_l1 else [1, 4, 16],
               float if uses_l1 else int)
    grid = [(w, s) for w in ws for s in sp]
    if len(grid) > MAX_GRID:
        raise ConfigError("widths", widths, f"a grid of at most {MAX_GRID} SAEs (widths x sparsities)")
    scfgs = []
    for w, s in grid:
        values = {"kind": kind, "width": w, "steps": steps, "seed": seed,
                  ("l1" if uses_l1 else "k"): s}
        try:
            scfgs.append(parse_sae_config(values).resolve(cfg))
        except ConfigError as exc:
            flag = {"seed": "sae_seed", "l1": "sparsities", "k": "sparsities", "width": "widths"}
            raise ConfigError(flag.get(exc.field, exc.field), exc.value, exc.allowed) from None
    keys = []
    t0 = time.perf_counter()
    for i, scfg in enumerate(scfgs, 1):
        label = f"[{i}/{len(scfgs)}] sae:{scfg.kind}:{scfg.width} {sparsity(scfg)[0]}={sparsity(scfg)[1]:g}"
        t = train_sae(cfg, scfg, progress=lambda s, total, loss, label=label: _sweep_bar(label, s, total, loss, t0))
        if t.cached:
            sys.stderr.write(f"{label}: from the cache\n")
        keys.append(cache_key(cfg, scfg))
    sys.stderr.write("counting edges…\n")
    sw = sae_sweep(cfg, keys)
    print(format_sweep(sw))
    if out:
        Path(out).write_text(json.dumps(sw, indent=1), encoding="utf-8")


def _sweep_bar(label: str, step: int, steps: int, loss: float, t0: float) -> None:
    n = int(24 * step / steps)
    sys.stderr.write(f"\r{label} [{'#' * n}{'.' * (24 - n)}] {100 * step / steps:5.1f}%  "
                     f"loss {loss:.4g}  {time.perf_counter() - t0:.0f}s")
    if step == steps:
        sys.stderr.write("\n")
    sys.stderr.flush()


# The choices of `decompose --target` and `--init`, spelled here so the parser needs no torch
# (tests/test_spd.py checks them against mlp.TARGETS and spd.INITS).
DECOMPOSE_TARGETS = ("aligned", "superposed")
SPD_INITS = ("random", "neurons", "neurons+data")


def format_recovery(rep: dict) -> str:
    """The stricter recovery report (decomposition/recovery.py) as text, per family."""
    r = rep["rules"]
    lines = [f"recovered (|cos| > {r['cos']}; composites also nearer the composite than the animal by "
             f"{r['margin_fraction']} of the gap) and causal (ablation changes its circuit >= "
             f"{r['ablate_own']:.0%}, every unrelated one <= {r['ablate_other']:.0%}):"]
    for fam, f in rep["families"].items():
        lines.append(f"  {fam}: {f['recovered']}/{f['circuits']} recovered "
                     f"({f['recovered_cos']} by |cos| alone), {f['recovered_and_causal']} causal")
        for key, label in (("causal", "recovered and causal"), ("not_causal", "recovered, not causal"),
                           ("missed", "missed")):
            names = f.get("names", {}).get(key, [])
            lines.append(f"    {label} ({len(names)}): {', '.join(names) if names else 'none'}")
    return "\n".join(lines)


def run_decompose_command(cfg: Config, steps: str | None = None, as_json: bool = False,
                          target: str = "aligned", init: str | None = None) -> dict:
    """`basisgraph decompose`: train and decompose (or load both), then print the table and the
    stricter recovery report. `target` picks the MLP's training (mlp.TARGETS), `init` SPD's start."""
    import torch

    from basisgraph.decomposition.mlp import TARGETS
    from basisgraph.decomposition.spd import SPDConfig
    from basisgraph.decomposition.table import default_saes, format_trained_table, trained_table

    # Without --init, a target starts SPD where the page's build does (jobs.trained.TARGET_SPD).
    init = init or TARGET_SPD.get(target, {}).get("init")
    scfg = SPDConfig() if init is None else SPDConfig(init=init)
    if steps is not None:
        try:
            value = int(steps)
        except ValueError:
            raise ConfigError("steps", steps, "an integer from 1 to 10000000") from None
        scfg = SPDConfig(**{**asdict(scfg), "steps": value})
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast and leaves the other core free
    t = trained_table(cfg, TARGETS[target], scfg, train=True, progress=True, sae_cfgs=default_saes(cfg))
    rep = t["readout"]["recovery_strict"]
    print(json.dumps(t, indent=1) if as_json else format_trained_table(t) + "\n\n" + format_recovery(rep))
    return t
