"""dnas rankcorr: rank-correlation studies of benchmark columns, tables and supernets."""
from __future__ import annotations

import argparse
import math
import os
from typing import Any

from suite.errors import DnasError

from .common import json_clean, count_at_least, parse_pairs, print_json


def _top(text: str) -> int | float:
    """A --top value: a count >= 1, or a fraction in (0, 1) written 0.05 or 5%."""
    t = text.strip()
    try:
        value: int | float = float(t[:-1]) / 100 if t.endswith("%") else int(t) if t.isdigit() else float(t)
    except ValueError:
        raise DnasError(f"--top takes a count (10) or a fraction (0.05 or 5%), got {text!r}") from None
    if isinstance(value, int) and value < 1 or isinstance(value, float) and not 0 < value < 1:
        raise DnasError(f"--top {text}: give a count of at least 1 (10) or a fraction between 0 and 1 "
                        f"(0.05 or 5%)")
    return value


def _check_sizes(tops: list[str] | None, sizes: list[tuple[str, str, int]], where: str | None = None) -> None:
    """Before the bootstrap: refuse a pair with fewer than 2 rows to compare (naming the pair and
    --where), and an explicit --top K whose k is not below a pair's row count n: precision@k is then
    trivially 1 and the statistics skip it, which would drop the row the user asked for without a word.
    (The default sizes are skipped on small subsets with a printed note instead.)"""
    from reports.ranks import resolve_k

    for x, y, n in sizes:
        if n < 2:
            fix = (f"widen --where {where!r}" if where else
                   "check that both columns hold scores for the same architectures")
            raise DnasError(f"{x} ~ {y}: {n} rows have both scores finite; a correlation needs at least 2: {fix}")
    for text in tops or []:
        for x, y, n in sizes:
            k = resolve_k(_top(text), n)
            if k >= n:
                raise DnasError(f"--top {text}: precision@k needs k below the number of rows compared, and "
                                f"{x} ~ {y} compares n = {n}; give a count under {n} or a fraction such as 5%")


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
        if r.notes.get("top_k_skipped"):
            print(f"  precision@k skipped, {r.notes['top_k_skipped']} (the top n of n agree trivially)")
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
    from reports.rankstudy import build_study, correlate, kendall_matrix, pair_sizes, parse_spec

    if not args.y or len(args.y) != 1:
        raise DnasError("give the reference ranking with exactly one --y SPEC (e.g. --y nb201:cifar10@200/test-accuracy)")
    if not args.x:
        raise DnasError("give at least one --x SPEC to compare with --y (e.g. --x nb201:cifar10-valid@12/valid-accuracy)")
    specs = [parse_spec(t) for t in args.x] + [parse_spec(args.y[0])]
    extra = {name: parse_spec(text) for name, text in parse_pairs(args.col, "--col").items()}
    study = build_study(specs, extra=extra, where=args.where, unique=args.unique)
    _check_sizes(args.top, pair_sizes(study, pairwise=args.pairwise, missing=args.missing), args.where)
    results = correlate(study, pairwise=args.pairwise, **_rankcorr_kwargs(args))
    plots = _rankcorr_plots(args.plot, study, results, kendall_matrix) if args.plot else []
    if args.json:
        print_json({"results": [r.to_dict() for r in results], "notes": study.notes, "plots": plots})
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
    from suite.device import resolve_device
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
    n = len(acc) if args.missing == "last" else int((np.isfinite(acc) & np.isfinite(truth[idx])).sum())
    _check_sizes(args.top, [("supernet", y_text, n)])
    result = rankcorr(acc, truth[idx], x_name=f"supernet one-hot valid accuracy ({store.path.name})",
                      y_name=y_text, **_rankcorr_kwargs(args))
    result.notes.update({"run": str(store.path), "checkpoint_epoch": ckpt["epoch"], "run_status":
                         store.status.get("status"), "bn": args.bn, "bn_batches": args.bn_batches,
                         "sample": args.sample, "sample_seed": args.seed, "sample_unique": bool(args.unique),
                         "valid_split": valid.name, "device": device})
    out_dir = store.path / "rankcorr"
    stem = f"supernet-n{args.sample}-seed{args.seed}" + ("-unique" if args.unique else "")
    write_json(out_dir / f"{stem}.json", json_clean(result.to_dict()))
    import pandas as pd

    with atomic_path(out_dir / f"{stem}.csv") as tmp:
        pd.DataFrame({"index": idx, "arch": study.frame["arch"].to_numpy()[idx], "supernet_accuracy": acc,
                      "y": truth[idx]}).to_csv(tmp, index=False)
    if args.json:
        print_json({**result.to_dict(), "files": [str(out_dir / f"{stem}.json"), str(out_dir / f"{stem}.csv")]})
    else:
        _print_rankcorr([result])
        print(f"wrote {out_dir / (stem + '.json')} and {stem}.csv")
    return 0


def _nb201(text: str) -> Any:
    from suite.spaces.nb201 import Arch

    return Arch.parse(text)


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("rankcorr", help="rank-correlation study: how well x ranks architectures the way y does",
                        description="SPEC: BENCH:DATASET@EPOCHS/METRIC (BENCH = nb201 or a store path), or "
                                    "FILE:COLUMN,key=KEYCOL,format=string|index|ops|naslib[,json-key=K (JSON only)]"
                                    "[,agg=mean|median|min|max|first]; "
                                    "options for both: ,label=NAME ,mode=max|min.")
    sp.add_argument("--x", action="append", metavar="SPEC", help="a score to test (repeatable)")
    sp.add_argument("--y", action="append", metavar="SPEC", help="the reference ranking, e.g. nb201:cifar10@200/test-accuracy")
    sp.add_argument("--col", action="append", metavar="NAME=SPEC", help="an extra column for --where only")
    sp.add_argument("--where", help="keep rows where this condition holds; columns: y, x (x1, x2 ...), index, "
                                    "arch, every SPEC's label (in backticks), --col names; literals, comparisons, "
                                    "and/or/not, & | ~, + - * / // %% **, and the column methods abs between isin "
                                    "isna max mean median min notna quantile rank std with literal arguments; "
                                    "nothing else runs, e.g. 'y >= y.quantile(0.9)'")
    sp.add_argument("--unique", action="store_true", help="one architecture per isomorphism class (6,466 in NB201)")
    sp.add_argument("--pairwise", action="store_true", help="every pair of the SPECs, not only each x against y")
    sp.add_argument("--bootstrap", type=count_at_least(0), default=1000, help="bootstrap resamples (default 1000; 0: none)")
    sp.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    sp.add_argument("--seed", type=count_at_least(0), default=0, help="seed of the resamples (and of --sample)")
    sp.add_argument("--top", action="append", metavar="K",
                    help="precision@K: a count below the rows compared, or a fraction/percentage (repeatable; "
                         "default 10, 1%%, 5%%, 10%%; a default not below the rows is skipped with a note)")
    sp.add_argument("--missing", choices=["drop", "last"], default="drop",
                    help="non-finite scores: drop the row (counted) or rank it last")
    sp.add_argument("--plot", metavar="DIR", help="write a scatter per pair and a Kendall-tau heatmap here")
    sp.add_argument("--supernet", metavar="RUN_DIR", help="x = accuracy inside this search run's final supernet")
    sp.add_argument("--sample", type=count_at_least(1), help="with --supernet: architectures to evaluate")
    sp.add_argument("--bench", help="with --supernet: benchmark of the reference (default: the run's, else the "
                                    "space's built-in table); the reference is DATASET@200/test-accuracy")
    sp.add_argument("--bn", choices=["reestimate", "batch"], default="reestimate",
                    help="with --supernet: BN statistics re-estimated per architecture on train batches (default), "
                         "or per-batch statistics as during the search")
    sp.add_argument("--bn-batches", dest="bn_batches", type=count_at_least(1), default=10,
                    help="train batches for --bn reestimate")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_rankcorr)
