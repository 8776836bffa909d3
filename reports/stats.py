"""Statistics of seed samples: the percentile bootstrap interval of a mean, the one-sided Mann-Whitney U
test and the probability of improvement, a per-method summary, and rank agreement of two score vectors.

The comparison tables (``reports.tables``) and the regression verdicts (``reports.regress``) use these;
their numbers are checked against scipy in ``tests/test_reports.py``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (draws exactly as ``scipy.stats.bootstrap`` with
    ``method='percentile'`` and ``rng=np.random.default_rng(seed)``); NaNs for fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(x), (n_resamples, len(x)))
    means = x[idx].mean(axis=-1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def prob_improvement(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> float:
    """P(a draw from ``a`` beats one from ``b``), ties counting half: U / (n_a n_b)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(x) or not len(y):
        return math.nan
    diff = x[:, None] - y[None, :]
    if not higher_is_better:
        diff = -diff
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def mann_whitney(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> tuple[float, float]:
    """One-sided Mann-Whitney U test that ``a`` is better than ``b``: (U of a, p-value).

    Seed counts are small, so the p-value is exact, from every split of the pooled values (ties
    included), up to 200,000 splits; the normal approximation beyond. With two seeds each the
    smallest attainable p is 1/6: no difference can reach 0.05."""
    from scipy.stats import PermutationMethod, mannwhitneyu

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(x) or not len(y):
        return math.nan, math.nan
    if np.all(x == x[0]) and np.all(y == x[0]):  # all equal: no evidence either way
        return len(x) * len(y) / 2, 1.0
    if min(len(x), len(y)) < 2:  # scipy permutes only samples of two or more: its exact U distribution
        method: Any = "exact"
    elif math.comb(len(x) + len(y), len(x)) <= 200_000:
        method = PermutationMethod(n_resamples=np.inf)
    else:
        method = "asymptotic"
    res = mannwhitneyu(x, y, alternative="greater" if higher_is_better else "less", method=method)
    u = float(res.statistic) if higher_is_better else len(x) * len(y) - float(res.statistic)
    return u, float(res.pvalue)


def summarize(values: Sequence[float], seeds: Sequence[Any], *, higher_is_better: bool = True,
              n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """n, mean, std (ddof 1), 95 % bootstrap interval, best and worst value with their seeds."""
    x = np.asarray(values, dtype=float)
    keep = np.isfinite(x)
    x, s = x[keep], [sd for sd, k in zip(seeds, keep) if k]
    if not len(x):
        return {"n": 0}
    lo, hi = bootstrap_ci(x, n_resamples=n_resamples, seed=seed)
    order = np.argsort(x, kind="stable")
    best, worst = (order[-1], order[0]) if higher_is_better else (order[0], order[-1])
    return {"n": len(x), "mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else math.nan,
            "ci_low": lo, "ci_high": hi, "best": float(x[best]), "best_seed": s[best],
            "worst": float(x[worst]), "worst_seed": s[worst]}


def rank_agreement(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Kendall's tau-b and Spearman's rho of two aligned score vectors (pairs with a NaN dropped)."""
    from scipy.stats import kendalltau, spearmanr

    a = pd.to_numeric(pd.Series(list(x)), errors="coerce").to_numpy(dtype=float)
    b = pd.to_numeric(pd.Series(list(y)), errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return {"n": int(len(a)), "n_dropped": int((~keep).sum()), "kendall_tau": math.nan, "kendall_p": math.nan,
                "spearman_rho": math.nan, "spearman_p": math.nan}
    kt, sp = kendalltau(a, b), spearmanr(a, b)
    return {"n": int(len(a)), "n_dropped": int((~keep).sum()), "kendall_tau": float(kt.statistic),
            "kendall_p": float(kt.pvalue), "spearman_rho": float(sp.statistic), "spearman_p": float(sp.pvalue)}
