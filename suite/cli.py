"""The ``dnas`` command line. Readable output by default, ``--json`` for scripts.

Errors are one line on stderr (``dnas: error: ...``) with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Sequence

from suite.errors import DnasError, NonFiniteLoss


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise DnasError(f"{flag} takes NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def _seed(text: str) -> str | int:
    return "mean" if text == "mean" else int(text)


def _arch(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def _print_json(obj: Any) -> None:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    print(json.dumps(clean(obj), indent=1))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "n/a" if v is None else str(v)


# ---- bench ----------------------------------------------------------------------------------

def cmd_bench_info(args: argparse.Namespace) -> int:
    from benchmarks.locate import scan

    info = scan(args.path)
    if args.json:
        _print_json(info)
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
    return 0


def _open(path: str):
    import benchmarks

    return benchmarks.open(path)


def cmd_bench_query(args: argparse.Namespace) -> int:
    b = _open(args.bench)
    arch = _arch(args.arch)
    if args.metric:
        value = b.query(arch, args.dataset, args.metric, args.epochs, _seed(args.seed), args.iepoch)
        result: dict[str, Any] = {args.metric: value}
    else:
        result = b.record(arch, args.dataset, args.epochs, _seed(args.seed), args.iepoch)
    index = b.index(arch)
    cost = {} if args.metric else b.cost(index, args.dataset, args.epochs)
    if args.json:
        _print_json({"index": index, "arch": b.arch_at(index), "dataset": args.dataset, "epochs": args.epochs,
                     "seed": args.seed, "iepoch": args.iepoch, "metrics": result, "cost": cost,
                     "version": b.version})
        return 0
    print(f"[{index}] {b.arch_at(index)}  ({b.version}, {args.dataset}, epochs={args.epochs}, seed={args.seed})")
    for k, v in {**result, **cost}.items():
        print(f"  {k:<20} {_fmt(v)}")
    return 0


def cmd_bench_best(args: argparse.Namespace) -> int:
    b = _open(args.bench)
    best = b.best(args.dataset, args.metric, args.epochs, seed=_seed(args.seed), mode=args.mode,
                  flop_max=args.flop_max, param_max=args.param_max)
    if args.json:
        _print_json({"index": best.index, "arch": best.arch, "metric": args.metric, "value": best.value,
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
        _print_json(summary)
    else:
        print(f"wrote {out}: {summary['space']} {summary['version']}, {summary['n_with_records']}/"
              f"{summary['n_archs']} archs with records")
    return 0


def cmd_bench_import(args: argparse.Namespace) -> int:
    import numpy as np

    from benchmarks.importer import import_table

    metrics = _pairs(args.metric, "--metric")
    out = import_table(args.file, arch_column=args.arch_column, metrics=metrics, dataset=args.dataset,
                       epochs=args.epochs, version=args.version, out=args.out, space=args.space,
                       arch_format=args.arch_format, order=args.order, where=_pairs(args.where, "--where"),
                       json_key=args.json_key, aggregate=args.aggregate)
    b = _open(str(out))
    counts = {m: int((~np.isnan(b.query_many("all", args.dataset, m, args.epochs))).sum()) for m in metrics}
    if args.json:
        _print_json({"out": str(out), "dataset": args.dataset, "epochs": args.epochs, "archs_with_values": counts})
    else:
        print(f"imported into {out} ({args.dataset}, epochs={args.epochs}, {args.version}): "
              + ", ".join(f"{m} for {n} archs" for m, n in counts.items()))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from suite.runner import SearchConfig, resume_search, run_search

    if args.resume:
        store = resume_search(args.resume, progress=not args.json)
    else:
        data: dict[str, Any] = {}
        if args.config:
            data = {k: v for k, v in vars(SearchConfig.from_yaml(args.config)).items()}
        for key in ("method", "space", "dataset", "data_dir", "protocol_dir", "bench", "seed", "device",
                    "channels_last", "amp", "out", "name"):
            value = getattr(args, key)
            if value is not None:
                data[key] = value
        hparams = dict(data.get("hparams") or {})
        hparams.update(_pairs(args.set, "--set"))
        if args.epochs is not None:
            hparams["epochs"] = args.epochs
        data["hparams"] = hparams
        if "method" not in data:
            raise DnasError("name a method with --method (see 'dnas list methods') or give a CONFIG.yaml")
        store = run_search(SearchConfig.from_dict(data), progress=not args.json)
    final = store.final or {}
    if args.json:
        _print_json({"run": str(store.path), "status": store.status.get("status"), **final})
    else:
        print(f"run {store.path}: {store.status.get('status')}\n  arch {final.get('arch')}")
        for k, v in (final.get("lookups") or {}).items():
            print(f"  {k:<40} {_fmt(v)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmarks.training import EvalConfig, resume_training, run_training

    if args.resume:
        store = resume_training(args.resume, progress=not args.json)
    else:
        if not args.protocol or not args.dataset:
            raise DnasError("--protocol and --dataset are required (or --resume RUN_DIR)")
        if bool(args.arch) == bool(args.from_run):
            raise DnasError("give the architecture with exactly one of --arch STR or --from-run RUN_DIR")
        arch = args.arch
        if args.from_run:
            from suite.runstore import open_run

            run = open_run(args.from_run)
            arch = (run.final or {}).get("arch")
            if not arch:
                raise DnasError(f"run {run.path} has no final architecture yet (status "
                                f"{run.status.get('status')}): finish or resume it first")
        overrides = _pairs(args.set, "--set")
        for flag in ("amp", "channels_last", "compile"):
            if getattr(args, flag):
                overrides[flag] = True
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        cfg = EvalConfig(arch, args.protocol, args.dataset, args.data_dir, args.protocol_dir, args.bench,
                         args.seed, args.device, args.out, args.name, overrides)
        store = run_training(cfg, progress=not args.json)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    final = store.final or {}
    if args.json:
        _print_json({"run": str(store.path), "status": store.status.get("status"), **final})
    else:
        print(f"run {store.path}: {store.status.get('status')}\n  arch {final.get('arch')}")
        for k, v in {**final.get("metrics", {}), **final.get("cost", {})}.items():
            print(f"  {k:<20} {_fmt(v)}")
        for k, v in (final.get("benchmark") or {}).items():
            print(f"  recorded {k:<11} {_fmt(v)}")
    return 0


def cmd_list_methods(args: argparse.Namespace) -> int:
    from methods import list_methods

    names = list_methods()
    if args.json:
        _print_json(names)
    else:
        print("\n".join(names) if names else "no methods registered yet")
    return 0


# ---- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from benchmarks.importer import ARCH_FORMATS

    p = argparse.ArgumentParser(prog="dnas", description="dnas-suite: differentiable NAS, evaluated on benchmarks")
    sub = p.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="tabular benchmarks: find, convert, import, query")
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    sp = bsub.add_parser("info", help="list benchmarks in $TORCH_HOME (or PATH) and what to download")
    sp.add_argument("path", nargs="?", help="directory to scan (default: $TORCH_HOME, else ~/.torch)")
    common(sp)
    sp.set_defaults(func=cmd_bench_info)

    def query_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--bench", required=True, help="a store made by 'dnas bench convert' or 'import'")
        sp.add_argument("--dataset", required=True, help="cifar10-valid, cifar10, cifar100 or ImageNet16-120")
        sp.add_argument("--epochs", required=True, type=int,
                        help="training schedule (official hp): 12 or 200 for tss; 1, 12 or 90 for sss")
        sp.add_argument("--seed", default="mean", help="'mean' over seeds (default) or one seed, e.g. 777")

    sp = bsub.add_parser("query", help="metrics of one architecture")
    sp.add_argument("--arch", required=True, help="official string or index")
    query_args(sp)
    sp.add_argument("--metric", help="one metric (default: all, plus cost)")
    sp.add_argument("--iepoch", type=int, help="read after this epoch (0-based; default: last)")
    common(sp)
    sp.set_defaults(func=cmd_bench_query)

    sp = bsub.add_parser("best", help="the best architecture for a metric")
    query_args(sp)
    sp.add_argument("--metric", required=True, help="e.g. test-accuracy, valid-accuracy")
    sp.add_argument("--mode", choices=["max", "min"], help="default: max for accuracies, min for losses/times")
    sp.add_argument("--flop-max", type=float, help="only archs with at most this many MFLOPs")
    sp.add_argument("--param-max", type=float, help="only archs with at most this many M params")
    common(sp)
    sp.set_defaults(func=cmd_bench_best)

    sp = bsub.add_parser("convert", help="convert official NATS-Bench files into a fast store")
    sp.add_argument("--nats", required=True, help="NATS-*-simple/ directory or NATS-*.pickle.pbz2 archive")
    sp.add_argument("--space", required=True, choices=["tss", "sss"])
    sp.add_argument("--out", required=True, help="store directory to create")
    sp.add_argument("--workers", type=int, help="processes (default: all cores)")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")
    common(sp)
    sp.set_defaults(func=cmd_bench_convert)

    sp = bsub.add_parser("import", help="import a published table (.csv, .parquet, .json)")
    sp.add_argument("file")
    sp.add_argument("--arch-column", required=True, help="column naming the architecture")
    sp.add_argument("--arch-format", default="auto", choices=ARCH_FORMATS,
                    help="string, index, ops (our op codes) or naslib (NASLib op codes/edge order)")
    sp.add_argument("--metric", action="append", required=True, metavar="NAME=COLUMN",
                    help="store COLUMN as metric NAME (repeatable), e.g. test-accuracy=CIFAR10TestAccuracy200Epochs")
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--epochs", required=True, type=int, help="training epochs the numbers come from")
    sp.add_argument("--version", required=True, help="benchmark version tag kept beside the numbers")
    sp.add_argument("--out", required=True, help="store directory (an existing import store gains a group)")
    sp.add_argument("--space", default="tss", choices=["tss", "sss"])
    sp.add_argument("--order", help="official index order: NATS meta.pickle.pbz2, its directory, or a store "
                                    "(default: found in $TORCH_HOME)")
    sp.add_argument("--where", action="append", metavar="COL=VALUE", help="keep only rows with COL == VALUE")
    sp.add_argument("--json-key", help="dotted key of the records inside a JSON file, e.g. cifar10")
    sp.add_argument("--aggregate", default="error", choices=["error", "mean", "first"],
                    help="what to do with several rows per arch (default: error)")
    common(sp)
    sp.set_defaults(func=cmd_bench_import)

    sp = sub.add_parser("search", help="run a differentiable NAS search, looked up every epoch")
    sp.add_argument("config", nargs="?", help="a YAML config (flags override its values)")
    sp.add_argument("--method", help="registered method, e.g. darts-v1 (see 'dnas list methods')")
    sp.add_argument("--space", help="nb201 (= tss) or darts (default nb201)")
    sp.add_argument("--dataset", help="cifar10, cifar100, ImageNet16-120 or digits (default cifar10)")
    sp.add_argument("--data-dir", dest="data_dir", help="directory holding the dataset's official files")
    sp.add_argument("--protocol-dir", dest="protocol_dir",
                    help="NATS-Bench split files (cifar-split.txt, ...), from AutoDL-Projects configs/nas-benchmark")
    sp.add_argument("--bench", help="tabular store to look each epoch's architecture up in")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    sp.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction,
                    help="channels-last network and inputs (default: on; it measured faster on CPU too)")
    sp.add_argument("--amp", action=argparse.BooleanOptionalAction,
                    help="bf16 autocast (default: on for CUDA, off for CPU)")
    sp.add_argument("--out", help="parent directory of run directories (default runs/)")
    sp.add_argument("--name", help="run directory name (default: method-space-dataset-seed-time)")
    sp.add_argument("--epochs", type=int, help="search epochs (default: the method's published setting)")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a method hyperparameter")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    common(sp)
    sp.set_defaults(func=cmd_search)

    from benchmarks.protocols import PROTOCOLS

    sp = sub.add_parser("evaluate", help="train an architecture from scratch under a published protocol")
    sp.add_argument("--arch", help="NB201 arch string or DARTS genotype string")
    sp.add_argument("--from-run", dest="from_run", help="take the final architecture of a search run")
    sp.add_argument("--protocol", default=None, choices=list(PROTOCOLS),
                    help="; ".join(f"{k}: {p.doc}" for k, p in PROTOCOLS.items()))
    sp.add_argument("--dataset", help="cifar10-valid, cifar10, cifar100, ImageNet16-120 (nats-*), "
                                      "cifar10/cifar100 (darts-cifar), imagenet (darts-imagenet), digits (nats-*)")
    sp.add_argument("--data-dir", dest="data_dir")
    sp.add_argument("--protocol-dir", dest="protocol_dir", help="NATS-Bench split files (cifar-split.txt, ...)")
    sp.add_argument("--bench", help="tabular store: set its recorded numbers beside the trained ones")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", default="runs")
    sp.add_argument("--name")
    sp.add_argument("--epochs", type=int, help="override the protocol's epochs (a short smoke run is one flag)")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a protocol setting")
    sp.add_argument("--amp", action="store_true", help="bf16 autocast")
    sp.add_argument("--channels-last", dest="channels_last", action="store_true")
    sp.add_argument("--compile", action="store_true", help="torch.compile the network")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted evaluation")
    common(sp)
    sp.set_defaults(func=cmd_evaluate)

    lst = sub.add_parser("list", help="list registered things")
    lsub = lst.add_subparsers(dest="list_command", required=True)
    sp = lsub.add_parser("methods", help="registered search methods")
    common(sp)
    sp.set_defaults(func=cmd_list_methods)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NonFiniteLoss as exc:
        print(f"dnas: error: {exc}", file=sys.stderr)
        return 3
    except (DnasError, ValueError, KeyError, FileNotFoundError, PermissionError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"dnas: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dnas: interrupted (a conversion resumes where it stopped when run again)", file=sys.stderr)
        return 130



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
