"""dnas sweep [status]: a grid of searches and evaluations as one study."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from suite.errors import DnasError

from .common import add_tensorboard, count_at_least, finite_number, parse_pairs, print_json


def _share(text: str) -> float:
    """An argparse type: a GPU share, a finite number >= 0 (NaN would pass every comparison unnoticed)."""
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0, 1 or 1/k such as 0.5), got {text!r}")
    return value


def cmd_sweep(args: argparse.Namespace) -> int:
    """``dnas sweep SPEC`` runs a sweep; ``dnas sweep status SPEC|OUT`` shows where it is."""
    words = args.target
    if len(words) == 2 and words[0] == "status":
        return _sweep_status(words[1], args)
    if words == ["status"]:
        raise DnasError("dnas sweep status needs the sweep: give its SPEC.yaml or the directory it writes to "
                        "(dnas sweep status SPEC.yaml|OUT)")
    if len(words) != 1:
        raise DnasError("usage: dnas sweep SPEC.yaml [options], or dnas sweep status SPEC.yaml|OUT")
    from suite.io import out_of_space
    from suite.sweep import load_sweep, run_sweep
    from suite.sweep.progress import as_json, summary

    sets, eval_sets = parse_pairs(args.set, "--set"), parse_pairs(args.eval_set, "--eval-set")
    sweep = load_sweep(words[0], out=args.out, hparams=sets, overrides=eval_sets)
    try:
        states = run_sweep(sweep, retries=args.retries, retry_failed=args.retry_failed, progress=not args.json,
                           invocation={"set": args.set or [], "eval_set": args.eval_set or []},
                           kind=args.executor, address=args.address, workers=args.workers,
                           cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, force=args.force,
                           tensorboard=args.tensorboard)
    except KeyboardInterrupt:
        print(f"dnas: interrupted: every run recorded where it stopped; run the same command again to resume "
              f"(state: dnas sweep status {sweep.out})", file=sys.stderr)
        return 130
    except OSError as exc:
        if not out_of_space(exc):
            raise
        raise DnasError(f"no space left on the device of {exc.filename or sweep.out}: free space there (or give "
                        f"another --out), then run the same command again to resume (state: dnas sweep status "
                        f"{sweep.out})") from None
    bad = [rs for rs in states.values() if rs.state != "completed"]
    if args.json:
        print_json({"out": str(sweep.out), "runs": as_json(states)})
    else:
        print(f"sweep {sweep.out}: {summary(states)}")
        for rs in bad:
            print(f"  {rs.state:<11} {rs.spec.id}: {rs.reason or ''}")
    return 1 if bad else 0


def _sweep_status(target: str, args: argparse.Namespace) -> int:
    from pathlib import Path

    from suite.sweep import load_sweep, read_manifest, sweep_states
    from suite.sweep.progress import as_json, status_table

    if Path(target).is_dir():
        sweep = read_manifest(target)
    else:
        sweep = load_sweep(target, out=args.out, hparams=parse_pairs(args.set, "--set"),
                           overrides=parse_pairs(args.eval_set, "--eval-set"))
        if not sweep.out.is_dir():  # every run reads "queued": say why, and where it looked
            print(f"dnas: note: nothing started: the sweep's output directory {sweep.out} does not exist (a relative "
                  f"'out' is taken from the current directory; give --out to look elsewhere)", file=sys.stderr)
    states = sweep_states(sweep)
    if args.json:
        print_json({"out": str(sweep.out), "runs": as_json(states)})
    else:
        print(f"sweep {sweep.out}")
        print(status_table(states))
    return 0


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("sweep", help="methods x spaces x datasets x seeds (and evaluations) as one study; "
                                      "'dnas sweep status SPEC' shows where it is",
                        usage="dnas sweep [status] SPEC [options]",
                        description="Run a sweep spec (a YAML grid of searches and evaluations), or show its state "
                                    "with 'dnas sweep status SPEC.yaml' (or the output directory).")
    sp.add_argument("target", nargs="+", metavar="SPEC", help="the sweep's YAML spec (after 'status': the spec, or "
                                                              "the directory the sweep writes to)")
    sp.add_argument("--out", help="output directory (default: the spec's 'out', else runs/<spec name>)")
    sp.add_argument("--executor", choices=["local", "ray"], help="local worker processes (default) or a Ray cluster")
    sp.add_argument("--address", help="Ray cluster to join: auto (started with 'ray start') or HOST:PORT; "
                                      "default: start a local one")
    sp.add_argument("--workers", type=count_at_least(1), help="runs at once (local; default: one per core, or one per GPU)")
    sp.add_argument("--cpus-per-run", dest="cpus_per_run", type=count_at_least(1),
                    help="CPU cores (= intra-op threads) per run (default 1 on CPU; cores / GPUs with GPUs); "
                         "a resumed run keeps the count it started with")
    sp.add_argument("--gpus-per-run", dest="gpus_per_run", type=_share,
                    help="GPUs per run (default 1 where there are GPUs; 0.5 puts two runs on each GPU)")
    sp.add_argument("--force", action="store_true",
                    help="write into an --out that is not a sweep's (a non-empty directory without sweep.json, or "
                         "one whose sweep.json is not a dnas sweep record, which is replaced)")
    add_tensorboard(sp)
    sp.add_argument("--retries", type=count_at_least(0), help="tries again of a run that crashed or whose worker died (default 2)")
    sp.add_argument("--retry-failed", dest="retry_failed", action="store_true",
                    help="also resume runs that failed in an earlier invocation")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a search hyperparameter for every search")
    sp.add_argument("--eval-set", dest="eval_set", action="append", metavar="KEY=VALUE",
                    help="a protocol setting for every evaluation")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_sweep)
