"""The ``dnas`` command line. Readable output by default, ``--json`` for scripts.

Errors are one line on stderr (``dnas: error: ...``) with exit status 2.
"""
from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: with several processes on few cores a spinning
# thread steals the core its partner needs (measured: 7x slower with 2 threads on a busy 2-core
# machine). Set before torch loads; results do not depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from typing import Any, NoReturn, Sequence  # noqa: E402

from suite.errors import DnasError, NonFiniteLoss  # noqa: E402


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dnas: error: {message} (see '{self.prog} --help')\n")


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise DnasError(f"{flag} takes NAME=VALUE, got {item!r}")
        if name in out:
            raise DnasError(f"{flag} {name} is given twice ({out[name]!r} and {value!r}): give it once")
        out[name] = value
    return out


def _count(low: int) -> Any:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _seed(text: str) -> str | int:
    if text == "mean":
        return "mean"
    try:
        return int(text)
    except ValueError:
        raise DnasError(f"--seed takes 'mean' or one seed such as 777, got {text!r}") from None


def _arch(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and inf become None."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _print_json(obj: Any) -> None:
    print(json.dumps(_clean(obj), indent=1))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "n/a" if v is None else str(v)


# ---- bench ----------------------------------------------------------------------------------

def cmd_bench_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.locate import scan

    if args.path and Path(args.path).expanduser().exists() and not Path(args.path).expanduser().is_dir():
        raise DnasError(f"{args.path} is a file: give the directory that holds the benchmarks (default $TORCH_HOME)")
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
    for b in info["builtin"]:
        print(f"built-in table '{b['name']}' (--bench {b['name']}, no download): {b['space']} {b['version']}, "
              f"{b['holds']}\n    {', '.join(b['columns'])}")
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
    cost = b.cost(index, args.dataset, args.epochs) if not args.metric and b.has_cost(args.dataset, args.epochs) else {}
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

    from benchmarks.importer import describe_dropped

    metrics = _pairs(args.metric, "--metric")
    out = import_table(args.file, arch_column=args.arch_column, metrics=metrics, dataset=args.dataset,
                       epochs=args.epochs, version=args.version, out=args.out, space=args.space,
                       arch_format=args.arch_format, order=args.order, where=_pairs(args.where, "--where"),
                       json_key=args.json_key, aggregate=args.aggregate, overwrite=args.overwrite,
                       drop_invalid=args.drop_invalid)
    b = _open(str(out))
    counts = {m: int((~np.isnan(b.query_many("all", args.dataset, m, args.epochs))).sum()) for m in metrics}
    group = next(g for g in b.meta["groups"] if (g["dataset"], g["epochs"]) == (args.dataset, args.epochs))
    dropped = group["config"]["imported"].get("dropped") or {}
    if args.json:
        _print_json({"out": str(out), "dataset": args.dataset, "epochs": args.epochs, "archs_with_values": counts,
                     "dropped": dropped})
    else:
        print(f"imported into {out} ({args.dataset}, epochs={args.epochs}, {args.version}): "
              + ", ".join(f"{m} for {n} archs" for m, n in counts.items()))
        if dropped:
            print(f"  left out: {describe_dropped(dropped)}")
    return 0


_MOVABLE = ("data_dir", "protocol_dir", "bench", "threads")
"""What --resume may change: paths that moved, and the thread count."""


def _resume_only(args: argparse.Namespace, fixed: Sequence[str]) -> dict[str, Any]:
    """The flags given with --resume; a flag that would change the run is refused (one line)."""
    given = [k for k in fixed if getattr(args, k, None) not in (None, False, [])]
    if given:
        flag = "CONFIG" if given[0] == "config" else "--" + given[0].replace("_", "-")
        raise DnasError(f"--resume continues {args.resume} as it was configured: {flag} cannot change it (with "
                        f"--resume only --data-dir, --protocol-dir, --bench and --threads may be given)")
    return {k: getattr(args, k) for k in _MOVABLE if getattr(args, k) is not None}


def _report_run(args: argparse.Namespace, store: Any, lines: dict[str, Any]) -> None:
    final = store.final or {}
    if args.json:
        _print_json({"run": str(store.path), "status": store.status.get("status"), **final})
        return
    print(f"run {store.path}: {store.status.get('status')}\n  arch {final.get('arch')}")
    for k, v in lines.items():
        print(f"  {k:<40} {_fmt(v)}")


def cmd_search(args: argparse.Namespace) -> int:
    from suite.runs import SearchConfig, read_yaml_config, resume_search, run_search

    if args.resume:
        moved = _resume_only(args, ("config", "method", "space", "dataset", "seed", "device", "out", "name",
                                    "epochs", "set"))
        store = resume_search(args.resume, progress=not args.json, **moved)
    else:
        data: dict[str, Any] = {}
        if args.config:
            data = read_yaml_config(args.config)
        for key in ("method", "space", "dataset", "data_dir", "protocol_dir", "bench", "seed", "device", "out", "name",
                    "threads"):
            value = getattr(args, key)
            if value is not None:
                data[key] = value
        hparams = data.get("hparams") or {}
        if not isinstance(hparams, dict):
            raise DnasError(f"hparams in {args.config} must be a mapping of method hyperparameters (e.g. hparams: "
                            f"{{lr: 0.025}}), got {hparams!r}")
        hparams = {**hparams, **_pairs(args.set, "--set")}
        if args.epochs is not None:
            hparams["epochs"] = args.epochs
        data["hparams"] = hparams
        if "method" not in data:
            raise DnasError("name a method with --method (see 'dnas list methods') or give a CONFIG.yaml")
        store = run_search(SearchConfig.from_dict(data), progress=not args.json)
    _report_run(args, store, (store.final or {}).get("lookups") or {})
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from suite.runs import EvalConfig, resume_training, run_training

    if args.resume:
        moved = _resume_only(args, ("arch", "from_run", "protocol", "dataset", "seed", "device", "out", "name",
                                    "epochs", "set", "amp", "channels_last", "compile"))
        store = resume_training(args.resume, progress=not args.json, **moved)
    else:
        if not args.protocol or not args.dataset:
            raise DnasError("--protocol and --dataset are required (or --resume RUN_DIR)")
        if bool(args.arch) == bool(args.from_run):
            raise DnasError("give the architecture with exactly one of --arch STR or --from-run RUN_DIR")
        arch, from_run = args.arch, None
        if args.from_run:
            from suite.runstore import open_run

            run = open_run(args.from_run)
            from_run = str(run.path.resolve())
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
        cfg = EvalConfig(arch, args.protocol, args.dataset, data_dir=args.data_dir, protocol_dir=args.protocol_dir,
                         bench=args.bench, seed=0 if args.seed is None else args.seed, device=args.device or "auto",
                         out=args.out or "runs", name=args.name, overrides=overrides, threads=args.threads,
                         from_run=from_run)
        store = run_training(cfg, progress=not args.json)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    final = store.final or {}
    recorded = {f"recorded {k}": v for k, v in (final.get("benchmark") or {}).items()}
    _report_run(args, store, {**final.get("metrics", {}), **final.get("cost", {}), **recorded})
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from suite.runstore import list_runs

    runs = list_runs(args.dir)
    if args.json:
        _print_json(runs)
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
    return 0


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


def cmd_list_methods(args: argparse.Namespace) -> int:
    from methods import list_methods

    names = list_methods()
    if args.json:
        _print_json(names)
    else:
        print("\n".join(names) if names else "no methods registered yet")
    return 0


# ---- sweep ----------------------------------------------------------------------------------

def cmd_sweep(args: argparse.Namespace) -> int:
    """``dnas sweep SPEC`` runs a sweep; ``dnas sweep status SPEC|OUT`` shows where it is."""
    words = args.target
    if len(words) == 2 and words[0] == "status":
        return _sweep_status(words[1], args)
    if len(words) != 1:
        raise DnasError("usage: dnas sweep SPEC.yaml [options], or dnas sweep status SPEC.yaml|OUT")
    from suite.sweep import load_sweep, run_sweep
    from suite.sweep.progress import as_json, summary

    sets, eval_sets = _pairs(args.set, "--set"), _pairs(args.eval_set, "--eval-set")
    sweep = load_sweep(words[0], out=args.out, hparams=sets, overrides=eval_sets)
    try:
        states = run_sweep(sweep, retries=args.retries, retry_failed=args.retry_failed, progress=not args.json,
                           invocation={"set": args.set or [], "eval_set": args.eval_set or []},
                           kind=args.executor, address=args.address, workers=args.workers,
                           cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    except KeyboardInterrupt:
        print(f"dnas: interrupted: every run recorded where it stopped; run the same command again to resume "
              f"(state: dnas sweep status {sweep.out})", file=sys.stderr)
        return 130
    bad = [rs for rs in states.values() if rs.state != "completed"]
    if args.json:
        _print_json({"out": str(sweep.out), "runs": as_json(states)})
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
        sweep = load_sweep(target, out=args.out, hparams=_pairs(args.set, "--set"),
                           overrides=_pairs(args.eval_set, "--eval-set"))
    states = sweep_states(sweep)
    if args.json:
        _print_json({"out": str(sweep.out), "runs": as_json(states)})
    else:
        print(f"sweep {sweep.out}")
        print(status_table(states))
    return 0


def _sweep_parser(sub: Any) -> None:
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
    sp.add_argument("--workers", type=_count(1), help="runs at once (local; default: one per core, or one per GPU)")
    sp.add_argument("--cpus-per-run", dest="cpus_per_run", type=_count(1),
                    help="CPU cores (= intra-op threads) per run (default 1 on CPU; cores / GPUs with GPUs)")
    sp.add_argument("--gpus-per-run", dest="gpus_per_run", type=float,
                    help="GPUs per run (default 1 where there are GPUs; 0.5 puts two runs on each GPU)")
    sp.add_argument("--retries", type=_count(0), help="tries again of a run that crashed or whose worker died (default 2)")
    sp.add_argument("--retry-failed", dest="retry_failed", action="store_true",
                    help="also resume runs that failed in an earlier invocation")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a search hyperparameter for every search")
    sp.add_argument("--eval-set", dest="eval_set", action="append", metavar="KEY=VALUE",
                    help="a protocol setting for every evaluation")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_sweep)


# ---- rankcorr ---------------------------------------------------------------------------------

def _top(text: str) -> int | float:
    t = text.strip()
    try:
        if t.endswith("%"):
            return float(t[:-1]) / 100
        return int(t) if t.isdigit() else float(t)
    except ValueError:
        raise DnasError(f"--top takes a count (10) or a fraction (0.05 or 5%), got {text!r}") from None


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return "<1e-300" if v == 0 else f"{v:.2g}"


def _print_rankcorr(results: list, title: str = "") -> None:
    """A block per pair (statistic, value, interval, p-value), then a summary table when there are several."""
    if title:
        print(title)
    for r in results:
        print(f"x: {r.x}\ny: {r.y}\n  n = {r.n}" + (f", dropped {r.n_dropped} ("
              + ", ".join(f"{k}: {v}" for k, v in r.dropped.items()) + ")" if r.n_dropped else "")
              + f"; {r.bootstrap} bootstrap resamples, {r.level:.0%} percentile intervals, seed {r.seed}")
        for key in ("where", "unique"):
            if isinstance(r.notes.get(key), dict):
                info = r.notes[key]
                print(f"  {key}: " + (f"{info['classes']} isomorphism classes, kept {info['rows_before'] - info['rows_dropped']}"
                                      f" rows ({info['representative']})" if key == "unique"
                                      else f"{info['expr']!r} kept {info['rows_kept']} rows"))
        if r.notes.get("negated"):
            print(f"  negated (smaller is better): {', '.join(r.notes['negated'])}")
        print(f"  {'statistic':<24} {'value':>8}  {'interval':<20} {'p-value':>8}")
        for st in r.stats.values():
            ci = f"[{st.ci_low:.4f}, {st.ci_high:.4f}]" if math.isfinite(st.ci_low) else ""
            name = st.name + (f" (k={st.k})" if st.k is not None and not st.name.endswith(f"@{st.k}") else "")
            print(f"  {name:<24} {st.value:>8.4f}  {ci:<20} {_p(st.p_value):>8}")
    if len(results) > 1:
        names = list(results[0].stats)
        width = max(len(f"{r.x} ~ {r.y}") for r in results)
        print("\nsummary (values)\n  " + " " * width + "".join(f" {n[:13]:>13}" for n in names))
        for r in results:
            print(f"  {r.x + ' ~ ' + r.y:<{width}}" + "".join(f" {r.stats[n].value:>13.4f}" for n in names))


def _rankcorr_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"bootstrap": args.bootstrap, "level": args.level, "seed": args.seed, "missing": args.missing,
            "top": [_top(t) for t in args.top] if args.top else (10, 0.01, 0.05, 0.1)}


def cmd_rankcorr(args: argparse.Namespace) -> int:
    if args.supernet:
        return _rankcorr_supernet(args)
    from reports.rankstudy import build_study, correlate, kendall_matrix, parse_spec

    if not args.y or len(args.y) != 1:
        raise DnasError("give the reference ranking with exactly one --y SPEC (e.g. --y nb201:cifar10@200/test-accuracy)")
    if not args.x:
        raise DnasError("give at least one --x SPEC to compare with --y (e.g. --x nb201:cifar10-valid@12/valid-accuracy)")
    specs = [parse_spec(t) for t in args.x] + [parse_spec(args.y[0])]
    extra = {name: parse_spec(text) for name, text in _pairs(args.col, "--col").items()}
    study = build_study(specs, extra=extra, where=args.where, unique=args.unique)
    results = correlate(study, pairwise=args.pairwise, **_rankcorr_kwargs(args))
    plots = _rankcorr_plots(args.plot, study, results, kendall_matrix) if args.plot else []
    if args.json:
        _print_json({"results": [r.to_dict() for r in results], "notes": study.notes, "plots": plots})
    else:
        _print_rankcorr(results)
        for p in plots:
            print(f"wrote {p}")
    return 0


def _rankcorr_plots(out: str, study: Any, results: list, kendall_matrix: Any) -> list[str]:
    from reports.rankplots import scatter, slug, tau_heatmap

    cols = {c.label: study.frame["y" if i == len(study.columns) - 1 else f"x{i + 1}"].to_numpy(dtype=float)
            for i, c in enumerate(study.columns)}
    paths = [str(scatter(r, cols[r.x], cols[r.y], os.path.join(out, f"scatter-{slug(r.x)}--{slug(r.y)}.png")))
             for r in results]
    labels, mat = kendall_matrix(study)
    paths.append(str(tau_heatmap(labels, mat, os.path.join(out, "kendall-tau.png"))))
    return paths


def _rankcorr_supernet(args: argparse.Namespace) -> int:
    import numpy as np

    from benchmarks.builtin import resolve_bench
    from reports.ranks import rankcorr
    from reports.rankstudy import build_study, iso_keys, parse_spec
    from suite.io import atomic_path, write_json
    from suite.oneshot import evaluate_archs, sample_indices
    from suite.checks import resolve_device
    from suite.runs import restore_search
    from suite.runstore import open_run

    if args.x:
        raise DnasError("--supernet is the x of the study: drop --x (give the reference with --y or --bench)")
    if not args.sample:
        raise DnasError("--supernet needs --sample N: how many architectures to evaluate in the supernet")
    store = open_run(args.supernet)
    device = resolve_device(args.device)
    cfg, method, train, valid, ckpt = restore_search(store, device)
    if ckpt is None:
        raise DnasError(f"run {store.path} has no checkpoint yet: nothing to evaluate")
    if args.y:
        y_text = args.y[0]
    else:
        bench = resolve_bench(args.bench or (cfg.bench if cfg.bench else None), cfg.space)
        if not bench:
            raise DnasError(f"no benchmark for the {cfg.space} space: pass --bench or --y SPEC")
        if cfg.dataset not in ("cifar10", "cifar100", "ImageNet16-120"):
            raise DnasError(f"the run searched on {cfg.dataset}, which no benchmark records: name the reference "
                            f"with --y SPEC, e.g. --y {bench}:cifar10@200/test-accuracy")
        y_text = f"{bench}:{cfg.dataset}@200/test-accuracy"
    study = build_study([parse_spec(y_text)])
    truth = study.frame["y"].to_numpy(dtype=float)
    candidates = None
    if args.unique:
        keys = iso_keys(study.frame["arch"].tolist(), study.space)
        candidates = np.sort(np.unique(keys, return_index=True)[1])  # lowest index per class
    idx = sample_indices(len(truth), args.sample, args.seed, candidates)
    archs = [_nb201(a) for a in study.frame["arch"].to_numpy()[idx]]
    acc = evaluate_archs(method, archs, train, valid, bn=args.bn, bn_batches=args.bn_batches, seed=args.seed,
                         progress=not args.json)
    result = rankcorr(acc, truth[idx], x_name=f"supernet one-hot valid accuracy ({store.path.name})",
                      y_name=y_text, **_rankcorr_kwargs(args))
    result.notes.update({"run": str(store.path), "checkpoint_epoch": ckpt["epoch"], "run_status":
                         store.status.get("status"), "bn": args.bn, "bn_batches": args.bn_batches,
                         "sample": args.sample, "sample_seed": args.seed, "sample_unique": bool(args.unique),
                         "valid_split": valid.name, "device": device})
    out_dir = store.path / "rankcorr"
    stem = f"supernet-n{args.sample}-seed{args.seed}" + ("-unique" if args.unique else "")
    write_json(out_dir / f"{stem}.json", _clean(result.to_dict()))
    import pandas as pd

    with atomic_path(out_dir / f"{stem}.csv") as tmp:
        pd.DataFrame({"index": idx, "arch": study.frame["arch"].to_numpy()[idx], "supernet_accuracy": acc,
                      "y": truth[idx]}).to_csv(tmp, index=False)
    if args.json:
        _print_json({**result.to_dict(), "files": [str(out_dir / f"{stem}.json"), str(out_dir / f"{stem}.csv")]})
    else:
        _print_rankcorr([result])
        print(f"wrote {out_dir / (stem + '.json')} and {stem}.csv")
    return 0


def _nb201(text: str) -> Any:
    from suite.spaces.nb201 import Arch

    return Arch.parse(text)


def add_rankcorr_parser(sub: Any) -> None:
    sp = sub.add_parser("rankcorr", help="rank-correlation study: how well x ranks architectures the way y does",
                        description="SPEC: BENCH:DATASET@EPOCHS/METRIC (BENCH = nb201 or a store path), or "
                                    "FILE:COLUMN,key=KEYCOL,format=string|index|ops|naslib[,json-key=K][,agg=mean|first]; "
                                    "options for both: ,label=NAME ,mode=max|min.")
    sp.add_argument("--x", action="append", metavar="SPEC", help="a score to test (repeatable)")
    sp.add_argument("--y", action="append", metavar="SPEC", help="the reference ranking, e.g. nb201:cifar10@200/test-accuracy")
    sp.add_argument("--col", action="append", metavar="NAME=SPEC", help="an extra column for --where only")
    sp.add_argument("--where", help="keep rows where this pandas expression holds; columns: y, x (x1, x2 ...), "
                                    "index, arch, every SPEC's label (in backticks), --col names; "
                                    "e.g. 'y >= y.quantile(0.9)'")
    sp.add_argument("--unique", action="store_true", help="one architecture per isomorphism class (6,466 in NB201)")
    sp.add_argument("--pairwise", action="store_true", help="every pair of the SPECs, not only each x against y")
    sp.add_argument("--bootstrap", type=_count(0), default=1000, help="bootstrap resamples (default 1000; 0: none)")
    sp.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    sp.add_argument("--seed", type=_count(0), default=0, help="seed of the resamples (and of --sample)")
    sp.add_argument("--top", action="append", metavar="K", help="precision@K: a count or a fraction/percentage "
                                                             "(repeatable; default 10, 1%%, 5%%, 10%%)")
    sp.add_argument("--missing", choices=["drop", "last"], default="drop",
                    help="non-finite scores: drop the row (counted) or rank it last")
    sp.add_argument("--plot", metavar="DIR", help="write a scatter per pair and a Kendall-tau heatmap here")
    sp.add_argument("--supernet", metavar="RUN_DIR", help="x = accuracy inside this search run's final supernet")
    sp.add_argument("--sample", type=_count(1), help="with --supernet: architectures to evaluate")
    sp.add_argument("--bench", help="with --supernet: benchmark of the reference (default: the run's, else the "
                                    "space's built-in table); the reference is DATASET@200/test-accuracy")
    sp.add_argument("--bn", choices=["reestimate", "batch"], default="reestimate",
                    help="with --supernet: BN statistics re-estimated per architecture on train batches (default), "
                         "or per-batch statistics as during the search")
    sp.add_argument("--bn-batches", dest="bn_batches", type=_count(1), default=10,
                    help="train batches for --bn reestimate")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_rankcorr)


# ---- baselines and regression verdicts ---------------------------------------------------------

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


def _regress_parser(sub: Any) -> None:
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


# ---- parser -----------------------------------------------------------------------------------

THREADS_HELP = ("intra-op CPU threads (default: OMP_NUM_THREADS, else the cores this process may use; recorded "
                "in the run, and kept on --resume since CPU results depend on it). Runs sharing cores: 1")

def build_parser() -> argparse.ArgumentParser:
    from benchmarks.importer import ARCH_FORMATS

    p = _Parser(prog="dnas", description="dnas-suite: differentiable NAS, evaluated on benchmarks")
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
    sp.add_argument("--workers", type=_count(1), help="processes (default: all cores)")
    sp.add_argument("--overwrite", action="store_true",
                    help="replace a store already at --out (never anything else)")
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
    sp.add_argument("--epochs", required=True, type=_count(1), help="training epochs the numbers come from")
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
    sp.add_argument("--bench", help="tabular store to look each epoch's architecture up in: a store path or a "
                                     "built-in name (default for nb201: the built-in 'nb201' table; 'none': no lookups)")
    sp.add_argument("--seed", type=_count(0), help="run seed (default 0)")
    sp.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    sp.add_argument("--out", help="parent directory of run directories (default runs/)")
    sp.add_argument("--name", help="run directory name (default: method-space-dataset-seed-time)")
    sp.add_argument("--epochs", type=_count(1), help="search epochs (default: the method's published setting)")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a method hyperparameter")
    sp.add_argument("--threads", type=_count(1), help=THREADS_HELP)
    sp.add_argument("--resume", metavar="RUN_DIR",
                    help="continue an interrupted or killed run (refused while it runs); may take new paths")
    common(sp)
    sp.set_defaults(func=cmd_search)

    from suite.train.protocols import PROTOCOLS

    sp = sub.add_parser("evaluate", help="train an architecture from scratch under a published protocol")
    sp.add_argument("--arch", help="NB201 arch string or DARTS genotype string")
    sp.add_argument("--from-run", dest="from_run", help="take the final architecture of a search run")
    sp.add_argument("--protocol", default=None, choices=list(PROTOCOLS),
                    help="; ".join(f"{k}: {p.doc}" for k, p in PROTOCOLS.items()))
    sp.add_argument("--dataset", help="cifar10-valid, cifar10, cifar100, ImageNet16-120 (nats-*), "
                                      "cifar10/cifar100 (darts-cifar), imagenet (darts-imagenet), digits (nats-*)")
    sp.add_argument("--data-dir", dest="data_dir")
    sp.add_argument("--protocol-dir", dest="protocol_dir", help="NATS-Bench split files (cifar-split.txt, ...)")
    sp.add_argument("--bench", help="tabular store: set its recorded numbers beside the trained ones (default for "
                                     "NB201 archs: the built-in 'nb201' table; 'none': no benchmark)")
    sp.add_argument("--seed", type=_count(0), help="run seed (default 0)")
    sp.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    sp.add_argument("--out", help="parent directory of run directories (default runs/)")
    sp.add_argument("--name", help="run directory name (default: eval-protocol-dataset-seed-time)")
    sp.add_argument("--epochs", type=_count(1), help="override the protocol's epochs (a short smoke run is one flag)")
    sp.add_argument("--threads", type=_count(1), help=THREADS_HELP)
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a protocol setting")
    sp.add_argument("--amp", action="store_true", help="bf16 autocast")
    sp.add_argument("--channels-last", dest="channels_last", action="store_true")
    sp.add_argument("--compile", action="store_true", help="torch.compile the network")
    sp.add_argument("--resume", metavar="RUN_DIR",
                    help="continue an interrupted or killed evaluation (refused while it runs); may take new paths")
    common(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("runs", help="list runs with their status; killed runs show as dead")
    sp.add_argument("dir", nargs="?", default="runs", help="a directory of runs (default runs/) or one run")
    common(sp)
    sp.set_defaults(func=cmd_runs)

    _sweep_parser(sub)
    add_rankcorr_parser(sub)
    _regress_parser(sub)
    sp = sub.add_parser("report", help="comparison report of run directories: report.html, tables, figures")
    sp.add_argument("runs", nargs="+", metavar="RUNS", help="run directories, folders holding runs, or globs")
    sp.add_argument("--out", required=True, help="directory for report.html, tables/ and figures/")
    sp.add_argument("--metric", action="append", help="compare only these columns (repeatable), e.g. "
                                                      "cifar10@200/test-accuracy, trained_test_accuracy")
    sp.add_argument("--title", help="report title")
    common(sp)
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
    common(sp)
    sp.set_defaults(func=cmd_quickstart)

    lst = sub.add_parser("list", help="list registered things")
    lsub = lst.add_subparsers(dest="list_command", required=True)
    sp = lsub.add_parser("methods", help="registered search methods")
    common(sp)
    sp.set_defaults(func=cmd_list_methods)
    return p


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "") if exc.filename else ""
    text = exc.strerror or str(exc).splitlines()[0]
    return f"cannot use{where}: {text}; check the path or choose another place"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NonFiniteLoss as exc:
        print(f"dnas: error: {exc}", file=sys.stderr)
        return 3
    except (DnasError, ValueError, TypeError, KeyError, OSError) as exc:
        if isinstance(exc, KeyError) and exc.args:
            msg = str(exc.args[0])
        elif isinstance(exc, OSError) and not isinstance(exc, DnasError):
            msg = _os_error(exc)
        else:
            msg = str(exc)
        print(f"dnas: error: {' '.join(msg.split()) if chr(10) in msg else msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"dnas: {exc or 'interrupted'}: run the same command again to resume a conversion, or --resume "
              f"RUN_DIR for a search or evaluation", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
