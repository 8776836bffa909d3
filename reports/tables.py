"""Comparison tables: per method and dataset, mean ± std over seeds with n, a 95 % bootstrap
interval (from 4 seeds; with 2 or 3 the range, labelled so: ``reports.stats.interval_kind``) and the
best and worst seed; rows for the benchmark optimum and published references;
pairwise one-sided Mann-Whitney U tests with the probability of improvement.

``comparison(runs)`` returns one tidy numeric frame; ``render(frame, fmt)`` writes that same
frame as Markdown, LaTeX (booktabs), CSV or HTML. Only complete runs enter a statistic; the
rest are counted in ``n_incomplete``. Groups never mix search datasets, spaces, benchmark
versions or settings (``config_hash``). The statistics themselves live in ``reports.stats``
(re-exported here, where callers have always found them).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from suite.errors import InvalidInput

from .load import is_lookup
from .stats import interval_kind, mann_whitney, prob_improvement, summarize

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

GROUP = ["space", "dataset", "bench_version"]
"""A comparison is only made inside one search space, search dataset and benchmark version."""

COST_METRICS = ("params_m", "search_gpu_days", "search_cpu_hours", "eval_gpu_days", "eval_cpu_hours")
LABELS = {
    "trained_test_accuracy": "trained test accuracy (%)",
    "trained_valid_accuracy": "trained valid accuracy (%)",
    "params_m": "params of the trained network (M)",
    "search_gpu_days": "search GPU-days",
    "search_cpu_hours": "search CPU-hours (no GPU)",
    "eval_gpu_days": "evaluation GPU-days",
    "eval_cpu_hours": "evaluation CPU-hours (no GPU)",
    "latency_ms": "latency of the found cell (ms, --hardware)",
    "energy_mj": "energy of the found cell (mJ, --hardware)",
}
HIGHER_IS_BETTER = {"params_m": False, "search_gpu_days": False, "search_cpu_hours": False,
                    "eval_gpu_days": False, "eval_cpu_hours": False, "latency_ms": False, "energy_mj": False}
HARDWARE_METRICS = ("latency_ms", "energy_mj")
"""Columns ``reports.hardware.add_hardware`` adds (``dnas report --hardware``)."""
REFERENCES = Path(__file__).with_name("references")


def label(metric: str) -> str:
    """A reader's name for a metric column (lookups read 'cifar10 test accuracy (%), 200 ep, looked up')."""
    if metric in LABELS:
        return LABELS[metric]
    if is_lookup(metric):
        head, _, m = metric.partition("/")
        dataset, _, epochs = head.partition("@")
        return f"{dataset} {m.replace('-', ' ')} (%), {epochs}-epoch, looked up"
    return metric


# ---- the comparison frame ---------------------------------------------------------------------

def default_metrics(runs: pd.DataFrame) -> list[str]:
    """Lookups (per dataset and metric at its longest schedule), trained accuracy, params and cost."""
    lookups = [c for c in runs.columns if is_lookup(c) and runs[c].notna().any()]
    longest: dict[tuple[str, str], tuple[int, str]] = {}
    for c in lookups:
        head, _, metric = c.partition("/")
        dataset, _, epochs = head.partition("@")
        key = (dataset, metric)
        if key not in longest or int(epochs) > longest[key][0]:
            longest[key] = (int(epochs), c)
    chosen = [c for c in lookups if c in {v[1] for v in longest.values()}]
    chosen.sort(key=_lookup_order)
    extra = ["trained_test_accuracy", "trained_valid_accuracy", *HARDWARE_METRICS, *COST_METRICS]
    return chosen + [c for c in extra if c in runs and pd.to_numeric(runs[c], errors="coerce").notna().any()]


def _lookup_order(col: str) -> tuple[int, str]:
    order = ["cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"]
    dataset = col.partition("@")[0]
    return (order.index(dataset) if dataset in order else len(order), col)


def primary_metric(runs: pd.DataFrame) -> str | None:
    """The metric a one-line verdict is about: cifar10 test accuracy if looked up, else the first lookup."""
    metrics = default_metrics(runs)
    for m in metrics:
        if m.startswith("cifar10@") and m.endswith("/test-accuracy"):
            return m
    lookups = [m for m in metrics if is_lookup(m)]
    return lookups[0] if lookups else (metrics[0] if metrics else None)


def _groups(runs: pd.DataFrame):
    searches = runs[runs["kind"] == "search"].copy()
    searches[GROUP] = searches[GROUP].fillna("none")
    for key, grp in searches.groupby(GROUP, sort=True, dropna=False):
        yield dict(zip(GROUP, key)), grp


def _method_labels(grp: pd.DataFrame) -> pd.Series:
    """The method name, with the settings hash when one method ran under several settings."""
    many = grp.groupby("method")["config_hash"].transform("nunique") > 1
    return grp["method"].where(~many, grp["method"] + " [" + grp["config_hash"].str[:6] + "]")


NOT_SEARCHED = ("static", "no-arch-steps")
"""Flags that mean a run's result is its initial architecture: a method whose every seed carries one did
not search."""
SCORES = ("regret", "scaled", "percentile", "random_search", "p_beats_random_search")
"""Columns of the comparison frame set against the random architecture (lookup metrics of a readable table).

``regret``, ``scaled``, ``percentile``: each seed's ``reports.baselines`` scores, mean over seeds;
``random_search``: the expected best value of k uniformly random cells, k = the distinct architectures the
seed's search looked up, mean over seeds; ``p_beats_random_search``: P(the seed's value beats the best of
those k random cells), ties half, exact, mean over seeds."""
TIME_SCORES = ("random_search_time", "p_beats_random_search_time", "p_random_search_time", "random_search_budget_s")
"""Columns set against random search given the same simulated time (a store with per-seed training times):
``random_search_budget_s``: the method's median search seconds; ``random_search_time``: the mean value of
the incumbents of ``RANDOM_SEARCH_REPEATS`` random searches under NATS-Bench's time rule with that budget
(``reports.baselines.simulated_random_search``); ``p_beats_random_search_time``: P(a seed beats one of
those searches), ties half (U / (n m)); ``p_random_search_time``: one-sided exact Mann-Whitney U p-value
that the method is better."""
RANDOM_SEARCH_REPEATS = 100
NOTES = {
    "flags": "how many of the method's complete seeds carry each diagnostic flag (reports.diagnostics)",
    "random architecture": "the metric over every cell of the table (15,625 for NB201) or one cell per "
                           "isomorphism class (6,466): its mean ± std and 5-95 % quantiles, computed, not sampled",
    "regret": "benchmark optimum minus the found cell's value (0 at the optimum), mean over seeds",
    "scaled": "regret / (optimum - random-architecture mean over cells): 0 at the optimum, 1 as good as a random "
              "architecture, above 1 worse; mean over seeds",
    "percentile": "share of the table's unique cells (one per isomorphism class) the found cell beats, ties "
                  "half, in %; mean over seeds",
    "random search, same number of lookups": "expected best of k uniformly random cells, k = the number of "
                                              "distinct architectures the seed's search looked up; mean over seeds",
    "P(beats random search)": "probability that the seed's cell beats the best of those k random cells (ties "
                              "half), exact; mean over seeds; 0.5 is no better than random search at equal cost",
    "random search, same simulated time": "mean of 100 random searches (NATS-Bench's rule: cells drawn "
                                           "uniformly, each costing its simulate_train_eval 12-epoch training "
                                           "time, the best 12-epoch valid accuracy kept) with the method's median "
                                           "search seconds as budget; needs a store with per-seed training times",
    "P(better than random search, same time)": "probability that a seed beats one of those random searches "
                                               "(ties half); p: one-sided exact Mann-Whitney U",
}
"""One line per column or row the comparison adds beyond mean ± std: what it is and how it is computed."""


def flag_counts(done: pd.DataFrame) -> tuple[str, bool]:
    """The flags the complete runs ``done`` of one method carry, as one cell ("static 2/2, collapse 1/2"),
    and whether every seed carries a ``NOT_SEARCHED`` flag (the method did not search)."""
    if not len(done) or "diagnostics" not in done:
        return "", False
    per_seed = [[c.strip() for c in str(d or "").split(",") if c.strip()] for d in done["diagnostics"]]
    counts: dict[str, int] = {}
    for seed_codes in per_seed:
        for c in seed_codes:
            counts[c] = counts.get(c, 0) + 1
    cell = ", ".join(f"{c} {k}/{len(done)}" for c, k in counts.items())
    return cell, all(any(c in NOT_SEARCHED for c in seed_codes) for seed_codes in per_seed)


def _random_scores(done: pd.DataFrame, metric: str, dist: Any) -> dict[str, float]:
    """The ``SCORES`` of one method's complete runs on ``metric`` against the random-architecture ``dist``."""
    from .baselines import random_search_beaten, random_search_best

    per_seed = []
    for _, r in done.iterrows():
        v = pd.to_numeric(pd.Series([r.get(metric)]), errors="coerce").iloc[0]
        if not math.isfinite(v):
            continue
        k = r.get("archs_looked_up")
        k = int(k) if isinstance(k, (int, float, np.integer, np.floating)) and k == k and k > 0 \
            else int(r.get("epochs_done") or 1)
        per_seed.append({**dist.scores(float(v)),
                         "random_search": random_search_best(dist.values, k, higher_is_better=dist.higher_is_better),
                         "p_beats_random_search": random_search_beaten(dist.values, float(v), k,
                                                                       higher_is_better=dist.higher_is_better)})
    if not per_seed:
        return {}
    return {c: float(np.mean([s[c] for s in per_seed])) for c in SCORES}


def _time_scores(done: pd.DataFrame, metric: str, dist: Any, cache: dict[Any, Any]) -> dict[str, float]:
    """The ``TIME_SCORES`` of one method's complete runs on ``metric``: random search given the method's median
    search seconds under the simulated time rule (``cache``: incumbents by benchmark, dataset and budget, so
    every metric of one dataset reads the same searches). Empty when the table has no training times."""
    from .baselines import parse_key, simulated_random_search, simulation_dataset

    values = pd.to_numeric(done[metric], errors="coerce").dropna().to_numpy()
    seconds = pd.to_numeric(done.get("search_wall_time_s", pd.Series(dtype=float)), errors="coerce").dropna()
    if not len(values) or not len(seconds) or dist.bench is None:
        return {}
    dataset, epochs, name = parse_key(metric)
    budget = float(seconds.median())
    key = (id(dist.bench), simulation_dataset(dataset), budget)
    if key not in cache:
        cache[key] = simulated_random_search(dist.bench, key[1], budget, repeats=RANDOM_SEARCH_REPEATS)
    if cache[key] is None:
        return {}
    rs = np.array([dist.bench.query(int(i), dataset, name, epochs) for i in cache[key]], dtype=float)
    _, p = mann_whitney(values, rs, higher_is_better=dist.higher_is_better)
    return {"random_search_time": float(np.nanmean(rs)), "random_search_budget_s": budget, "p_random_search_time": p,
            "p_beats_random_search_time": prob_improvement(values, rs, higher_is_better=dist.higher_is_better)}


def comparison(runs: pd.DataFrame, metrics: Sequence[str] | None = None, *, optimum: pd.DataFrame | None = None,
               references: pd.DataFrame | None = None, baselines: Mapping[tuple[str, str], Any] | None = None,
               n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """The long comparison frame: one row per (group, metric, method), plus optimum, random-architecture and
    reference rows.

    Method rows carry their seeds' diagnostic ``flags`` (and say in ``note`` when the method did not search);
    with ``baselines`` (``random_baselines``: the random-architecture distribution per benchmark version and
    lookup metric) they also carry the ``SCORES`` and each group gets two ``random`` rows per metric, over all
    cells and over the isomorphism classes."""
    metrics = list(metrics) if metrics is not None else default_metrics(runs)
    baselines = baselines or {}
    rows: list[dict[str, Any]] = []
    simulated: dict[Any, Any] = {}
    for key, grp in _groups(runs):
        grp = grp.assign(method_label=_method_labels(grp))
        for metric in metrics:
            if metric not in grp:
                continue
            hib = HIGHER_IS_BETTER.get(metric, True)
            dist = baselines.get((key["bench_version"], metric))
            for method, mg in grp.groupby("method_label", sort=True):
                done = mg[mg["complete"]]
                stats = summarize(pd.to_numeric(done[metric], errors="coerce"), list(done["seed"]),
                                  higher_is_better=hib, n_resamples=n_resamples, seed=seed)
                flags, idle = flag_counts(done)
                rows.append({**key, "metric": metric, "row": "runs", "method": method,
                             "n_incomplete": int((~mg["complete"]).sum()), **stats, "flags": flags,
                             "note": ("did not search: every seed's result is its initial architecture ("
                                      + " or ".join(NOT_SEARCHED) + ")") if idle else None,
                             **(_random_scores(done, metric, dist) if dist is not None else {}),
                             **(_time_scores(done, metric, dist, simulated) if dist is not None else {})})
            if optimum is not None and len(optimum):
                for _, o in optimum[(optimum["metric"] == metric)
                                    & (optimum["bench_version"] == key["bench_version"])].iterrows():
                    rows.append({**key, "metric": metric, "row": "optimum", "method": "benchmark optimum",
                                 "n": None, "mean": o["value"], "source": f"{o['bench_version']}, arch [{o['index']}]",
                                 "note": o["arch"], **(dist.scores(float(o["value"])) if dist is not None else {})})
            if dist is not None:
                for over in ("cells", "classes"):
                    sm = dist.summary(over)
                    rows.append({**key, "metric": metric, "row": "random", "method": random_label(sm),
                                 "n": sm["n"], "mean": sm["mean"], "std": sm["std"], "ci_low": sm["q05"],
                                 "ci_high": sm["q95"], "interval": "5–95 % quantiles",
                                 "source": f"{key['bench_version']}: every "
                                           + ("cell" if over == "cells" else "isomorphism class (its lowest index)")
                                           + ", computed over the whole table (not sampled)",
                                 **dist.scores(sm["mean"])})
            if references is not None and len(references):
                refs = references[(references["metric"] == metric) & (references["space"] == key["space"])]
                for _, r in refs.iterrows():
                    rows.append({**key, "metric": metric, "row": "reference", "method": f"{r['method']} (published)",
                                 "n": r.get("n"), "mean": r["value"], "std": r.get("std"),
                                 "source": f"{r['source']}, {r['paper_table']}; {r['benchmark_version']}",
                                 "note": f"search on {r['search_dataset']}; {r['verified']}"})
    cols = [*GROUP, "metric", "row", "method", "n", "n_incomplete", "mean", "std", "ci_low", "ci_high", "interval",
            "best", "best_seed", "worst", "worst_seed", "source", "note", "flags", *SCORES, *TIME_SCORES]
    frame = pd.DataFrame(rows)
    for c in cols:
        if c not in frame:
            frame[c] = None
    return frame[cols]


def pairwise(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every ordered pair of methods in a group: is A better than B on ``metric``? U, p, P(A beats B)."""
    hib = HIGHER_IS_BETTER.get(metric, True)
    rows = []
    for key, grp in _groups(runs):
        if metric not in grp:
            continue
        grp = grp[grp["complete"]].assign(method_label=_method_labels(grp[grp["complete"]]))
        values = {m: pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy()
                  for m, g in grp.groupby("method_label", sort=True)}
        for a, xa in values.items():
            for b, xb in values.items():
                if a == b or not len(xa) or not len(xb):
                    continue
                u, p = mann_whitney(xa, xb, higher_is_better=hib)
                rows.append({**key, "metric": metric, "a": a, "b": b, "n_a": len(xa), "n_b": len(xb), "u": u,
                             "p_value": p, "prob_improvement": prob_improvement(xa, xb, higher_is_better=hib)})
    return pd.DataFrame(rows, columns=[*GROUP, "metric", "a", "b", "n_a", "n_b", "u", "p_value",
                                       "prob_improvement"])


# ---- optimum, random architecture and references ----------------------------------------------

def random_label(summary: Mapping[str, Any]) -> str:
    """The method cell of a random-architecture row: 'random architecture (15,625 cells)'."""
    return f"random architecture ({summary['n']:,} {summary['over']})"


def _benches(runs: pd.DataFrame) -> dict[str, Any]:
    """Each benchmark version the search runs were looked up in, opened from the first store path recorded
    with it that still opens (the built-in nb201, or a table's directory); versions none opens are left out."""
    import benchmarks

    out = {}
    searches = runs[(runs["kind"] == "search") & runs["bench"].notna()]
    for version, grp in searches.groupby("bench_version"):
        for path in grp["bench"].unique():
            try:
                out[version] = benchmarks.open(path)
                break
            except Exception:  # moved or deleted: try the next path that named this version
                continue
    return out


def random_baselines(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> dict[tuple[str, str], Any]:
    """The random-architecture distribution (``reports.baselines.RandomArchitecture``) of every lookup metric
    in every benchmark the runs used, by (benchmark version, metric); metrics the table lacks are left out."""
    from .baselines import class_representatives, random_architecture

    metrics = [m for m in (metrics if metrics is not None else default_metrics(runs)) if is_lookup(m)]
    out = {}
    for version, bench in _benches(runs).items():
        reps = class_representatives(bench)  # once per benchmark, not per metric
        for m in metrics:
            try:
                dist = random_architecture(bench, m, reps)
            except (KeyError, ValueError, AttributeError):
                continue
            if np.isfinite(dist.values).any():
                out[(version, m)] = dist
    return out


def benchmark_optimum(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The benchmark's best value for every lookup column, from each benchmark the runs used."""
    metrics = [m for m in (metrics if metrics is not None else default_metrics(runs)) if is_lookup(m)]
    rows = []
    for version, bench in _benches(runs).items():
        for m in metrics:
            head, _, metric = m.partition("/")
            dataset, _, epochs = head.partition("@")
            try:
                best = bench.best(dataset, metric, int(epochs))
            except (KeyError, ValueError):
                continue
            rows.append({"bench_version": version, "metric": m, "value": best.value, "index": best.index,
                         "arch": best.arch})
    return pd.DataFrame(rows, columns=["bench_version", "metric", "value", "index", "arch"])


def load_references(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Published numbers kept as reviewed data (``reports/references/*.csv``), one row per number."""
    files = [Path(path)] if path else sorted(REFERENCES.glob("*.csv"))
    frames = [pd.read_csv(f, comment="#") for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ---- rendering --------------------------------------------------------------------------------

def _num(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    if isinstance(x, (int, np.integer)):
        return str(x)
    x = float(x)
    if x != 0 and abs(x) < 0.5 * 10 ** -digits:  # would print as zero
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def _digits(metric: str) -> int:
    if metric in HARDWARE_METRICS:
        return 3
    return 4 if ("gpu_days" in metric or "cpu_hours" in metric) else 2 if "accuracy" in metric else 3


def _seed(s: Any) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return ""
    return str(int(s)) if isinstance(s, (int, float, np.integer, np.floating)) else str(s)


def _interval(r: pd.Series, digits: int) -> str:
    """The interval cell: "[low, high]" for a 95 % CI, "range low–high (n = 2)" for 2 or 3 values (a range is
    not a confidence interval), empty otherwise; frames without the ``interval`` column get it from n."""
    lo, hi = _num(r["ci_low"], digits), _num(r["ci_high"], digits)
    if not lo:
        return ""
    kind = r["interval"] if "interval" in r else interval_kind(int(r["n"]))
    if not isinstance(kind, str):
        return ""
    if kind == "95% CI":
        return f"[{lo}, {hi}]"
    return f"range {lo}–{hi} (n = {int(r['n'])})" if kind == "range" else f"{kind} {lo}–{hi}"


def display(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison frame formatted for reading: one text column per statistic."""
    rows = []
    for _, r in frame.iterrows():
        d = _digits(str(r["metric"]))
        n = r["n"]
        has_n = n is not None and not (isinstance(n, float) and math.isnan(n))
        mean = _num(r["mean"], d)
        std = _num(r["std"], d)
        ci = _interval(r, d)
        inc = r["n_incomplete"]
        rows.append({
            "metric": label(str(r["metric"])), "method": r["method"],
            "n": (f"{int(n):,}" if has_n else "") + (f" (+{int(inc)} not complete)" if inc and inc == inc and inc > 0
                                                   else ""),
            "mean ± std": f"{mean} ± {std}" if mean and std else mean,
            "95 % CI": ci,
            "best (seed)": f"{_num(r['best'], d)} ({_seed(r['best_seed'])})" if _num(r["best"], d) else "",
            "worst (seed)": f"{_num(r['worst'], d)} ({_seed(r['worst_seed'])})" if _num(r["worst"], d) else "",
            "regret": _num(r.get("regret"), d), "scaled": _num(r.get("scaled"), 2),
            "percentile": _num(r.get("percentile"), 1),
            "random search, same number of lookups": _num(r.get("random_search"), d),
            "P(beats random search)": _num(r.get("p_beats_random_search"), 2),
            "random search, same simulated time": _num(r.get("random_search_time"), d),
            "P(better than random search, same time)": _vs_random(r),
            "flags": r.get("flags") if isinstance(r.get("flags"), str) else "",
            "source": " ".join(str(x) for x in (r["source"], r["note"]) if isinstance(x, str) and x),
        })
    return pd.DataFrame(rows, columns=DISPLAY_COLUMNS)


def _vs_random(r: pd.Series) -> str:
    """"0.83 (p 0.012)": P(better than random search at the same simulated time) and its one-sided p."""
    prob = _num(r.get("p_beats_random_search_time"), 2)
    return f"{prob} (p {_num(r.get('p_random_search_time'), 3)})" if prob else ""


DISPLAY_COLUMNS = ["metric", "method", "n", "flags", "mean ± std", "95 % CI", "best (seed)", "worst (seed)", "regret",
                   "scaled", "percentile", "random search, same number of lookups", "P(beats random search)",
                   "random search, same simulated time", "P(better than random search, same time)", "source"]
"""The columns of ``display`` (and so of every rendering but CSV); ``NOTES`` explains the added ones."""


def overview(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One line per method (then the benchmark optimum and the random architecture), one column per metric:
    'mean ± std (n)'; a ``flags`` column (second, so it is seen first) with the methods' diagnostic flags when
    any has one (and "did not search" where every seed kept its initial architecture)."""
    rows = frame[frame["row"].isin(["runs", "optimum", "random"])]
    if metrics is not None:
        rows = rows[rows["metric"].isin(metrics)]
    cells: dict[str, dict[str, str]] = {}
    flags: dict[str, str] = {}
    for _, r in rows.iterrows():
        d = _digits(str(r["metric"]))
        mean, std = _num(r["mean"], d), _num(r["std"], d)
        n = r["n"]
        text = (f"{mean} ± {std}" if mean and std else mean) + (
            f" ({int(n)})" if n is not None and n == n and r["row"] == "runs" else "")
        cells.setdefault(r["method"], {})[label(str(r["metric"]))] = text or "—"
        if r["row"] == "runs":
            said = [x for x in (r.get("flags"), r.get("note")) if isinstance(x, str) and x]
            flags.setdefault(r["method"], "; ".join(said))
    order = list(dict.fromkeys(label(str(m)) for m in rows["metric"]))
    kinds = dict(zip(rows["method"], rows["row"]))
    names = sorted(k for k in cells if kinds[k] == "runs") + [k for k in cells if kinds[k] == "optimum"] \
        + sorted(k for k in cells if kinds[k] == "random")
    extra = ["flags"] if any(flags.values()) else []
    return pd.DataFrame([{"method": k, **{c: cells[k].get(c, "") for c in order},
                          **({"flags": flags.get(k, "")} if extra else {})} for k in names],
                        columns=["method", *extra, *order])


def display_pairwise(frame: pd.DataFrame) -> pd.DataFrame:
    """Pairwise tests for reading: 'A better than B' with P(A beats B), U and the one-sided p."""
    return pd.DataFrame({"metric": frame["metric"].map(label), "A": frame["a"], "B": frame["b"],
                         "n (A, B)": [f"{a}, {b}" for a, b in zip(frame["n_a"], frame["n_b"])],
                         "P(A beats B)": frame["prob_improvement"].map(lambda x: _num(x, 2)),
                         "U": frame["u"].map(lambda x: _num(x, 1)),
                         "one-sided p": frame["p_value"].map(lambda x: _num(x, 3))})


def format_rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Rank-agreement rows for reading."""
    out = frame.copy()
    for c in ("kendall_tau", "spearman_rho"):
        out[c] = out[c].map(lambda v: _num(v, 3))
    for c in ("kendall_p", "spearman_p"):
        out[c] = out[c].map(lambda v: _num(v, 3) if v >= 1e-3 else "< 0.001" if v == v else "")
    return out.rename(columns={"kendall_tau": "Kendall τ-b", "kendall_p": "p (τ)", "spearman_rho": "Spearman ρ",
                               "spearman_p": "p (ρ)", "n_dropped": "dropped (NaN)"})


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The cells a table shows: ``display`` of a comparison frame, ``display_pairwise`` of a pairwise one."""
    shown = display(frame) if "ci_low" in frame else display_pairwise(frame) if "prob_improvement" in frame \
        else frame.astype(str)
    return shown.fillna("").astype(str)


def styled(frame: pd.DataFrame) -> "Styler":
    """A comparison or pairwise frame as pandas' ``Styler`` of the cells it shows, each row's cells classed by
    its kind (runs, optimum, random, reference): restyle it with the Styler API (highlight the best mean,
    bold a row, other number formats) and pass it to ``render(frame, fmt, styler=...)``."""
    shown = _shown(frame)
    kinds = frame["row"].astype(str).tolist() if "row" in frame else ["runs"] * len(shown)
    classes = pd.DataFrame([[k] * shown.shape[1] for k in kinds], index=shown.index, columns=shown.columns)
    return shown.style.hide(axis="index").set_td_classes(classes).set_uuid("dnas")


def _latex_text(text: str) -> str:
    """After Styler's LaTeX escaping: ± in math mode and the en dash as --, which every engine reads."""
    return str(text).replace("±", r"$\pm$").replace("–", "--")


def render(frame: pd.DataFrame, fmt: str, styler: "Styler | None" = None) -> str:
    """The same frame as ``markdown``, ``latex`` (booktabs rules, LaTeX-escaped), ``csv`` (numbers,
    unformatted) or ``html``, through pandas (``Styler.to_latex``/``to_html``, ``DataFrame.to_markdown``);
    ``styler``: a restyled ``styled(frame)``."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    st = styler if styler is not None else styled(frame)
    if fmt == "markdown":
        cells = st.data.map(lambda v: v.replace("|", r"\|"))  # a cell's "|" would end it
        cells.columns = [c.replace("|", r"\|") for c in cells.columns]
        return cells.to_markdown(index=False, tablefmt="pipe", disable_numparse=True) + "\n"
    if fmt == "latex":
        return st.format(_latex_text, escape="latex").format_index(_latex_text, escape="latex", axis=1).to_latex(
            hrules=True, column_format="l" * st.data.shape[1])
    if fmt == "html":
        return st.to_html(table_attributes='class="results"')
    raise InvalidInput(f"unknown table format {fmt!r}; choose markdown, latex, csv or html")


FORMATS = {"markdown": ".md", "latex": ".tex", "csv": ".csv", "html": ".html"}


def write_tables(frame: pd.DataFrame, out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    """Write ``frame`` in every format as ``out_dir/name.{md,tex,csv,html}`` (atomically)."""
    from suite.io import atomic_path

    out = {}
    for fmt, ext in FORMATS.items():
        path = Path(out_dir) / f"{name}{ext}"
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(render(frame, fmt))
        except OSError as exc:  # a full disk names no file (or a temp one): name the file being written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        out[fmt] = path
    return out
