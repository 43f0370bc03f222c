"""Command line: the side-by-side table, single graphs, the server and the benchmark.

Every subcommand turns its flags into a Config with the same validation as the API. Bad input
exits with status 2 and one line naming the field and its allowed range, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn

from basisgraph.cli.commands import (
    DECOMPOSE_TARGETS,
    SPD_INITS,
    add_sweep_parser,
    add_train_parser,
    learned_tol,
    run_decompose_command,
    run_sweep_cli,
    run_train_args,
)
from basisgraph.cli.resid import add_resid_parser, run_resid_cli
from basisgraph.cli.tms import add_tms_parser, run_tms_cli
from basisgraph.config import FIELD_HELP, PRESETS, Config, ConfigError, parse_config
from basisgraph.core.graphs import panel
from basisgraph.core.policies import format_policies, residual_policies
from basisgraph.core.seeds import MAX_SEEDS, check_seeds, table_across_seeds
from basisgraph.dictionaries.learned import format_learned
from basisgraph.fmt import format_count
from basisgraph.jobs import trained as trained_jobs
from basisgraph.share.graphfiles import write_panel
from basisgraph.share.htmlexport import export_html
from basisgraph.web.app import serve

__all__ = ["main", "format_table", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, status 2
        self.exit(2, f"basisgraph: error: {message}\n")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--preset", default=None, help=FIELD_HELP["preset"] + f" ({', '.join(PRESETS)})")
    for name, field in Config.model_fields.items():
        if name == "preset":
            continue
        # Strings here, so a non-number reaches the Config check and its one-line message.
        g.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar="X",
                       help=f"{FIELD_HELP[name]} (default {field.default})")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the `basisgraph` command."""
    p = _Parser(prog="basisgraph", description="Edge counts of attribution graphs under "
                "several node sets of one planted model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("table", help="print the side-by-side edge-count table")
    t.add_argument("--json", action="store_true", help="print the JSON contract instead")
    t.add_argument("--seeds", default="1", help="seeds from --seed on; cells add their median and "
                   f"range across them (1-{MAX_SEEDS})")
    _add_config_flags(t)
    r = sub.add_parser("policies", help="print the animal-dictionary cells under each residual "
                       "policy (minnorm, sparse, error) side by side")
    r.add_argument("--json", action="store_true", help="print JSON instead")
    _add_config_flags(r)
    g = sub.add_parser("graph", help="write one attribution graph")
    g.add_argument("--basis", required=True, help="node set id: neuron, animal, attribute, half, mixed")
    g.add_argument("--circuit", required=True, help="circuit id, e.g. animal:elephant")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--input", default=None, help="example input id, e.g. cute-bunny")
    src.add_argument("--dataset", action="store_true", help="mean over the whole dataset (default)")
    g.add_argument("--format", default="json", choices=["json", "graphml", "csv"])
    g.add_argument("--top", default="40", help="nodes listed individually (1-2000)")
    g.add_argument("--output", "-o", default="-", help="file to write, - for stdout")
    _add_config_flags(g)
    s = sub.add_parser("serve", help="serve the API and the page")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", default="8000")
    e = sub.add_parser("export", help="write the page as one self-contained HTML file (works offline)")
    e.add_argument("--html", required=True, metavar="FILE", help="the .html file to write")
    e.add_argument("--circuit", default=None, help="circuit whose graphs to carry (default: the first)")
    e.add_argument("--input", default=None, help="example input to carry besides the dataset")
    e.add_argument("--view", default="local", choices=["local", "global"], help="count shown first")
    e.add_argument("--model", default="planted", choices=["planted", "trained"],
                   help="the planted model, or the trained MLP (built by `basisgraph decompose`)")
    _add_config_flags(e)
    add_train_parser(sub, _add_config_flags)
    add_sweep_parser(sub, _add_config_flags)
    d = sub.add_parser("decompose", help="train an MLP on the circuits, decompose it with SPD (cached) "
                       "and print the trained-model table with the spd node set")
    d.add_argument("--steps", default=None, help="SPD steps (default 3000)")
    d.add_argument("--target", default="aligned", choices=list(DECOMPOSE_TARGETS),
                   help="how the MLP is trained: aligned (default) or superposed (no unit is one circuit's reader)")
    d.add_argument("--init", default=None, choices=list(SPD_INITS),
                   help="SPD start (default neurons+data; the paper: random)")
    d.add_argument("--json", action="store_true", help="print the table, read-out and recovery as JSON")
    _add_config_flags(d)
    add_tms_parser(sub)
    add_resid_parser(sub)
    b = sub.add_parser("bench", help="time the table, the naive loop and a large model")
    b.add_argument("--quick", action="store_true", help="skip the N = 100000 run")
    return p


def format_table(t: dict) -> str:
    """The table as text: families as rows, node sets as columns, 'local / global' cells."""
    bases = [b["id"] for b in t["bases"]]
    cells = {(c["basis"], c["family"]): c for c in t["cells"]}

    num = format_count
    width = max(16, *(len(b) + 2 for b in bases))
    lines = [f"edge counts, local / global (coverage tau = {t['config']['coverage']})", "",
             "family".ljust(11) + "".join(b.rjust(width) for b in bases)]
    for fam in t["families"]:
        row = fam.ljust(11)
        for b in bases:
            c = cells[(b, fam)]
            row += f"{num(c['local_edges_median'])} / {num(c['global_edges_median'])}".rjust(width)
        lines.append(row)
    lines += ["", "error share (median over circuits of |error node| / total |attribution|)"]
    for fam in t["families"]:
        lines.append(fam.ljust(11) + "".join(
            _share(cells[(b, fam)].get("error_share_median")).rjust(width) for b in bases))
    if "seeds" in t:
        lines += ["", f"across seeds {t['seeds'][0]}-{t['seeds'][-1]}: median [min-max], local / global",
                  "family".ljust(11) + "".join(b.rjust(32) for b in bases)]
        for fam in t["families"]:
            lines.append(fam.ljust(11) + "".join(
                _spread(cells[(b, fam)]["across_seeds"]).rjust(32) for b in bases))
    shares = [cells[("half", fam)]["own_share_median"] for fam in t["families"]]
    lines += ["", "own share in half: " + ", ".join(
        f"{fam} {'-' if x is None else format(x, '.2f')}" for fam, x in zip(t["families"], shares))]
    lines.append("atoms".ljust(11) + "".join(str(b["atoms"]).rjust(width) for b in t["bases"]))
    lines.append("|ĝD|/|a|".ljust(11) + "".join(
        f"{b['reconstruction_norm_ratio']:.3g}".rjust(width) for b in t["bases"]))
    lines.append("")
    lines.append("local: median over inputs where the circuit fires; global: the same rule on the "
                 "mean |edge| over the dataset. mixed is not a dictionary (|ĝD|/|a| ~ 2).")
    oracles = [b["id"] for b in t["bases"] if b.get("oracle")]
    if oracles:
        lines.append(f"{', '.join(oracles)}: {t['bases'][bases.index(oracles[0])]['oracle']}; its "
                     "error node holds the interference it ignores, never counted as an edge.")
    if "residual" in t["config"]:
        lines.append(f"residual = {t['config']['residual']}, overlay_sampling = "
                     f"{t['config']['overlay_sampling']}")
    return "\n".join(lines)


def _spread(across: dict) -> str:
    """'m [lo-hi] / m [lo-hi]' of a cell's local and global counts across seeds."""
    def one(d: dict | None) -> str:
        if d is None:
            return "-"
        num = [format_count(d[k]) for k in ("median", "min", "max")]
        return f"{num[0]} [{num[1]}-{num[2]}]"
    return f"{one(across['local_edges'])} / {one(across['global_edges'])}"


def _share(x: float | None) -> str:
    """An error share for the text table: '-' when no circuit fires, else two decimals."""
    if x is None:
        return "-"
    return "0" if x == 0 else (f"{x:.2f}" if x >= 0.005 else f"{x:.0e}")


def _config(args: argparse.Namespace) -> Config:
    return parse_config({k: getattr(args, k, None) for k in Config.model_fields})


def _int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(name, text, f"an integer from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, value, f"an integer from {lo} to {hi}")
    return value


def _run(args: argparse.Namespace) -> int:
    if args.command == "table":
        t = table_across_seeds(_config(args), check_seeds(args.seeds))
        print(json.dumps(t, indent=1) if args.json else format_table(t))
    elif args.command == "policies":
        doc = residual_policies(_config(args))
        print(json.dumps(doc, indent=1) if args.json else format_policies(doc))
    elif args.command == "graph":
        p = panel(_config(args), args.basis, args.circuit, args.input or "dataset",
                  _int("top", args.top, 1, 2000))
        text = write_panel(p, args.format)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
    elif args.command == "export":
        cfg = _config(args)
        if args.model == "trained":
            trained_jobs.check_size(cfg)
            if not trained_jobs.is_cached(cfg, trained_jobs.SETTINGS):
                raise ConfigError("model", "trained", "planted, or trained once `basisgraph decompose` "
                                  "with the same configuration has built it")
        page = export_html(cfg, {"circuit": args.circuit, "input": args.input, "view": args.view,
                                 "model": args.model})
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(page)
    elif args.command == "serve":
        serve(args.host, _int("port", args.port, 1, 65535))
    elif args.command == "train-sae":
        cfg = _config(args)
        scfgs = run_train_args(cfg, args)
        if args.table:
            from basisgraph.dictionaries.table import sae_table  # loads torch

            t = sae_table(cfg, scfgs, learned=True, tol=learned_tol(args.learned_tol),
                          fit=args.learned_fit)
            print(json.dumps(t, indent=1) if args.json else
                  "\n" + format_table(t) + "\n\n" + format_learned(t["learned"]))
    elif args.command == "sae-sweep":
        run_sweep_cli(_config(args), args.sweep_kind, args.widths, args.sparsities, args.sweep_steps,
                      args.sweep_seed, args.sweep_json)
    elif args.command == "decompose":
        run_decompose_command(_config(args), args.steps, args.json, args.target, args.init)
    elif args.command == "tms":
        run_tms_cli(args)
    elif args.command == "resid":
        run_resid_cli(args)
    elif args.command == "bench":
        from basisgraph.cli.bench import run_bench

        run_bench(quick=args.quick)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `basisgraph` console script."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"basisgraph: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `basisgraph table | head`: the reader left, nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's flush quiet
        return 0
    except OSError as exc:
        print(f"basisgraph: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
