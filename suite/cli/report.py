"""dnas report | quickstart: comparison reports, and the quickstart job that ends in one."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from suite.errors import DnasError

from .common import print_json, add_json


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report; --out is checked before any run is read, and runs that cannot be read are
    listed in the report and named on stderr, one line each (an error only when none can be read)."""
    from reports.html import check_out_dir, rank_section, write_report
    from reports.load import load, unreadable

    check_out_dir(args.out, force=args.force)  # fail before the runs are read, let alone anything written
    results = load(*args.runs)
    unknown = [m for m in args.metric or () if m not in results.runs.columns]
    if unknown:
        from reports.tables import default_metrics

        raise DnasError(f"--metric {unknown[0]} is not a column of these runs: choose from "
                        f"{', '.join(default_metrics(results.runs)) or 'none (no run has a metric yet)'}")
    hardware = None
    if args.hardware:
        from reports.hardware import read_hardware

        hardware = read_hardware(args.hardware, args.hardware_target)
    elif args.hardware_target:
        raise DnasError("--hardware-target names a target of a --hardware table; give the table with --hardware FILE")
    if args.tensorboard:
        from suite.tensorboard import export_run

        readable = results.runs[results.runs["status"] != "unreadable"]
        streams = [export_run(p, args.tensorboard) for p in readable["path"]]
        if not args.json:
            print(f"tensorboard: {len(streams)} event stream(s) under {args.tensorboard} "
                  f"(tensorboard --logdir {args.tensorboard})")
    extra = [s for s in (rank_section(results.runs),) if s is not None]
    path = write_report(results, args.out, title=args.title, sections=extra, metrics=args.metric or None,
                        force=args.force, hardware=hardware, template=args.template)
    runs = results.runs
    skipped = unreadable(runs)
    for why in skipped:
        print(f"dnas: warning: {why} (listed as unreadable, left out of the statistics)", file=sys.stderr)
    if args.json:
        print_json({"report": str(path), "runs": len(runs), "complete": int(runs["complete"].sum()),
                     "unreadable": skipped})
    else:
        print(f"report: {path}  ({len(runs)} run{'s' * (len(runs) != 1)}, {int(runs['complete'].sum())} complete"
              + (f", {len(skipped)} unreadable" if skipped else "") + "; "
              f"tables and figures in {path.parent / 'tables'} and {path.parent / 'figures'})")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    import resource
    import time

    from suite.quickstart import METHODS, QuickstartConfig, notes, record_time, run_quickstart

    cfg = QuickstartConfig(methods=tuple(args.methods.split(",")) if args.methods else METHODS,
                           seeds=tuple(range(args.seeds)), search_epochs=args.epochs, eval_epochs=args.eval_epochs,
                           bench=args.bench)
    from reports.html import check_out_dir

    # A directory holding a quickstart's manifest is the quickstart's own, report included (also one
    # written before reports left a marker); any other must be new or empty (or a report's own),
    # checked now, before minutes of searching. Either way the report then goes into a directory
    # that is the quickstart's.
    if not (Path(args.out) / "quickstart.json").is_file():
        check_out_dir(args.out, forceable=False)
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
    n_dnas = sum(1 for m in cfg.methods if m != "random")
    title = f"dnas-suite quickstart: {n_dnas} differentiable NAS method{'s' * (n_dnas != 1)}" \
        + (" and random search" if "random" in cfg.methods else "") + " on NB201"
    path = write_report(loaded, args.out, title=title,
                        notes=notes(cfg, ", ".join(versions) or None, total_wall, total_cpu, invocations),
                        sections=extra, force=True, forceable=False)
    failed = [r for r in results if r.get("error")]
    if args.json:
        print_json({"report": str(path), "runs": str(os.path.join(args.out, "runs")), "wall_time_s": wall,
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
    sp.add_argument("--tensorboard", metavar="DIR", help="also write every run's epochs as a TensorBoard event "
                    "stream under DIR/<run name>, the same scalars --tensorboard writes live (needs: pip install "
                    "'dnas-suite[tensorboard]')")
    sp.add_argument("--template", metavar="FILE", help="a Jinja2 template for report.html in place of the shipped "
                    "one (reports/templates/report.html.j2: its variables are listed at its top)")
    sp.add_argument("--hardware", metavar="FILE", help="an HW-NAS-Bench-style table (parquet or CSV: arch_idx, "
                    "device, framework, task, lat_ms_median, energy_mj): adds the found cells' latency and energy "
                    "and an accuracy-vs-latency figure with the benchmark's Pareto front")
    sp.add_argument("--hardware-target", dest="hardware_target", metavar="DEVICE/FRAMEWORK/TASK",
                    help="which target of --hardware to read, e.g. pi5/onnx/cifar100 (needed when it holds several)")
    sp.add_argument("--force", action="store_true",
                    help="write into an --out that is neither new, empty nor an earlier report's: files named as "
                         "the report's (report.html, tables/*, figures/*) are overwritten, others left alone; "
                         "without it such an --out is refused before anything is written")
    add_json(sp)
    sp.set_defaults(func=cmd_report)

    from suite.quickstart import METHODS, QuickstartConfig

    qs = QuickstartConfig()
    sp = sub.add_parser("quickstart", help="the main job: 8 methods and random search x 2 seeds on digits, looked up in NB201, "
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
