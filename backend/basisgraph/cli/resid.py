"""`basisgraph resid`: reproduce the SPD paper's compressed-computation (residual MLP) result.

Steps: for each seed, train the residual MLP and decompose it from random initialisation
(decomposition/resid_mlp.py), then print one line per seed (one-hot L0, features with their own
W_in subcomponent, neuron-input cosine, alive subcomponents, seconds) beside the paper's
result, and whether each run meets the stated tolerance.
"""

from __future__ import annotations

import argparse
import json

from basisgraph.cli.tms import per_seed

__all__ = ["add_resid_parser", "run_resid_cli", "format_resid", "RESID_MODELS"]

# The presets of decomposition/resid_mlp.py, spelled here so the parser needs no torch
# (tests/test_resid_mlp.py checks them against RESID_PRESETS).
RESID_MODELS = ("20-10", "100-50")


def add_resid_parser(sub) -> None:
    """Register the `resid` subcommand on an argparse subparsers object."""
    r = sub.add_parser("resid", help="reproduce the SPD paper's residual-MLP (compressed computation) result")
    r.add_argument("--model", default="20-10", choices=list(RESID_MODELS),
                   help="features-neurons: 20-10 (fits this machine) or 100-50 (the paper's, slow)")
    r.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (target and SPD), at most 10")
    r.add_argument("--json", action="store_true", help="print the results as JSON")


def format_resid(model: str, results: list[dict]) -> str:
    """One line per seed and the paper's result."""
    from basisgraph.decomposition.resid_mlp import RESID_TOLERANCE, resid_reproduced  # loads torch

    tol = RESID_TOLERANCE
    lines = [f"SPD on the residual MLP {model} from random init (paper, 100-50: one W_in subcomponent "
             f"per feature; tolerance: one-hot L0 within {tol['one_hot_l0']} of 1, own subcomponent "
             f"for >= {tol['own_fraction']:.0%} of features, neuron-input cos >= {tol['neuron_cos']})",
             "seed  one-hot L0 in/out  own   neuron cos (min)  alive in/out  seconds  reproduced"]
    for r in results:
        lines.append(f"{r['resid']['seed']:>4}  {r['one_hot_l0_in']:>6.2f}/{r['one_hot_l0_out']:<6.2f}"
                     f"     {r['own_fraction']:.2f}  {r['neuron_cos_mean']:.3f} ({r['neuron_cos_min']:.3f})"
                     f"     {r['alive_in']:>4}/{r['alive_out']:<4}    {r['seconds']['target'] + r['seconds']['spd']:>5.0f}"
                     f"  {'yes' if resid_reproduced(r) else 'NO'}")
    lines.append(f"reproduced in {sum(map(resid_reproduced, results))} of {len(results)} runs")
    return "\n".join(lines)


def run_resid_cli(args: argparse.Namespace) -> list[dict]:
    """Run the `resid` subcommand: one reproduction per seed, progress on stderr."""
    import torch

    from basisgraph.decomposition.resid_mlp import RESID_PRESETS, reproduce_resid

    torch.set_num_threads(1)  # small matrices: one thread leaves the other core free
    rcfg, scfg = RESID_PRESETS[args.model]
    results = per_seed(args.seeds, rcfg, scfg, reproduce_resid)
    print(json.dumps(results, indent=1) if args.json else format_resid(args.model, results))
    return results
