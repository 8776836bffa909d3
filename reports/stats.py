"""Statistics of seed samples: the percentile bootstrap interval of a mean, exact one-sided Mann-Whitney U
and Wilcoxon signed-rank tests (ties included, any n) with their smallest reachable p-values, the
probability of improvement, a per-method summary, and rank agreement of two score vectors.

The comparison tables (``reports.tables``) and the regression verdicts (``reports.regress``) use these;
their numbers are checked against scipy in ``tests/test_reports.py`` and against full enumeration in
``tests/test_exact_stats.py``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from suite.errors import InvalidInput


MIN_CI_N = 4
"""The fewest values whose 95 % bootstrap interval is more than their range (see ``interval_kind``)."""


def interval_kind(n: int) -> str | None:
    """What the 95 % interval of the mean of n values is, so that no table passes a range off as a
    confidence interval: "95% CI" from ``MIN_CI_N`` = 4 values, "range" for 2 or 3, None below.

    A percentile-bootstrap resample made only of copies of the smallest value has probability at least
    (1/n)^n, which is 1/27 > 2.5 % for n = 3 (1/4 for n = 2), so for n <= 3 the interval's ends are always
    the smallest and largest value: the range, which claims no coverage. From n = 4 (1/256) they need not be."""
    return "95% CI" if n >= MIN_CI_N else "range" if n >= 2 else None


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (draws exactly as ``scipy.stats.bootstrap`` with
    ``method='percentile'`` and ``rng=np.random.default_rng(seed)``); NaNs for fewer than 2 values.
    With fewer than ``MIN_CI_N`` values it is the values' range (``interval_kind``)."""
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


def _tie_groups(values: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """Tie groups of ``values`` in ascending order, their sizes and doubled midranks (integers: no float
    comparison of rank sums), and each value's doubled midrank."""
    _, inverse, sizes = np.unique(values, return_inverse=True, return_counts=True)
    ranks = 2 * np.cumsum(sizes) - sizes + 1
    return sizes.tolist(), ranks.tolist(), ranks[inverse]


def _slot_sum(packed: int, width: int) -> int:
    """The sum of the ``width``-bit slots (``width`` a multiple of 64) of a non-negative integer."""
    words = width // 64
    size = -(-packed.bit_length() // width) * width // 8
    a = np.frombuffer(packed.to_bytes(size, "little"), dtype="<u8").reshape(-1, words)
    return sum(int(a[:, w].astype(object).sum()) << (64 * w) for w in range(words))


def _count_at_most(sizes: list[int], ranks: list[int], m: int, limit: int) -> int:
    """How many m-subsets of the pooled values have a doubled rank sum <= ``limit`` (``ranks``: each tie
    group's doubled midrank). Dynamic programming over the tie groups, in integers: row j holds, for every
    sum s, the number of j-subsets of the groups so far whose sum is s; a row is one Python integer with a
    slot per s, offset by j(j + 1) (no j values sum lower), and sums above ``limit`` are cut off."""
    n = sum(sizes)
    if limit < m * (m + 1):
        return 0
    width = 64 * (math.comb(n, min(m, n // 2)).bit_length() // 64 + 1)  # holds every count: no carries
    base = [j * (j + 1) for j in range(m + 1)]
    keep = [(1 << width * (limit - b + 1)) - 1 for b in base]
    rows, seen = [1] + [0] * m, 0
    for t, r in zip(sizes, ranks):
        seen += t
        for j in range(min(m, seen), max(1, m - (n - seen)) - 1, -1):  # rows that can still reach m
            add = 0
            for k in range(1, min(t, j) + 1):
                shift = width * (base[j - k] + k * r - base[j])
                add += math.comb(t, k) * (rows[j - k] << shift if shift >= 0 else rows[j - k] >> -shift)
            rows[j] = (rows[j] + add) & keep[j]
    return _slot_sum(rows[m], width)


def _count_lower_tail(sizes: list[int], ranks: list[int], m: int, limit: int) -> int:
    """``_count_at_most``, counted from whichever end of the distribution needs fewer sums: S <= limit
    exactly when the sum of the reversed ranks 2(n + 1) - r is not <= 2m(n + 1) - limit - 1."""
    n = sum(sizes)
    flipped = 2 * m * (n + 1) - limit - 1
    if flipped >= limit:
        return _count_at_most(sizes, ranks, m, limit)
    return math.comb(n, m) - _count_at_most(sizes[::-1], [2 * (n + 1) - r for r in ranks[::-1]], m, flipped)


def mann_whitney(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> tuple[float, float]:
    """One-sided Mann-Whitney U test that ``a`` is better than ``b``: (U of a, p-value).

    The p-value is exact for every n, ties included: P(U >= observed) over all C(n_a + n_b, n_a) equally
    likely splits of the pooled values, the distribution counted in integers by dynamic programming over
    tie groups (midranks, doubled to stay integers; ``_count_at_most``), so the same as enumerating the
    splits. With two seeds each the smallest attainable p is 1/6: no difference can reach 0.05
    (``min_reachable_p_ties``)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(x) or not len(y) or np.isnan(x).any() or np.isnan(y).any():
        return math.nan, math.nan
    if np.all(x == x[0]) and np.all(y == x[0]):  # all equal: no evidence either way
        return len(x) * len(y) / 2, 1.0
    n_a, n_b, n = len(x), len(y), len(x) + len(y)
    sizes, ranks, each = _tie_groups(np.concatenate([x, y]) * (1.0 if higher_is_better else -1.0))
    observed = int(each[:n_a].sum())  # a's doubled rank sum, larger = better
    if n_b <= n_a:  # count the smaller sample: S_a >= observed exactly when S_b <= n(n + 1) - observed
        hits = _count_lower_tail(sizes, ranks, n_b, n * (n + 1) - observed)
    else:
        hits = math.comb(n, n_a) - _count_lower_tail(sizes, ranks, n_a, observed - 1)
    return (observed - n_a * (n_a + 1)) / 2, hits / math.comb(n, n_a)


def min_reachable_p_ties(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> float:
    """The smallest one-sided p that ``mann_whitney(a, b)`` can give for these pooled values and sample sizes:
    the p of the most extreme split, ``a`` holding the n_a best pooled values. Without ties it is
    1 / C(n_a + n_b, n_a); ties among the best values make it larger (every split with the same rank sum
    is as extreme). A verdict can say beforehand that alpha is out of reach for these values."""
    pooled = np.sort(np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)]))
    if not higher_is_better:
        pooled = pooled[::-1]
    n_b = len(pooled) - len(a)
    return mann_whitney(pooled[n_b:], pooled[:n_b], higher_is_better=higher_is_better)[1]


def wilcoxon_signed_rank(d: Sequence[float], alternative: str = "greater") -> tuple[float, float]:
    """Exact one-sided Wilcoxon signed-rank test of differences ``d``: (T+, p), ties and zeros included.

    Zeros are dropped (scipy's default ``zero_method="wilcox"``), tied |d| get midranks, T+ is the rank
    sum of the positive differences, and p = P(T+ >= observed) ("greater": d tends to be positive) or
    P(T+ <= observed) ("less") over the 2^n equally likely signs of the n nonzero differences, counted in
    integers by dynamic programming over the ranks (scipy switches to a normal approximation when there
    are ties or zeros). No nonzero difference: (0, 1.0)."""
    if alternative not in ("greater", "less"):
        raise InvalidInput(f"alternative must be 'greater' or 'less', got {alternative!r}")
    x = np.asarray(d, dtype=float)
    if np.isnan(x).any():
        return math.nan, math.nan
    x = x[x != 0]
    if not len(x):
        return 0.0, 1.0
    doubled = _tie_groups(np.abs(x))[2]
    observed = int(doubled[x > 0].sum())
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64 if len(x) < 63 else object)
    counts[0] = 1
    for r in doubled.tolist():  # counts[s]: sign vectors so far whose doubled T+ is s
        counts[r:] = counts[r:] + counts[:-r]
    hits = counts[observed:].sum() if alternative == "greater" else counts[:observed + 1].sum()
    return observed / 2, int(hits) / 2 ** len(x)


def min_reachable_p_signed_rank(d: Sequence[float]) -> float:
    """The smallest one-sided p ``wilcoxon_signed_rank(d)`` can give: 0.5 ** (number of nonzero differences),
    all of them on one side being the single most extreme sign vector, ties or not."""
    x = np.asarray(d, dtype=float)
    return 0.5 ** int((x != 0).sum())


def summarize(values: Sequence[float], seeds: Sequence[Any], *, higher_is_better: bool = True,
              n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """n, mean, std (ddof 1), an interval of the mean and its kind (``interval_kind``: a 95 % bootstrap
    interval from 4 values, the range for 2 or 3, none for 1), best and worst value with their seeds."""
    x = np.asarray(values, dtype=float)
    keep = np.isfinite(x)
    x, s = x[keep], [sd for sd, k in zip(seeds, keep) if k]
    if not len(x):
        return {"n": 0}
    kind = interval_kind(len(x))
    lo, hi = bootstrap_ci(x, n_resamples=n_resamples, seed=seed) if kind == "95% CI" else \
        (float(x.min()), float(x.max())) if kind == "range" else (math.nan, math.nan)
    order = np.argsort(x, kind="stable")
    best, worst = (order[-1], order[0]) if higher_is_better else (order[0], order[-1])
    return {"n": len(x), "mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else math.nan,
            "ci_low": lo, "ci_high": hi, "interval": kind, "best": float(x[best]), "best_seed": s[best],
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
