"""The statistics of the worse verdict: reachable p-values, the bootstrap interval, one metric's judgement."""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from ..stats import mann_whitney, min_reachable_p_ties, prob_improvement
from .snapshot import higher_is_better


def min_reachable_p(n_a: int, n_b: int) -> float:
    """The smallest one-sided p an exact Mann-Whitney U test of n_a vs n_b values can give (no ties):
    1 / C(n_a + n_b, n_a), reached when the samples do not overlap at all. Ties can only raise it:
    ``judge_metric`` also tests the most extreme split of the values it has."""
    if n_a < 1 or n_b < 1:
        return 1.0
    return 1.0 / math.comb(n_a + n_b, n_a)


def diff_interval(current: Sequence[float], baseline: Sequence[float], *, confidence: float = 0.95,
                  n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of mean(current) - mean(baseline), each sample resampled on its own:
    ``scipy.stats.bootstrap`` with ``rng=np.random.default_rng(seed)``. NaNs below 2 values a side."""
    from scipy.stats import bootstrap

    x, y = np.asarray(current, dtype=float), np.asarray(baseline, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    import inspect

    gen = np.random.default_rng(seed)
    draw = {"rng": gen} if "rng" in inspect.signature(bootstrap).parameters else {"random_state": gen}  # scipy < 1.15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate distribution (all values equal) is not an error here
        res = bootstrap((x, y), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis), vectorized=True,
                        paired=False, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        **draw)
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def judge_metric(metric: str, baseline: Sequence[float], current: Sequence[float], *, alpha: float = 0.05,
                min_effect: float = 0.0, relative: bool = False, n_resamples: int = 10_000,
                seed: int = 0) -> dict[str, Any]:
    """Is ``current`` worse than ``baseline`` on ``metric``? One-sided Mann-Whitney U, bootstrap interval of
    the difference in means, and a minimum effect (absolute, or relative to the baseline mean).

    ``status``: "worse" (p < alpha and the mean moved at least the effect the wrong way), "better" (the
    same the right way), "not worse", "insufficient seeds" (alpha unreachable with these counts, or with
    these tied values while the mean moved the wrong way by the effect), "missing metric" (no values on
    one side) or "not comparable" (none on either)."""
    hib = higher_is_better(metric)
    b, c = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    out: dict[str, Any] = {"metric": metric, "higher_is_better": hib, "n_baseline": len(b), "n_current": len(c)}
    if not len(b) or not len(c):
        side = "the baseline or the runs" if not len(b) and not len(c) else "the baseline" if not len(b) else "the runs"
        return {**out, "status": "not comparable" if not len(b) and not len(c) else "missing metric",
                "text": f"{metric}: no values in {side} (complete runs of this group hold none)"}
    mean_b, mean_c = float(b.mean()), float(c.mean())
    threshold = min_effect * abs(mean_b) if relative else min_effect
    diff = mean_c - mean_b
    gain = diff if hib else -diff  # > 0: current is better
    u, p = mann_whitney(b, c, higher_is_better=hib)  # is the baseline better than the current runs?
    _, p_better = mann_whitney(c, b, higher_is_better=hib)
    lo, hi = diff_interval(c, b, n_resamples=n_resamples, seed=seed)
    p_min = min_reachable_p(len(b), len(c))
    p_ties = min_reachable_p_ties(b, c, higher_is_better=hib)  # these values' most extreme split
    out.update({"baseline_mean": mean_b, "current_mean": mean_c, "difference": diff, "ci_low": lo, "ci_high": hi,
                "u_baseline": u, "p_value": p, "p_better": p_better, "min_reachable_p": max(p_min, p_ties),
                "prob_current_better": prob_improvement(c, b, higher_is_better=hib), "min_effect": threshold,
                "alpha": alpha})
    tied = p_ties >= alpha and gain < 0 and gain <= -threshold  # it may be worse; these ties cannot show it
    if p_min >= alpha or tied:
        status = "insufficient seeds"
    elif p < alpha and gain <= -threshold:
        status = "worse"
    elif p_better < alpha and gain >= threshold:
        status = "better"
    else:
        status = "not worse"
    effect = f"{min_effect:.0%} of the baseline" if relative else f"{threshold:g}"
    ci = f", 95% CI [{lo:+.4g}, {hi:+.4g}]" if math.isfinite(lo) else ""
    text = (f"{metric}: {mean_b:.4g} -> {mean_c:.4g} (diff {diff:+.4g}{ci}; n {len(b)} vs {len(c)}, U = {u:g}, "
            f"one-sided p = {p:.3g}, minimum effect {effect})")
    if status == "insufficient seeds" and p_min >= alpha:
        text += (f"; with {len(b)} vs {len(c)} seeds the smallest reachable p is {p_min:.3g} >= alpha {alpha:g}: "
                 f"run more seeds")
    elif status == "insufficient seeds":
        text += (f"; with these ties the smallest reachable p is {p_ties:.3g} >= alpha {alpha:g} (the mean moved the "
                 f"wrong way by at least the minimum effect): run more seeds")
    return {**out, "status": status, "text": text}
