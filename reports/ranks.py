"""Rank-correlation statistics with bootstrap intervals, vectorised over resamples.

``rankcorr(x, y)`` answers "does x rank architectures the way y does?": Kendall's tau-b,
Spearman's rho, Pearson's r, weighted tau and top-k precision, each with a percentile bootstrap
interval. Point estimates and p-values are scipy's own. ``rankcorr_pairs`` runs many pairs of
columns as one study. The bootstrap is vectorised over resamples (``reports.rank_bootstrap``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from suite.errors import InvalidInput, NotFound

from .rank_bootstrap import ResamplePlan, bootstrap_statistics

STATISTICS = ("kendall_tau", "spearman_rho", "pearson_r", "weighted_tau")
"""The correlation statistics, in report order (top-k precisions follow)."""
DESCRIPTIONS = {
    "kendall_tau": "Kendall tau-b: P(a random pair is ordered alike) - P(ordered oppositely), ties corrected",
    "spearman_rho": "Spearman rho: Pearson correlation of the ranks (monotone agreement, dominated by the bulk)",
    "pearson_r": "Pearson r: linear agreement of the raw values",
    "weighted_tau": "weighted tau (Vigna; scipy's hyperbolic, additive, both rankings): Kendall tau with "
                    "pairs near the top weighing more",
    "precision": "precision@k: share of the top k by y that are also in the top k by x (ties by row order)",
}
MISSING = ("drop", "last")


@dataclass(frozen=True)
class Stat:
    """One statistic: value on the data, percentile bootstrap interval, scipy's p-value if it defines one."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    p_value: float | None
    n: int
    k: int | None = None


@dataclass
class RankCorr:
    """A tidy rank-correlation result (``to_dict``/``to_frame`` for reports)."""

    x: str
    y: str
    n: int
    dropped: dict[str, int]
    stats: dict[str, Stat]
    bootstrap: int
    level: float
    seed: int
    missing: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "n": self.n, "n_dropped": self.n_dropped, "dropped": self.dropped,
                "missing": self.missing, "bootstrap": self.bootstrap, "level": self.level, "seed": self.seed,
                "notes": self.notes, "stats": {k: vars(s) for k, s in self.stats.items()}}

    def to_frame(self):
        """One row per statistic: x, y, statistic, k, value, ci_low, ci_high, p_value, n, n_dropped."""
        import pandas as pd

        return pd.DataFrame([{"x": self.x, "y": self.y, "statistic": s.name, "k": s.k, "value": s.value,
                              "ci_low": s.ci_low, "ci_high": s.ci_high, "p_value": s.p_value, "n": s.n,
                              "n_dropped": self.n_dropped} for s in self.stats.values()])


# ---- inputs -----------------------------------------------------------------------------------

def _column(v: Any, data: Any, which: str) -> tuple[np.ndarray, str]:
    if isinstance(v, str):
        if data is None:
            raise InvalidInput(f"{which}={v!r} names a column, so pass the frame as data=")
        if v not in data.columns:
            raise NotFound(f"column {v!r} is not in the frame; columns: {', '.join(map(str, data.columns))}")
        return np.asarray(data[v], dtype=np.float64), v
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInput(f"{which} must be one-dimensional, got shape {arr.shape}")
    return arr, getattr(v, "name", None) or which


def _not_finite(x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """Rows with a non-finite score, counted once each under the first reason that applies."""
    fx, fy = np.isfinite(x), np.isfinite(y)
    out = {"x and y not finite": int((~fx & ~fy).sum())}
    for name, a, other in (("x", x, fy), ("y", y, fx)):
        for reason, bad in (("NaN", np.isnan(a)), ("+inf", np.isposinf(a)), ("-inf", np.isneginf(a))):
            out[f"{name} {reason}"] = int((bad & other).sum())
    return {k: v for k, v in out.items() if v}


def _rank_last(a: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Non-finite values replaced by one value below every finite one: tied, ranked last."""
    out = a.copy()
    low = a[finite].min() - 1.0 if finite.any() else 0.0
    out[~finite] = low
    return out


def resolve_k(k: float, n: int) -> int:
    """A top-k size: an int count, or a fraction in (0, 1) of n (at least 1)."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        if k < 1:
            raise InvalidInput(f"a top-k count must be >= 1, got {k}")
        return int(min(k, n))
    if isinstance(k, float) and 0 < k < 1:
        return max(1, int(round(k * n)))
    raise InvalidInput(f"top-k must be a count (int >= 1) or a fraction in (0, 1), got {k!r}")


def k_label(k: float) -> str:
    return f"precision@{k}" if isinstance(k, (int, np.integer)) else f"precision@{100 * k:g}%"


# ---- point estimates (scipy) ------------------------------------------------------------------

def _scipy_point(x: np.ndarray, y: np.ndarray, weigher: Callable | None) -> dict[str, tuple[float, float | None]]:
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy returns NaN and warns
        kt = stats.kendalltau(x, y)
        sr = stats.spearmanr(x, y)
        pr = stats.pearsonr(x, y) if len(x) >= 2 else None
        wt = stats.weightedtau(x, y, weigher=weigher)
    return {"kendall_tau": (float(kt.statistic), float(kt.pvalue)),
            "spearman_rho": (float(sr.statistic), float(sr.pvalue)),
            "pearson_r": (float(pr.statistic), float(pr.pvalue)) if pr is not None else (math.nan, math.nan),
            "weighted_tau": (float(wt.statistic), None)}


def top_k_precision(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """|top k by x  ∩  top k by y| / k, larger values first, ties broken by row order."""
    rows = np.arange(len(x))
    tx = np.lexsort((rows, -x))[:k]
    ty = np.lexsort((rows, -y))[:k]
    return len(np.intersect1d(tx, ty)) / k


# ---- the study API ----------------------------------------------------------------------------

def rankcorr(x: Any, y: Any, data: Any = None, *, top: Sequence[float] = (10, 0.01, 0.05, 0.1),
             bootstrap: int = 1000, level: float = 0.95, seed: int = 0, missing: str = "drop",
             weigher: Callable[[np.ndarray], np.ndarray] | None = None, workers: int | None = None,
             x_name: str | None = None, y_name: str | None = None) -> RankCorr:
    """How well ``x`` ranks items the way ``y`` does (larger = better for both).

    ``x``/``y``: aligned score vectors, or column names of the frame ``data``. Missing and
    non-finite values are dropped and counted (``missing="drop"``), or tied at the bottom of
    the ranking (``missing="last"``; Pearson r then uses the finite pairs only). ``top``: k for
    precision@k, as counts or fractions of n. ``bootstrap`` resamples (0: none) give percentile
    intervals at ``level``, drawn from ``seed``. ``weigher`` maps 0-based ranks to weights for
    weighted tau (default scipy's hyperbolic 1/(r+1); it must accept an array). Large bootstraps
    run in ``workers`` forked processes (default: one per core); the result does not depend on it.
    A resample on which a statistic is undefined (x or y constant there: scipy gives NaN) is left out
    of that statistic's interval and counted in ``notes["undefined_resamples"]``; when more than
    1 - ``level`` of the resamples are undefined, no interval can hold ``level`` of them, and it is NaN.
    """
    xa, xn = _column(x, data, "x")
    ya, yn = _column(y, data, "y")
    if len(xa) != len(ya):
        raise InvalidInput(f"x and y must be aligned: {len(xa)} vs {len(ya)} values")
    return _rankcorr_many([xa, ya], [(0, 1)], [x_name or xn, y_name or yn], top=top, bootstrap=bootstrap,
                          level=level, seed=seed, missing=missing, weigher=weigher, workers=workers)[0]


def rankcorr_pairs(columns: Mapping[str, Any], pairs: Sequence[tuple[str, str]], *,
                   top: Sequence[float] = (10, 0.01, 0.05, 0.1), bootstrap: int = 1000, level: float = 0.95,
                   seed: int = 0, missing: str = "drop", weigher: Callable[[np.ndarray], np.ndarray] | None = None,
                   workers: int | None = None) -> list[RankCorr]:
    """``rankcorr(columns[x], columns[y])`` for each (x, y) in ``pairs``, equal to it, but pairs that keep
    the same rows share their resamples and each column is ranked once per resample: a study of
    every pair of several columns costs a fraction of one ``rankcorr`` per pair."""
    names = list(columns)
    arrays = [_column(columns[k], None, str(k))[0] for k in names]
    if len({len(a) for a in arrays}) > 1:
        lengths = ", ".join(f"{k}={len(a)}" for k, a in zip(names, arrays))
        raise InvalidInput(f"columns must be aligned: lengths {lengths}")
    index = {k: i for i, k in enumerate(names)}
    for pair in pairs:
        for k in pair:
            if k not in index:
                raise NotFound(f"column {k!r} of pair {pair} is not in columns: {', '.join(map(str, names))}")
    return _rankcorr_many(arrays, [(index[a], index[b]) for a, b in pairs], [str(k) for k in names], top=top,
                          bootstrap=bootstrap, level=level, seed=seed, missing=missing, weigher=weigher,
                          workers=workers)


def _rankcorr_many(arrays: list[np.ndarray], pairs: list[tuple[int, int]], labels: list[str], *,
                   top: Sequence[float], bootstrap: int, level: float, seed: int, missing: str,
                   weigher: Callable | None, workers: int | None) -> list[RankCorr]:
    """The study, with one BLAS thread (forked workers inherit it): its products are small, and idle
    BLAS threads spinning between them tripled the bootstrap's CPU time and doubled scipy's."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _rankcorr_groups(arrays, pairs, labels, top=top, bootstrap=bootstrap, level=level, seed=seed,
                                missing=missing, weigher=weigher, workers=workers)


def _rankcorr_groups(arrays: list[np.ndarray], pairs: list[tuple[int, int]], labels: list[str], *,
                     top: Sequence[float], bootstrap: int, level: float, seed: int, missing: str,
                     weigher: Callable | None, workers: int | None) -> list[RankCorr]:
    if missing not in MISSING:
        raise InvalidInput(f"missing must be one of {MISSING}, got {missing!r}")
    if not 0 < level < 1:
        raise InvalidInput(f"level must be in (0, 1), got {level}")
    if bootstrap < 0:
        raise InvalidInput(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    finite = [np.isfinite(a) for a in arrays]
    keeps = [finite[i] & finite[j] if missing == "drop" else np.ones(len(arrays[i]), dtype=bool) for i, j in pairs]
    groups: dict[bytes, list[int]] = {}
    for p, keep in enumerate(keeps):
        groups.setdefault(keep.tobytes(), []).append(p)  # pairs on the same rows share one bootstrap
    results: list[RankCorr | None] = [None] * len(pairs)
    for members in groups.values():
        keep = keeps[members[0]]
        n = int(keep.sum())
        if n < 2:
            raise InvalidInput(f"need at least 2 rows with finite x and y, got {n}")
        cols = sorted({c for p in members for c in pairs[p]})
        values = {c: arrays[c][keep] if missing == "drop" else _rank_last(arrays[c], finite[c]) for c in cols}
        pear = {p: np.ones(n, dtype=bool) if missing == "drop" else finite[pairs[p][0]] & finite[pairs[p][1]]
                for p in members}
        ks_all = [resolve_k(k, n) for k in top]
        kept = [(k_in, k) for k_in, k in zip(top, ks_all) if k < n]  # the top n of n agree trivially
        boot: list[dict[str, np.ndarray]] = [{} for _ in members]
        if bootstrap:
            local = [(cols.index(pairs[p][0]), cols.index(pairs[p][1])) for p in members]
            plan = ResamplePlan([values[c] for c in cols], local, [k for _, k in kept], weigher,
                         None if missing == "drop" else [pear[p] for p in members])
            boot = bootstrap_statistics(plan, bootstrap, seed, workers)
        for p, b in zip(members, boot):
            i, j = pairs[p]
            notes: dict[str, Any] = {}
            skipped = [k_in for k_in, k in zip(top, ks_all) if k >= n]
            if skipped:
                notes["top_k_skipped"] = f"k >= n = {n}: {', '.join(map(str, skipped))}"
            if missing == "last":
                notes["ranked_last"] = {"x": int((~finite[i]).sum()), "y": int((~finite[j]).sum())}
            dropped = _not_finite(arrays[i], arrays[j]) if missing == "drop" else {}
            results[p] = _result(values[i], values[j], pear[p], kept, b, labels[i], labels[j], n, dropped, notes,
                                 bootstrap=bootstrap, level=level, seed=seed, missing=missing, weigher=weigher)
    return results  # type: ignore[return-value]


def _result(x: np.ndarray, y: np.ndarray, pear: np.ndarray, ks: list[tuple[float, int]], boot: dict[str, np.ndarray],
            x_name: str, y_name: str, n: int, dropped: dict[str, int], notes: dict[str, Any], *, bootstrap: int,
            level: float, seed: int, missing: str, weigher: Callable | None) -> RankCorr:
    """Point estimates (scipy's), percentile intervals from the bootstrap values (undefined resamples left
    out and counted; none when they are more than 1 - level), assembled."""
    point = _scipy_point(x, y, weigher)
    if missing == "last":
        point["pearson_r"] = _scipy_point(x[pear], y[pear], weigher)["pearson_r"] if pear.sum() >= 2 else \
            (math.nan, math.nan)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2

    undefined = {k: int(np.isnan(boot[k]).sum()) for k in STATISTICS if k in boot and np.isnan(boot[k]).any()}
    if undefined:  # top-k precision is defined on every resample
        notes["undefined_resamples"] = undefined

    def interval(key: str) -> tuple[float, float]:
        vals = boot.get(key)
        if vals is None or np.isnan(vals).sum() > (1 - level) * len(vals):
            return math.nan, math.nan
        lo, hi = np.nanquantile(vals, [lo_q, hi_q])
        return float(lo), float(hi)

    stats: dict[str, Stat] = {}
    for name in STATISTICS:
        value, p = point[name]
        stats[name] = Stat(name, value, *interval(name), p, int(pear.sum()) if name == "pearson_r" else n)
    for k_in, k in ks:
        label = k_label(k_in)
        stats[label] = Stat(label, top_k_precision(x, y, k), *interval(f"k{k}"), None, n, k)
    return RankCorr(x_name, y_name, n, dropped, stats, bootstrap, level, seed, missing, notes)


__all__ = ["DESCRIPTIONS", "RankCorr", "STATISTICS", "Stat", "k_label", "rankcorr",
           "rankcorr_pairs", "resolve_k", "top_k_precision"]
