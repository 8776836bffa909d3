"""Rank-correlation statistics: equal to scipy, exact bootstrap fast path, honest about missing values."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from reports import rankcorr, rankcorr_pairs
from reports.rank_bootstrap import ResamplePlan, bootstrap_indices, multiplicities
from reports.ranks import top_k_precision


def _slow_top_k(x: np.ndarray, y: np.ndarray, rows: np.ndarray, k: int) -> float:
    """The definition on a resample: top k of each order, ties by original row, then position."""
    pos = np.arange(len(x))
    tx = np.lexsort((pos, rows, -x))[:k]
    ty = np.lexsort((pos, rows, -y))[:k]
    return len(np.intersect1d(tx, ty)) / k


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        yield


def _scipy(x, y):
    return {"kendall_tau": stats.kendalltau(x, y).statistic, "spearman_rho": stats.spearmanr(x, y).statistic,
            "pearson_r": stats.pearsonr(x, y).statistic, "weighted_tau": stats.weightedtau(x, y).statistic}


@pytest.mark.parametrize("n, levels, resamples", [(5, 3, 12), (40, 4, 12), (200, 10**9, 12), (700, 25, 12),
                                                  (1500, 60, 12), (17000, 400, 3)])
def test_every_resample_equals_scipy_on_that_resample(n, levels, resamples):
    """The vectorised bootstrap is the slow path exactly, ties (x, y, joint) and duplicates included
    (n = 17,000: counts in int32 rather than int16)."""
    rng = np.random.default_rng(n)
    x = rng.integers(0, levels, n).astype(float) if levels < 10**9 else rng.normal(size=n)
    y = np.round(x + rng.normal(scale=2.0, size=n), 0 if levels < 10**9 else 6)
    ks = sorted({1, 3, max(1, n // 10)})
    plan = ResamplePlan([x, y], [(0, 1)], ks, None)
    idx = bootstrap_indices(n, resamples, seed=3)
    fast = plan.resample_stats(multiplicities(n, idx))[0]
    for b in range(len(idx)):
        xb, yb = x[idx[b]], y[idx[b]]
        for name, ref in _scipy(xb, yb).items():
            assert fast[name][b] == pytest.approx(ref, rel=1e-10, abs=1e-12, nan_ok=True), (name, b)
        for k in ks:
            assert fast[f"k{k}"][b] == _slow_top_k(xb, yb, idx[b], k)


def test_point_estimates_and_p_values_are_scipys(nb201_pair):
    x, y = nb201_pair
    r = rankcorr(x, y, bootstrap=0, top=(10, 0.05))
    for name, ref in _scipy(x, y).items():  # scipy's sums can move by an ulp with the arrays' memory alignment
        assert r.stats[name].value == pytest.approx(ref, rel=1e-14, abs=0), name
    assert r.stats["kendall_tau"].p_value == stats.kendalltau(x, y).pvalue
    assert r.stats["spearman_rho"].p_value == stats.spearmanr(x, y).pvalue
    assert r.stats["weighted_tau"].p_value is None
    assert r.stats["precision@10"].value == top_k_precision(x, y, 10)
    assert r.stats["precision@5%"].k == 781 and r.n == 15625 and r.dropped == {}


def test_identity_resample_reproduces_the_point_estimates(nb201_pair):
    x, y = nb201_pair
    plan = ResamplePlan([x, y], [(0, 1)], [10, 781], None)
    one = plan.resample_stats(np.ones((len(x), 1), dtype=np.int64))[0]
    for name, ref in _scipy(x, y).items():
        assert one[name][0] == pytest.approx(ref, rel=1e-10)
    assert one["k781"][0] == top_k_precision(x, y, 781)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    a = rankcorr(x, y, bootstrap=200, seed=1)
    b = rankcorr(x, y, bootstrap=200, seed=1)
    c = rankcorr(x, y, bootstrap=200, seed=2)
    assert a.to_dict() == b.to_dict() and a.stats["kendall_tau"].ci_low != c.stats["kendall_tau"].ci_low
    for s in a.stats.values():
        assert s.ci_low <= s.value <= s.ci_high, s
    narrow = rankcorr(x, y, bootstrap=200, seed=1, level=0.5).stats["kendall_tau"]
    assert a.stats["kendall_tau"].ci_low < narrow.ci_low < narrow.ci_high < a.stats["kendall_tau"].ci_high


def test_non_finite_scores_are_dropped_with_a_count_or_ranked_last():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100)
    y = x + rng.normal(size=100)
    x[3], x[7], y[7], y[9], x[11] = np.nan, -np.inf, np.nan, np.inf, -np.inf
    r = rankcorr(x, y, bootstrap=50)
    assert r.n == 96 and r.n_dropped == 4
    assert r.dropped == {"x and y not finite": 1, "x NaN": 1, "x -inf": 1, "y +inf": 1}
    ok = np.isfinite(x) & np.isfinite(y)
    assert r.stats["kendall_tau"].value == stats.kendalltau(x[ok], y[ok]).statistic
    assert all(np.isfinite([s.value, s.ci_low, s.ci_high]).all() for s in r.stats.values())
    last = rankcorr(x, y, bootstrap=50, missing="last")
    assert last.n == 100 and last.dropped == {} and last.notes["ranked_last"] == {"x": 3, "y": 2}
    xl, yl = x.copy(), y.copy()
    xl[~np.isfinite(x)] = np.nanmin(x[np.isfinite(x)]) - 1
    yl[~np.isfinite(y)] = np.nanmin(y[np.isfinite(y)]) - 1
    assert last.stats["kendall_tau"].value == stats.kendalltau(xl, yl).statistic
    assert last.stats["pearson_r"].n == 96 and last.stats["pearson_r"].value == pytest.approx(stats.pearsonr(x[ok], y[ok]).statistic, rel=1e-14)
    assert all(np.isfinite([s.value, s.ci_low, s.ci_high]).all() for s in last.stats.values())


def test_frames_columns_and_bad_input():
    import pandas as pd

    df = pd.DataFrame({"proxy": [1.0, 2, 3, 4, 5, 7], "acc": [2.0, 1, 4, 3, 6, 5]})
    r = rankcorr("proxy", "acc", df, bootstrap=20, top=(2,))
    assert (r.x, r.y) == ("proxy", "acc") and list(r.to_frame()["statistic"])[-1] == "precision@2"
    with pytest.raises(KeyError, match="column 'nope'"):
        rankcorr("nope", "acc", df)
    with pytest.raises(ValueError, match="aligned"):
        rankcorr([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="top-k"):
        rankcorr(df.proxy, df.acc, top=(1.5,))
    with pytest.raises(ValueError, match="missing must be"):
        rankcorr(df.proxy, df.acc, missing="zero")


@pytest.fixture(scope="module")
def nb201_pair():
    import benchmarks

    b = benchmarks.open("nb201")
    return (b.query_many("all", "cifar10-valid", "valid-accuracy", 12),
            b.query_many("all", "cifar10", "test-accuracy", 200))


def test_a_study_of_pairs_equals_each_pairs_own_rankcorr():
    """Pairs on the same rows share resamples and column work; pairs with other missing rows get their
    own bootstrap; either way every number is the pair's own ``rankcorr``."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=400)
    cols = {name: np.round(base + rng.normal(scale=s, size=400), 1) for name, s in
            (("a", 0.5), ("b", 1.0), ("c", 2.0), ("d", 0.3))}
    cols["d"][[3, 50, 51]] = [np.nan, np.inf, -np.inf]  # pairs with d keep fewer rows
    pairs = [("a", "b"), ("a", "c"), ("b", "c"), ("a", "d"), ("c", "d"), ("d", "b")]
    for missing in ("drop", "last"):
        kw = dict(bootstrap=150, seed=4, top=(5, 0.1), missing=missing)
        study = rankcorr_pairs(cols, pairs, **kw)
        for (x, y), r in zip(pairs, study):
            assert r.to_dict() == rankcorr(cols[x], cols[y], x_name=x, y_name=y, **kw).to_dict(), (missing, x, y)
    assert [r.n for r in study] == [400] * 6 and rankcorr_pairs(cols, pairs[3:], bootstrap=0)[0].n == 397
    with pytest.raises(KeyError, match="column 'e'"):
        rankcorr_pairs(cols, [("a", "e")])


def test_worker_processes_do_not_change_the_result():
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=3000), 1)
    y = np.round(x + rng.normal(size=3000), 1)
    one = rankcorr(x, y, bootstrap=700, workers=1).to_dict()  # 3000 x 700 is large enough to fork
    assert rankcorr(x, y, bootstrap=700, workers=2).to_dict() == one


def test_a_custom_weigher_is_scipys_weigher():
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(size=400), 1)
    y = np.round(x + rng.normal(size=400), 1)

    def weigher(r):
        return 1.0 / (1.0 + r) ** 2

    r = rankcorr(x, y, bootstrap=5, weigher=weigher)
    assert r.stats["weighted_tau"].value == stats.weightedtau(x, y, weigher=weigher).statistic
    idx = bootstrap_indices(400, 5, seed=0)
    fast = ResamplePlan([x, y], [(0, 1)], [], weigher).resample_stats(multiplicities(400, idx))[0]["weighted_tau"]
    ref = [stats.weightedtau(x[i], y[i], weigher=weigher).statistic for i in idx]
    np.testing.assert_allclose(fast, ref, rtol=1e-10)
