"""dnas bench info | query | best | convert | import: tabular benchmarks."""
from __future__ import annotations

import argparse
from typing import Any

from suite.errors import DnasError

from .common import arch_arg, count_at_least, fmt_value, parse_pairs, print_json, seed_arg, add_json


def cmd_bench_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.locate import scan

    if args.path and Path(args.path).expanduser().exists() and not Path(args.path).expanduser().is_dir():
        raise DnasError(f"{args.path} is a file: give the directory that holds the benchmarks (default $TORCH_HOME)")
    info = scan(args.path)
    if args.json:
        print_json(info)
        return 0
    print(f"benchmark directory: {info['root']}" + ("" if info["exists"] else " (does not exist)"))
    if not info["found"]:
        print("  no benchmarks found")
    for f in info["found"]:
        if f["kind"] == "dnas-store":
            print(f"  [store]    {f['path']}: {f['space']} {f['version']}, datasets {', '.join(f['datasets'])}, "
                  f"epochs {f['epochs']}")
        elif f["kind"] == "nats-fast-dir":
            meta = "" if f["meta"] else ", MISSING meta.pickle.pbz2"
            print(f"  [official] {f['path']}: NATS-Bench {f['space']} fast-mode dir, {f['records']}/{f['of']} "
                  f"records{meta}")
        else:
            print(f"  [official] {f['path']}: NATS-Bench {f['space']} archive, {f['size_mb']} MB")
    for m in info["missing"]:
        print(f"  missing {m['space']}: {' or '.join(m['files'])}\n    {m['how']}")
    for b in info["builtin"]:
        print(f"built-in table '{b['name']}' (--bench {b['name']}, no download): {b['space']} {b['version']}, "
              f"{b['holds']}\n    {', '.join(b['columns'])}")
    return 0


def _open(path: str):
    import benchmarks

    return benchmarks.open(path)


def cmd_bench_query(args: argparse.Namespace) -> int:
    b = _open(args.bench)
    arch = arch_arg(args.arch)
    if args.metric:
        value = b.query(arch, args.dataset, args.metric, args.epochs, seed_arg(args.seed), args.iepoch)
        result: dict[str, Any] = {args.metric: value}
    else:
        result = b.record(arch, args.dataset, args.epochs, seed_arg(args.seed), args.iepoch)
    index = b.index(arch)
    cost = b.cost(index, args.dataset, args.epochs) if not args.metric and b.has_cost(args.dataset, args.epochs) else {}
    if args.json:
        print_json({"index": index, "arch": b.arch_at(index), "dataset": args.dataset, "epochs": args.epochs,
                     "seed": args.seed, "iepoch": args.iepoch, "metrics": result, "cost": cost,
                     "version": b.version})
        return 0
    print(f"[{index}] {b.arch_at(index)}  ({b.version}, {args.dataset}, epochs={args.epochs}, seed={args.seed})")
    for k, v in {**result, **cost}.items():
        print(f"  {k:<20} {fmt_value(v)}")
    return 0


def cmd_bench_best(args: argparse.Namespace) -> int:
    b = _open(args.bench)
    best = b.best(args.dataset, args.metric, args.epochs, seed=seed_arg(args.seed), mode=args.mode,
                  flop_max=args.flop_max, param_max=args.param_max)
    if args.json:
        print_json({"index": best.index, "arch": best.arch, "metric": args.metric, "value": best.value,
                     "dataset": args.dataset, "epochs": args.epochs, "version": b.version})
    else:
        print(f"best {args.metric} on {args.dataset} (epochs={args.epochs}): {best.value:.4f}\n"
              f"  [{best.index}] {best.arch}")
    return 0


def cmd_bench_convert(args: argparse.Namespace) -> int:
    from benchmarks.convert import convert_nats

    out = convert_nats(args.nats, args.space, args.out, workers=args.workers, overwrite=args.overwrite,
                       progress=not args.json)
    summary = _open(str(out)).describe()
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {out}: {summary['space']} {summary['version']}, {summary['n_with_records']}/"
              f"{summary['n_archs']} archs with records")
    return 0


def cmd_bench_import(args: argparse.Namespace) -> int:
    import numpy as np

    from benchmarks.importer import import_table

    from benchmarks.importer import describe_dropped

    metrics = parse_pairs(args.metric, "--metric")
    out = import_table(args.file, arch_column=args.arch_column, metrics=metrics, dataset=args.dataset,
                       epochs=args.epochs, version=args.version, out=args.out, space=args.space,
                       arch_format=args.arch_format, order=args.order, where=parse_pairs(args.where, "--where"),
                       json_key=args.json_key, aggregate=args.aggregate, overwrite=args.overwrite,
                       drop_invalid=args.drop_invalid)
    b = _open(str(out))
    counts = {m: int((~np.isnan(b.query_many("all", args.dataset, m, args.epochs))).sum()) for m in metrics}
    group = next(g for g in b.meta["groups"] if (g["dataset"], g["epochs"]) == (args.dataset, args.epochs))
    dropped = group["config"]["imported"].get("dropped") or {}
    if args.json:
        print_json({"out": str(out), "dataset": args.dataset, "epochs": args.epochs, "archs_with_values": counts,
                     "dropped": dropped})
    else:
        print(f"imported into {out} ({args.dataset}, epochs={args.epochs}, {args.version}): "
              + ", ".join(f"{m} for {n} archs" for m, n in counts.items()))
        if dropped:
            print(f"  left out: {describe_dropped(dropped)}")
    return 0


def add_parsers(sub: Any) -> None:
    from benchmarks.metrics import ARCH_FORMATS

    bench = sub.add_parser("bench", help="tabular benchmarks: find, convert, import, query")
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    sp = bsub.add_parser("info", help="list benchmarks in $TORCH_HOME (or PATH) and what to download")
    sp.add_argument("path", nargs="?", help="directory to scan (default: $TORCH_HOME, else ~/.torch)")
    add_json(sp)
    sp.set_defaults(func=cmd_bench_info)

    def query_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--bench", required=True, help="a store made by 'dnas bench convert' or 'import', or a "
                                                       "built-in table ('nb201')")
        sp.add_argument("--dataset", required=True, help="cifar10-valid, cifar10, cifar100 or ImageNet16-120")
        sp.add_argument("--epochs", required=True, type=int,
                        help="training schedule (official hp): 12 or 200 for tss; 1, 12 or 90 for sss")
        sp.add_argument("--seed", default="mean", help="'mean' over seeds (default) or one seed, e.g. 777")

    sp = bsub.add_parser("query", help="metrics of one architecture")
    sp.add_argument("--arch", required=True, help="official string or index")
    query_args(sp)
    sp.add_argument("--metric", help="one metric (default: all, plus cost)")
    sp.add_argument("--iepoch", type=int, help="read after this epoch (0-based; default: last)")
    add_json(sp)
    sp.set_defaults(func=cmd_bench_query)

    sp = bsub.add_parser("best", help="the best architecture for a metric")
    query_args(sp)
    sp.add_argument("--metric", required=True, help="e.g. test-accuracy, valid-accuracy")
    sp.add_argument("--mode", choices=["max", "min"], help="default: max for accuracies, min for losses/times")
    sp.add_argument("--flop-max", type=float, help="only archs with at most this many MFLOPs")
    sp.add_argument("--param-max", type=float, help="only archs with at most this many M params")
    add_json(sp)
    sp.set_defaults(func=cmd_bench_best)

    sp = bsub.add_parser("convert", help="convert official NATS-Bench files into a fast store")
    sp.add_argument("--nats", required=True, help="NATS-*-simple/ directory or NATS-*.pickle.pbz2 archive")
    sp.add_argument("--space", required=True, choices=["tss", "sss"])
    sp.add_argument("--out", required=True, help="store directory to create")
    sp.add_argument("--workers", type=count_at_least(1), help="processes (default: all cores)")
    sp.add_argument("--overwrite", action="store_true",
                    help="replace a store already at --out (never anything else)")
    add_json(sp)
    sp.set_defaults(func=cmd_bench_convert)

    sp = bsub.add_parser("import", help="import a published table (.csv, .parquet, .json)")
    sp.add_argument("file")
    sp.add_argument("--arch-column", required=True, help="column naming the architecture")
    sp.add_argument("--arch-format", default="auto", choices=ARCH_FORMATS,
                    help="string, index, ops (our op codes) or naslib (NASLib op codes/edge order)")
    sp.add_argument("--metric", action="append", required=True, metavar="NAME=COLUMN",
                    help="store COLUMN as metric NAME (repeatable), e.g. test-accuracy=CIFAR10TestAccuracy200Epochs")
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--epochs", required=True, type=count_at_least(1), help="training epochs the numbers come from")
    sp.add_argument("--version", required=True, help="benchmark version tag kept beside the numbers")
    sp.add_argument("--out", required=True, help="store directory (an existing import store gains a group)")
    sp.add_argument("--space", default="tss", choices=["tss", "sss"])
    sp.add_argument("--order", help="official index order: NATS meta.pickle.pbz2, its directory, or a store "
                                    "(default: found in $TORCH_HOME)")
    sp.add_argument("--where", action="append", metavar="COL=VALUE", help="keep only rows with COL == VALUE")
    sp.add_argument("--json-key", help="dotted key of the records inside a JSON file, e.g. cifar10")
    sp.add_argument("--aggregate", default="error", choices=["error", "mean", "first"],
                    help="what to do with several rows per arch (default: error)")
    sp.add_argument("--drop-invalid", dest="drop_invalid", action="store_true",
                    help="leave out cells that are empty, NaN, not numbers or not finite (default: refuse them); "
                         "what was left out is reported and kept in the store's metadata")
    sp.add_argument("--overwrite", action="store_true",
                    help="replace the same dataset/epochs group, or a store of ours that cannot take it")
    add_json(sp)
    sp.set_defaults(func=cmd_bench_import)
