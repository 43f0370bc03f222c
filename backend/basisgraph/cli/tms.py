"""`basisgraph tms`: reproduce the SPD paper's toy-model-of-superposition result and print it.

Steps: for each seed, train the TMS target and decompose it from random initialisation
(decomposition/tms.py; `reproduce` in tms_eval.py), then print one line per seed (MMCS, ML2R, alive
subcomponents, feature cosines, seconds) beside the paper's numbers, and whether each run
meets the stated tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from basisgraph.config import ConfigError

__all__ = ["add_tms_parser", "run_tms_cli", "format_tms", "TMS_MODELS"]

# The presets of decomposition/tms.py, spelled here so the parser needs no torch
# (tests/test_tms.py checks them against tms.PRESETS).
TMS_MODELS = ("5-2", "5-2-fast", "40-10")


def add_tms_parser(sub) -> None:
    """Register the `tms` subcommand on an argparse subparsers object."""
    t = sub.add_parser("tms", help="reproduce the SPD paper's toy model of superposition result")
    t.add_argument("--model", default="5-2", choices=list(TMS_MODELS), help="TMS size and settings")
    t.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (target and SPD), at most 10")
    t.add_argument("--steps", default=None, help="SPD steps (default: the preset's)")
    t.add_argument("--json", action="store_true", help="print the results as JSON")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError("seeds", text, "comma-separated integers from 0 to 100000") from None
    if not 1 <= len(seeds) <= 10 or any(not 0 <= s <= 100_000 for s in seeds):
        raise ConfigError("seeds", text, "1 to 10 comma-separated integers from 0 to 100000")
    return seeds


def format_tms(model: str, results: list[dict]) -> str:
    """One line per seed and the paper's numbers."""
    from basisgraph.decomposition.tms_eval import TOLERANCE, reproduced  # loads torch

    paper = results[0]["paper"]
    shown = {k: "n/a" if v is None else f"{v[0]:.3f} ± {v[1]:.3f}" for k, v in paper.items()}
    lines = [f"SPD on TMS {model} from random init (paper: MMCS {shown['mmcs']}, ML2R {shown['ml2r']}; "
             f"tolerance: MMCS and feature cos >= {TOLERANCE['mmcs']}, |ML2R - 1| <= "
             f"{TOLERANCE['ml2r']}, one alive W subcomponent per feature)",
             "seed   MMCS  ML2R  alive W/W^T  feature cos W (min)  W^T (min)  one-hot L0 W/W^T  "
             "seconds  reproduced"]
    for r in results:
        w, wt = r["layers"]
        lines.append(f"{r['tms']['seed']:>4}  {r['mmcs']:.3f}  {r['ml2r']:.3f}  {w['alive']:>5}/{wt['alive']:<5}"
                     f"  {w['feature_cos_mean']:.3f} ({w['feature_cos_min']:.3f})"
                     f"        {wt['feature_cos_mean']:.3f} ({wt['feature_cos_min']:.3f})"
                     f"  {w['one_hot_l0']:.1f}/{wt['one_hot_l0']:.1f}"
                     f"             {r['seconds']['tms'] + r['seconds']['spd']:>5.0f}  "
                     f"{'yes' if reproduced(r) else 'NO'}")
    lines.append(f"reproduced in {sum(map(reproduced, results))} of {len(results)} runs")
    return "\n".join(lines)


def run_tms_cli(args: argparse.Namespace) -> list[dict]:
    """Run the `tms` subcommand: one reproduction per seed, progress on stderr."""
    import torch

    from basisgraph.decomposition.tms import PRESETS
    from basisgraph.decomposition.tms_eval import reproduce

    torch.set_num_threads(1)  # tiny matrices: one thread is as fast and leaves the other core free
    tcfg, scfg = PRESETS[args.model]
    if args.steps is not None:
        try:
            scfg = replace(scfg, steps=int(args.steps))
        except ValueError:
            raise ConfigError("steps", args.steps, "an integer from 1 to 1000000") from None
    results = per_seed(args.seeds, tcfg, scfg, reproduce)
    print(json.dumps(results, indent=1) if args.json else format_tms(args.model, results))
    return results


def per_seed(seeds: str, target_cfg, spd_cfg, reproduce) -> list[dict]:
    """`reproduce(target_cfg, spd_cfg, progress)` at each of `seeds` (both configs take the seed),
    with one progress bar per seed and stage on stderr. Shared by `tms` and `resid`."""
    from basisgraph.decomposition.mlp import ProgressBar  # loads torch

    results = []
    for seed in _seeds(seeds):
        bars: dict[str, ProgressBar] = {}

        def progress(stage: str, done: int, total: int, seed=seed, bars=bars) -> None:
            bar = bars.setdefault(stage, ProgressBar(total, f"seed {seed}: {stage}", sys.stderr))
            bar(done)

        results.append(reproduce(replace(target_cfg, seed=seed), replace(spd_cfg, seed=seed), progress))
    return results
