"""dnas baseline save | regress: regression baselines and verdicts."""
from __future__ import annotations

import argparse
import math
from typing import Any

from suite.errors import DnasError

from .common import finite_number, parse_pairs, print_json


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



def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The verdict settings the command line changes (minimum effects: added to the baseline's)."""
    changes: dict[str, Any] = {}
    if args.metric:
        changes["metrics"] = tuple(args.metric)
    if args.min_effect:
        effects = {}
        for name, value in parse_pairs(args.min_effect, "--min-effect").items():
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
    return changes


def cmd_baseline_save(args: argparse.Namespace) -> int:
    from reports.regress import Settings, collect, save_baseline

    import dataclasses

    settings = dataclasses.replace(Settings(), **_overrides(args))
    snap = collect(*args.runs)
    path = save_baseline(snap, args.out, settings, force=args.force)
    groups = snap.groups()
    if args.json:
        print_json({"baseline": str(path), "groups": [g.to_json() for g in groups], "runs": len(snap.runs),
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
    from reports.regress import regress, write_junit

    published = args.baseline == "published" or args.baseline.endswith(".csv")
    outcome = regress(args.runs, args.baseline, mode=args.mode, overrides=_overrides(args),
                      require_replay=args.require_replay, protocol_epochs=published_epochs() if published else None)
    if args.junit:
        write_junit(outcome.verdicts, args.junit, properties={"baseline": args.baseline, "mode": args.mode,
                                                              "runs": " ".join(map(str, args.runs))},
                    require_replay=args.require_replay)
    if args.json:
        print_json({"baseline": args.baseline, "mode": args.mode, "settings": outcome.settings.to_json(),
                     "verdicts": [v.to_json() for v in outcome.verdicts], "failed": len(outcome.failed),
                     "not_replayable": len(outcome.unreplayable)})
    else:
        print(outcome.text(), end="")
    return outcome.exit_code


def add_parsers(sub: Any) -> None:
    def settings_args(sp: argparse.ArgumentParser) -> None:
        """Verdict settings: a new baseline stores them; dnas regress takes the baseline's unless given."""
        sp.add_argument("--metric", action="append", help="quality metric of the worse verdict (repeatable; default: "
                                                          "the looked-up cifar10 test accuracy), e.g. "
                                                          "cifar10@200/test-accuracy, derived_weight, valid_loss")
        sp.add_argument("--min-effect", dest="min_effect", action="append", metavar="METRIC=VALUE",
                        help="smallest mean change the wrong way that counts as worse (default 1.0 for accuracies "
                             "in %%, 0.01 for derived_weight, else 0)")
        sp.add_argument("--alpha", type=finite_number, help="significance level of the one-sided tests (default 0.05)")
        sp.add_argument("--time-threshold", dest="time_threshold", type=_threshold, default=argparse.SUPPRESS,
                        metavar="X|off", help="relative search-time increase that counts as worse (default 1.0 = "
                                              "twice as slow: wall time on shared machines is noisy)")
        sp.add_argument("--memory-threshold", dest="memory_threshold", type=_threshold, default=argparse.SUPPRESS,
                        metavar="X|off", help="relative peak-memory increase that counts as worse (default 0.25)")

    sp = sub.add_parser("baseline", help="save runs as a regression baseline (plain text to commit)")
    bsub = sp.add_subparsers(dest="baseline_command", required=True)
    sp = bsub.add_parser("save", help="per group and seed: final numbers, per-epoch trajectory, config, environment")
    sp.add_argument("runs", nargs="+", metavar="RUNS", help="run directories, folders holding runs, or globs")
    sp.add_argument("--out", required=True, help="baseline file to write (JSON lines); an existing file is "
                                                  "replaced only when it is a baseline")
    sp.add_argument("--force", action="store_true", help="replace --out even when it is not a baseline")
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
    sp.add_argument("--require-replay", dest="require_replay", action="store_true",
                    help="fail when the exact replay is not possible here (runs and baseline made on different numerics "
                         "fingerprints: CPU, torch build, threads, device); default: say so and judge 'worse' only")
    settings_args(sp)
    sp.add_argument("--rtol", type=finite_number, help="relative tolerance of the changed verdict (default 1e-6)")
    sp.add_argument("--atol", type=finite_number, help="absolute tolerance of the changed verdict (default 1e-9)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_regress)
