"""dnas report | quickstart: comparison reports, and the quickstart job that ends in one."""
from __future__ import annotations

import argparse
import os
from typing import Any

from ._common import _print_json, add_json


def cmd_report(args: argparse.Namespace) -> int:
    from reports.html import rank_section, write_report
    from reports.load import load

    results = load(*args.runs)
    extra = [s for s in (rank_section(results.runs),) if s is not None]
    path = write_report(results, args.out, title=args.title, sections=extra, metrics=args.metric or None)
    runs = results.runs
    if args.json:
        _print_json({"report": str(path), "runs": len(runs), "complete": int(runs["complete"].sum())})
    else:
        print(f"report: {path}  ({len(runs)} run{'s' * (len(runs) != 1)}, {int(runs['complete'].sum())} complete; "
              f"tables and figures in {path.parent / 'tables'} and {path.parent / 'figures'})")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    import resource
    import time

    from suite.quickstart import METHODS, QuickstartConfig, notes, record_time, run_quickstart

    cfg = QuickstartConfig(methods=tuple(args.methods.split(",")) if args.methods else METHODS,
                           seeds=tuple(range(args.seeds)), search_epochs=args.epochs, eval_epochs=args.eval_epochs,
                           bench=args.bench)
    t0 = time.time()
    results = run_quickstart(args.out, cfg, workers=args.workers, progress=not args.json)
    wall = time.time() - t0
    use = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in use)
    total_wall, total_cpu, invocations = record_time(args.out, wall, cpu)
    from reports.html import benchmark_rank_section, rank_section, write_report
    from reports.load import load

    loaded = load(os.path.join(args.out, "runs"))
    versions = sorted(loaded.runs["bench_version"].dropna().unique())
    extra = [s for s in (rank_section(loaded.runs), benchmark_rank_section(cfg.bench)) if s is not None]
    path = write_report(loaded, args.out, title=f"dnas-suite quickstart: {len(cfg.methods)} differentiable NAS "
                                                  f"methods on NB201",
                        notes=notes(cfg, ", ".join(versions) or None, total_wall, total_cpu, invocations),
                        sections=extra)
    failed = [r for r in results if r.get("error")]
    if args.json:
        _print_json({"report": str(path), "runs": str(os.path.join(args.out, "runs")), "wall_time_s": wall,
                     "cpu_time_s": cpu, "failed": failed})
    else:
        for r in failed:
            print(f"  {r['method']} seed {r['seed']}: {r['error']}")
        print(f"quickstart done in {wall / 60:.1f} min ({cpu / 60:.1f} CPU-min); runs in "
              f"{os.path.join(args.out, 'runs')}\nreport: {path}")
    return 0


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("report", help="comparison report of run directories: report.html, tables, figures")
    sp.add_argument("runs", nargs="+", metavar="RUNS", help="run directories, folders holding runs, or globs")
    sp.add_argument("--out", required=True, help="directory for report.html, tables/ and figures/")
    sp.add_argument("--metric", action="append", help="compare only these columns (repeatable), e.g. "
                                                      "cifar10@200/test-accuracy, trained_test_accuracy")
    sp.add_argument("--title", help="report title")
    add_json(sp)
    sp.set_defaults(func=cmd_report)

    from suite.quickstart import METHODS, QuickstartConfig

    qs = QuickstartConfig()
    sp = sub.add_parser("quickstart", help="the main job: 8 methods x 2 seeds on digits, looked up in NB201, "
                                           "trained briefly, and a report (no download)")
    sp.add_argument("--out", default="quickstart", help="output directory; run again to resume (default quickstart/)")
    sp.add_argument("--methods", help=f"comma-separated (default: {','.join(METHODS)})")
    sp.add_argument("--seeds", type=int, default=len(qs.seeds), help="seeds 0..N-1 per method (default 2)")
    sp.add_argument("--epochs", type=int, default=qs.search_epochs, help="search epochs (default 5)")
    sp.add_argument("--eval-epochs", dest="eval_epochs", type=int, default=qs.eval_epochs,
                    help="epochs to train each found cell on digits (default 3; 0 skips training)")
    sp.add_argument("--bench", default=qs.bench, help="tabular NB201 store to look up in (default: the built-in nb201)")
    sp.add_argument("--workers", type=int, help="worker processes, one torch thread each (default: one per core)")
    add_json(sp)
    sp.set_defaults(func=cmd_quickstart)
