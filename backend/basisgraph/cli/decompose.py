"""`basisgraph decompose`: train the MLP, decompose it with SPD, print the table and the recovery.

Steps:
1. Pick the training target (`--target`: mlp.TARGETS) and the SPD start (`--init`), and the
   SPD step count if given; every other setting is the default of TrainConfig / SPDConfig.
2. Train and decompose (or load both from the cache), drawing progress bars on stderr, and
   train the default SAEs.
3. Print the trained-model table (decomposition/table.py) and the stricter recovery report
   (decomposition/recovery.py, in the table's read-out as `recovery_strict`): composites beyond the animal direction, ablation checks.
"""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from basisgraph.config import Config, ConfigError
from basisgraph.core.study import get_study
from basisgraph.decomposition.mlp import TARGETS
from basisgraph.decomposition.readout import readout
from basisgraph.decomposition.spd import INITS, SPDConfig, decompose
from basisgraph.decomposition.table import default_saes, format_trained_table, trained_table

__all__ = ["add_decompose_parser", "run_decompose_command", "format_recovery"]


def add_decompose_parser(sub, add_config_flags) -> None:
    """Register the `decompose` subcommand (with the configuration flags)."""
    d = sub.add_parser("decompose", help="train an MLP on the circuits, decompose it with SPD (cached) "
                       "and print the trained-model table with the spd node set")
    d.add_argument("--steps", default=None, help=f"SPD steps (default {SPDConfig().steps})")
    d.add_argument("--target", default="aligned", choices=list(TARGETS),
                   help="how the MLP is trained: aligned (default) or superposed (no unit is one circuit's reader)")
    d.add_argument("--init", default=None, choices=list(INITS),
                   help=f"SPD start (default {SPDConfig().init}; the paper: random)")
    d.add_argument("--json", action="store_true", help="print the table, read-out and recovery as JSON")
    add_config_flags(d)


def format_recovery(rep: dict) -> str:
    """The recovery report as text: per family, and each ablation failure named."""
    r = rep["rules"]
    lines = [f"recovered (|cos| > {r['cos']}; composites also nearer the composite than the animal by "
             f"{r['margin_fraction']} of the gap) and causal (ablation changes its circuit >= "
             f"{r['ablate_own']:.0%}, every unrelated one <= {r['ablate_other']:.0%}):"]
    for fam, f in rep["families"].items():
        lines.append(f"  {fam}: {f['recovered']}/{f['circuits']} recovered "
                     f"({f['recovered_cos']} by |cos| alone), {f['recovered_and_causal']} causal")
    return "\n".join(lines)


def run_decompose_command(cfg: Config, steps: str | None = None, as_json: bool = False,
                          target: str = "aligned", init: str | None = None) -> dict:
    """`basisgraph decompose`: train and decompose (or load both), then print the table."""
    scfg = SPDConfig() if init is None else SPDConfig(init=init)
    if steps is not None:
        try:
            value = int(steps)
        except ValueError:
            raise ConfigError("steps", steps, "an integer from 1 to 10000000") from None
        scfg = replace(scfg, steps=value)
    tcfg = TARGETS[target]
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast and leaves the other core free
    study = get_study(cfg)
    run = decompose(cfg, tcfg, scfg, train=True, progress=True)
    ro = readout(run, study)
    t = trained_table(cfg, tcfg, scfg, train=True, progress=True, run=run, ro=ro,
                      sae_cfgs=default_saes(cfg))
    rep = t["readout"]["recovery_strict"]
    print(json.dumps(t, indent=1) if as_json else format_trained_table(t) + "\n\n" + format_recovery(rep))
    return t
