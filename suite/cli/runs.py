"""dnas search | evaluate | runs: start, resume and list run directories."""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Sequence

from suite.errors import DnasError

from .common import THREADS_HELP, add_json, add_tensorboard, count_at_least, fmt_value, parse_pairs, print_json

_MOVABLE = ("data_dir", "splits_dir", "bench", "threads")
"""What --resume may change: paths that moved, and the thread count."""


def _add_run_flags(sp: argparse.ArgumentParser, bench_help: str, default_name: str) -> None:
    """The flags of what every run has (``suite.runs.RunConfig``): data and split files, benchmark, seed,
    device, output place and name."""
    sp.add_argument("--data-dir", dest="data_dir", help="directory holding the dataset's official files")
    sp.add_argument("--splits-dir", dest="splits_dir", metavar="DIR",
                    help="NATS-Bench split files (cifar-split.txt, ...), from AutoDL-Projects configs/nas-benchmark")
    sp.add_argument("--bench", help=bench_help)
    sp.add_argument("--seed", type=count_at_least(0), help="run seed (default 0)")
    sp.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    sp.add_argument("--out", help="parent directory of run directories (default runs/)")
    sp.add_argument("--name", help=f"run directory name (default: {default_name})")
    add_tensorboard(sp)


_SWITCHES = ("channels_last", "amp")
"""Search flags with a --no- form: given when not None (--no-amp is given too)."""


def _resume_only(args: argparse.Namespace, fixed: Sequence[str], switches: Sequence[str] = ()) -> dict[str, Any]:
    """The flags given with --resume; a flag that would change the run is refused (one line)."""
    given = [k for k in fixed if getattr(args, k, None) not in (None, False, [])
             or (k in switches and getattr(args, k) is not None)]
    if given:
        flag = "CONFIG" if given[0] == "config" else "--" + given[0].replace("_", "-")
        flag = f"--[no-]{flag[2:]}" if given[0] in switches else flag
        raise DnasError(f"--resume continues {args.resume} as it was configured: {flag} cannot change it (with "
                        f"--resume only --data-dir, --splits-dir, --bench and --threads may be given)")
    return {k: getattr(args, k) for k in _MOVABLE if getattr(args, k) is not None}


def _report_run(args: argparse.Namespace, store: Any, lines: dict[str, Any]) -> None:
    final = store.final or {}
    if args.json:
        print_json({"run": str(store.path), "status": store.status.get("status"), **final})
        return
    print(f"run {store.path}: {store.status.get('status')}\n  arch {final.get('arch')}")
    for k, v in lines.items():
        print(f"  {k:<40} {fmt_value(v)}")


def _no_space(exc: OSError, command: str) -> DnasError:
    """A full disk met by a search or evaluation, as one line: the file, the run it stopped (recorded
    failed, or read dead where even that could not be written) and the command that resumes it."""
    from pathlib import Path

    from suite.runstore import RunStore

    file = Path(str(exc.filename)) if exc.filename else None
    run = next((d for d in ([file, *file.parents] if file else []) if (d / "config.yaml").is_file()), None)
    if run is None:
        return DnasError(f"no space left on the device of {file or 'the output'}: nothing was kept; free space there "
                         f"(or choose another --out) and run the command again")
    state = RunStore(run).status.get("status")
    return DnasError(f"no space left on the device of {file}: run {run} stopped ({state}); free space there, then "
                     f"resume it with 'dnas {command} --resume {run}'")


def _on_full_disk(command: str, body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``body``; a full disk (ENOSPC, EDQUOT) becomes the one line of ``_no_space``."""
    from suite.io import out_of_space

    try:
        return body(args)
    except OSError as exc:
        if not out_of_space(exc):
            raise
        raise _no_space(exc, command) from None


def cmd_search(args: argparse.Namespace) -> int:
    """``dnas search``: a new search run, or ``--resume`` one; a full disk is one line saying how to resume."""
    return _on_full_disk("search", _search, args)


def _search(args: argparse.Namespace) -> int:
    from suite.runs import SearchConfig, read_yaml_config, resume_search, run_search

    if args.resume:
        moved = _resume_only(args, ("config", "method", "space", "dataset", "seed", "device", "out", "name",
                                    "epochs", "set", *_SWITCHES), _SWITCHES)
        store = resume_search(args.resume, progress=not args.json, tensorboard=args.tensorboard, **moved)
    else:
        data: dict[str, Any] = {}
        if args.config:
            data = read_yaml_config(args.config)
        for key in ("method", "space", "dataset", "data_dir", "splits_dir", "bench", "seed", "device",
                    "channels_last", "amp", "out", "name", "threads"):
            value = getattr(args, key)
            if value is not None:
                data[key] = value
        hparams = data.get("hparams") or {}
        if not isinstance(hparams, dict):
            raise DnasError(f"hparams in {args.config} must be a mapping of method hyperparameters (e.g. hparams: "
                            f"{{lr: 0.025}}), got {hparams!r}")
        hparams = {**hparams, **parse_pairs(args.set, "--set")}
        if args.epochs is not None:
            hparams["epochs"] = args.epochs
        data["hparams"] = hparams
        if "method" not in data:
            raise DnasError("name a method with --method (see 'dnas list methods') or give a CONFIG.yaml")
        store = run_search(SearchConfig.from_dict(data), progress=not args.json, tensorboard=args.tensorboard)
    _report_run(args, store, (store.final or {}).get("lookups") or {})
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``dnas evaluate``: a new evaluation run, or ``--resume`` one; a full disk is one line saying how to resume."""
    return _on_full_disk("evaluate", _evaluate, args)


def _evaluate(args: argparse.Namespace) -> int:
    from suite.runs.training import TrainingBenchmark
    from suite.runstore import open_run

    if args.resume:
        moved = _resume_only(args, ("arch", "from_run", "protocol", "dataset", "seed", "device", "out", "name",
                                    "epochs", "set", "amp", "channels_last", "compile"))
        evaluation = TrainingBenchmark.resume(args.resume, progress=not args.json, tensorboard=args.tensorboard, **moved)
    else:
        if not args.protocol or not args.dataset:
            raise DnasError("--protocol and --dataset are required (or --resume RUN_DIR)")
        if bool(args.arch) == bool(args.from_run):
            raise DnasError("give the architecture with exactly one of --arch STR or --from-run RUN_DIR")
        arch, from_run = args.arch, None
        if args.from_run:
            run = open_run(args.from_run)
            from_run = str(run.path.resolve())
            arch = (run.final or {}).get("arch")
            if not arch:
                raise DnasError(f"run {run.path} has no final architecture yet (status "
                                f"{run.status.get('status')}): finish or resume it first")
        overrides = parse_pairs(args.set, "--set")
        for flag in ("amp", "channels_last", "compile"):
            if getattr(args, flag):
                overrides[flag] = True
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        bench = TrainingBenchmark(args.protocol, data_dir=args.data_dir, splits_dir=args.splits_dir, bench=args.bench,
                                  device=args.device or "auto", out=args.out or "runs", overrides=overrides,
                                  threads=args.threads, progress=not args.json, tensorboard=args.tensorboard)
        evaluation = bench.evaluate(arch, args.dataset, seed=0 if args.seed is None else args.seed, name=args.name,
                                    from_run=from_run)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    store = open_run(evaluation.run)
    final = store.final or {}
    recorded = {f"recorded {k}": v for k, v in (final.get("benchmark") or {}).items()}
    _report_run(args, store, {**final.get("metrics", {}), **final.get("cost", {}), **recorded})
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from suite.runstore import list_runs

    runs = list_runs(args.dir)
    for r in runs:
        r["diagnostics"] = _flags(r)
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print(f"no runs in {args.dir}")
        return 0
    bad = [r for r in runs if r["status"] in ("dead", "stale")]
    print(f"{args.dir}: {len(runs)} run(s)" + (f", {len(bad)} dead (killed: resume them)" if bad else ""))
    print(f"  {'STATUS':<11} {'EPOCHS':>9} {'WALL':>9}  NAME")
    for r in runs:
        done = f"{r['epochs_done']}/{r['epochs']}" if r["epochs"] is not None else "?"
        wall = f"{r['wall_time_s']:.0f} s" if isinstance(r["wall_time_s"], (int, float)) else "?"
        flag = r["status"].upper() if r["status"] in ("dead", "stale") else r["status"]
        print(f"  {flag:<11} {done:>9} {wall:>9}  {r['name']}")
        if r["status"] in ("dead", "stale", "failed") and r["note"]:
            print(f"  {'':<31}{r['note']}")
        if r["status"] in ("dead", "stale", "interrupted"):
            print(f"  {'':<31}resume: dnas {'evaluate' if r['kind'] == 'evaluation' else 'search'} --resume {r['run']}")
        for text in r["diagnostics"]:
            print(f"  {'':<31}flag: {text}")
    return 0


def _flags(run: dict[str, Any]) -> list[str]:
    """The diagnostic flags of a listed search run, as their one-line texts (none for an unreadable run)."""
    from reports.diagnostics import diagnose_run

    try:
        return [f.text for f in diagnose_run(run["run"])]
    except (OSError, ValueError, KeyError, TypeError):  # a damaged run is listed by its status already
        return []


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("search", help="run a differentiable NAS search, looked up every epoch")
    sp.add_argument("config", nargs="?", help="a YAML config (flags override its values)")
    sp.add_argument("--method", help="registered method, e.g. darts-v1 (see 'dnas list methods')")
    sp.add_argument("--space", help="nb201 (= tss) or darts (default nb201)")
    sp.add_argument("--dataset", help="cifar10, cifar100, ImageNet16-120 or digits (default cifar10)")
    _add_run_flags(sp, "tabular benchmark to look each epoch's architecture up in: its directory or a built-in "
                       "table's name (default for nb201: the built-in 'nb201' table; 'none': no lookups)",
                   "method-space-dataset-seed-time")
    sp.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction,
                    help="channels-last network and inputs (default: on; it measured faster on CPU too)")
    sp.add_argument("--amp", action=argparse.BooleanOptionalAction,
                    help="bf16 autocast (default: on for CUDA, off for CPU)")
    sp.add_argument("--epochs", type=count_at_least(1), help="search epochs (default: the method's published setting)")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a method hyperparameter")
    sp.add_argument("--threads", type=count_at_least(1), help=THREADS_HELP)
    sp.add_argument("--resume", metavar="RUN_DIR",
                    help="continue an interrupted or killed run (refused while it runs); may take new paths")
    add_json(sp)
    sp.set_defaults(func=cmd_search)

    from suite.train.protocols import PROTOCOLS

    sp = sub.add_parser("evaluate", help="train an architecture from scratch under a published protocol")
    sp.add_argument("--arch", help="NB201 arch string or DARTS genotype string")
    sp.add_argument("--from-run", dest="from_run", help="take the final architecture of a search run")
    sp.add_argument("--protocol", default=None, choices=list(PROTOCOLS),
                    help="; ".join(f"{k}: {p.doc}" for k, p in PROTOCOLS.items()))
    sp.add_argument("--dataset", help="cifar10-valid, cifar10, cifar100, ImageNet16-120 (nats-*), "
                                      "cifar10/cifar100 (darts-cifar), imagenet (darts-imagenet), digits (nats-*)")
    _add_run_flags(sp, "tabular benchmark: set its recorded numbers beside the trained ones (default for NB201 archs: "
                       "the built-in 'nb201' table; 'none': no benchmark)", "eval-protocol-dataset-seed-time")
    sp.add_argument("--epochs", type=count_at_least(1), help="override the protocol's epochs (a short smoke run is one flag)")
    sp.add_argument("--threads", type=count_at_least(1), help=THREADS_HELP)
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a protocol setting")
    sp.add_argument("--amp", action="store_true", help="bf16 autocast")
    sp.add_argument("--channels-last", dest="channels_last", action="store_true")
    sp.add_argument("--compile", action="store_true", help="torch.compile the network")
    sp.add_argument("--resume", metavar="RUN_DIR",
                    help="continue an interrupted or killed evaluation (refused while it runs); may take new paths")
    add_json(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("runs", help="list runs with their status; killed runs show as dead")
    sp.add_argument("dir", nargs="?", default="runs", help="a directory of runs (default runs/) or one run")
    add_json(sp)
    sp.set_defaults(func=cmd_runs)
