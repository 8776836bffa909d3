"""dnas baseline save | regress: regression baselines and verdicts."""
from __future__ import annotations

import argparse
import math
from typing import Any

from suite.errors import DnasError

from ._common import _pairs, _print_json


def _threshold(text: str) -> float | None:
    """An argparse type: a relative cost threshold (0.25 = +25 %) or 'off'."""
    if text == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.25 (= +25 %) or 'off', got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 or 'off', got {text!r}")
    return value


def _regress_settings(args: argparse.Namespace, base: Any) -> Any:
    """The baseline's verdict settings with what the command line changes."""
    import dataclasses

    changes: dict[str, Any] = {}
    if args.metric:
        changes["metrics"] = tuple(args.metric)
    if args.min_effect:
        effects = dict(base.min_effect)
        for name, value in _pairs(args.min_effect, "--min-effect").items():
            try:
                effects[name] = float(value)
            except ValueError:
                raise DnasError(f"--min-effect {name} takes a number, got {value!r}") from None
        changes["min_effect"] = effects
    for key in ("alpha", "rtol", "atol"):
        if getattr(args, key, None) is not None:
            changes[key] = getattr(args, key)
    for key in ("time_threshold", "memory_threshold"):
        value = getattr(args, key, "unset")
        if value != "unset":
            changes[key] = value
    return dataclasses.replace(base, **changes)


def cmd_baseline_save(args: argparse.Namespace) -> int:
    from reports.regress import Settings, collect, save_baseline

    snap = collect(*args.runs)
    settings = _regress_settings(args, Settings())
    path = save_baseline(snap, args.out, settings)
    groups = snap.groups()
    if args.json:
        _print_json({"baseline": str(path), "groups": [g.to_json() for g in groups], "runs": len(snap.runs),
                     "settings": settings.to_json()})
    else:
        print(f"wrote {path}: {len(snap.runs)} runs in {len(groups)} group(s)")
        for g in groups:
            print(f"  {g.label()}: seeds {', '.join(map(str, snap.seeds(g)))}")
    return 0


def published_epochs() -> dict[tuple[str, str], int]:
    """(method, space) -> the search epochs of the method's published protocol on that space."""
    from methods import list_methods, method_class
    from methods.base import COMMON_PARAMS

    out = {}
    for name in list_methods():
        cls, fixed = method_class(name)
        for space, defaults in cls.SPACE_DEFAULTS.items():
            out[(name, space)] = int({**defaults, **fixed}.get("epochs", COMMON_PARAMS["epochs"].default))
    return out


def cmd_regress(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports.regress import (Settings, collect, compare_changed, compare_published, compare_worse, compared,
                                 read_baseline, render, write_junit)

    published = args.baseline == "published" or args.baseline.endswith(".csv")
    cur = collect(*args.runs)
    if published:
        from reports.tables import load_references

        if args.mode == "changed":
            raise DnasError("published numbers have no per-epoch trajectories: use --mode worse with --baseline "
                            f"{args.baseline}")
        if args.baseline != "published" and not Path(args.baseline).is_file():
            raise DnasError(f"reference table {args.baseline} does not exist (the reviewed ones are in "
                            f"reports/references/)")
        settings = _regress_settings(args, Settings())
        verdicts = compare_published(cur, load_references(None if args.baseline == "published" else args.baseline),
                                     settings, protocol_epochs=published_epochs())
        source = "published references" if args.baseline == "published" else args.baseline
    else:
        base = read_baseline(args.baseline)
        settings = _regress_settings(args, base.settings)
        verdicts = compare_changed(base, cur, settings) if args.mode in ("changed", "both") else []
        if args.mode in ("worse", "both"):
            verdicts += compare_worse(base, cur, settings)
        source = f"baseline {args.baseline} ({len(base.runs)} runs in {len(base.groups())} groups)"
    if args.junit:
        write_junit(verdicts, args.junit, properties={"baseline": args.baseline, "mode": args.mode,
                                                      "runs": " ".join(map(str, args.runs))})
    failed = [v for v in verdicts if v.failed]
    if args.json:
        _print_json({"baseline": args.baseline, "mode": args.mode, "settings": settings.to_json(),
                     "verdicts": [v.to_json() for v in verdicts], "failed": len(failed)})
    else:
        print(f"{source}; runs: {len(cur.runs)} in {len(cur.groups())} group(s)")
        print(render(verdicts), end="")
        if compared(verdicts):
            print(f"{len(failed)} of {len(verdicts)} verdict(s) failed" if failed else
                  f"no regression ({len(verdicts)} verdict(s))")
    if not compared(verdicts):
        why = ("a published number is a test of a search on its dataset with its published protocol (e.g. "
               "DARTS-V1: CIFAR-10, 50 epochs, on a GPU)") if published else "name runs of the baseline's groups"
        raise DnasError(f"nothing to compare: every group is {' or '.join(sorted({v.status for v in verdicts}))}; "
                        f"{why}")
    return 1 if failed else 0


def add_parsers(sub: Any) -> None:
    def settings_args(sp: argparse.ArgumentParser) -> None:
        """Verdict settings: a new baseline stores them; dnas regress takes the baseline's unless given."""
        sp.add_argument("--metric", action="append", help="quality metric of the worse verdict (repeatable; default: "
                                                          "the looked-up cifar10 test accuracy), e.g. "
                                                          "cifar10@200/test-accuracy, derived_weight, valid_loss")
        sp.add_argument("--min-effect", dest="min_effect", action="append", metavar="METRIC=VALUE",
                        help="smallest mean change the wrong way that counts as worse (default 1.0 for accuracies "
                             "in %%, 0.01 for derived_weight, else 0)")
        sp.add_argument("--alpha", type=float, help="significance level of the one-sided tests (default 0.05)")
        sp.add_argument("--time-threshold", dest="time_threshold", type=_threshold, default=argparse.SUPPRESS,
                        metavar="X|off", help="relative search-time increase that counts as worse (default 1.0 = "
                                              "twice as slow: wall time on shared machines is noisy)")
        sp.add_argument("--memory-threshold", dest="memory_threshold", type=_threshold, default=argparse.SUPPRESS,
                        metavar="X|off", help="relative peak-memory increase that counts as worse (default 0.25)")

    sp = sub.add_parser("baseline", help="save runs as a regression baseline (plain text to commit)")
    bsub = sp.add_subparsers(dest="baseline_command", required=True)
    sp = bsub.add_parser("save", help="per group and seed: final numbers, per-epoch trajectory, config, environment")
    sp.add_argument("runs", nargs="+", metavar="RUNS", help="run directories, folders holding runs, or globs")
    sp.add_argument("--out", required=True, help="baseline file to write (JSON lines)")
    settings_args(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_baseline_save)

    sp = sub.add_parser("regress", help="compare runs with a baseline: changed (exact replay) and worse "
                                        "(statistics); exit 1 on a regression",
                        description="Compare runs with a baseline. The verdict settings (metrics, minimum effects, "
                                    "alpha, cost thresholds, tolerances) are the baseline's unless given here.")
    sp.add_argument("runs", nargs="+", metavar="RUNS", help="run directories, folders holding runs, or globs")
    sp.add_argument("--baseline", required=True, help="a file from 'dnas baseline save', 'published' (the reviewed "
                                                      "numbers in reports/references) or a reference CSV")
    sp.add_argument("--mode", choices=["changed", "worse", "both"], default="both",
                    help="changed: same seeds give the same numbers; worse: statistical tests and cost (default both)")
    sp.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML for CI servers")
    settings_args(sp)
    sp.add_argument("--rtol", type=float, help="relative tolerance of the changed verdict (default 1e-6)")
    sp.add_argument("--atol", type=float, help="absolute tolerance of the changed verdict (default 1e-9)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_regress)
