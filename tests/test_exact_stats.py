"""Exact small-sample statistics: Mann-Whitney U and Wilcoxon signed-rank p-values against full enumeration
(ties included) and against scipy where scipy is exact, the interval a table may call a 95 % CI, and
rank-correlation bootstrap resamples on which a statistic is undefined."""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports import stats as st
from reports.rank_bootstrap import ResamplePlan, bootstrap_indices, multiplicities
from reports.ranks import rankcorr
from reports.tables import display, render

SIZES = [(n_a, n_b) for n_a in range(1, 7) for n_b in range(1, 7)]


def _u_doubled(a: np.ndarray, b: np.ndarray) -> int:
    """2U of ``a``, counted from pairs (no ranks): 2 per pair a > b, 1 per tie."""
    diff = a[:, None] - b[None, :]
    return int(2 * (diff > 0).sum() + (diff == 0).sum())


def _split_us(a: np.ndarray, b: np.ndarray) -> list[int]:
    """2U of the first sample for every split of the pooled values into samples of len(a) and len(b)."""
    pooled = np.concatenate([a, b])
    return [_u_doubled(pooled[list(i)], pooled[np.setdiff1d(np.arange(len(pooled)), i)])
            for i in itertools.combinations(range(len(pooled)), len(a))]


def _p_of_observed(a: np.ndarray, b: np.ndarray) -> float:
    """P(U >= observed) over every split, by enumeration."""
    us, u2 = _split_us(a, b), _u_doubled(a, b)
    return sum(v >= u2 for v in us) / len(us)


# ---- Mann-Whitney U ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_a, n_b", SIZES)
def test_mann_whitney_and_its_smallest_p_equal_enumeration_on_tie_heavy_data(n_a, n_b):
    rng = np.random.default_rng(100 * n_a + n_b)
    for _ in range(4):
        a, b = rng.integers(0, 3, n_a).astype(float), rng.integers(0, 3, n_b).astype(float)
        for higher_is_better, sign in ((True, 1.0), (False, -1.0)):
            u, p = st.mann_whitney(a, b, higher_is_better=higher_is_better)
            p_min = st.min_reachable_p_ties(a, b, higher_is_better=higher_is_better)
            if np.all(np.concatenate([a, b]) == a[0]):
                assert (u, p, p_min) == (n_a * n_b / 2, 1.0, 1.0)
                continue
            us, u2 = _split_us(sign * a, sign * b), _u_doubled(sign * a, sign * b)
            assert u == u2 / 2
            assert p == pytest.approx(sum(v >= u2 for v in us) / len(us), rel=1e-12)
            assert p_min == pytest.approx(us.count(max(us)) / len(us), rel=1e-12)  # the p of the largest U
    distinct = rng.permutation(n_a + n_b).astype(float)
    assert st.min_reachable_p_ties(distinct[:n_a], distinct[n_a:]) == pytest.approx(1 / math.comb(n_a + n_b, n_a),
                                                                                     rel=1e-12)


@pytest.mark.parametrize("n_a, n_b", SIZES + [(50, 50), (7, 40)])
def test_mann_whitney_equals_scipys_exact_test_without_ties(n_a, n_b):
    """50 vs 50 has 1e29 splits: the earlier code fell back to the normal approximation there."""
    rng = np.random.default_rng(n_a * 1000 + n_b)
    a, b = rng.normal(0.3, 1, n_a), rng.normal(0, 1, n_b)
    for higher_is_better, alternative in ((True, "greater"), (False, "less")):
        ref = stats.mannwhitneyu(a, b, alternative=alternative, method="exact")
        u, p = st.mann_whitney(a, b, higher_is_better=higher_is_better)
        assert p == pytest.approx(ref.pvalue, rel=1e-12)
        assert u == (ref.statistic if higher_is_better else n_a * n_b - ref.statistic)


@pytest.mark.parametrize("n_a, n_b", [(40, 35), (3, 60), (25, 25)])
def test_mann_whitney_is_exact_with_ties_beyond_enumeration(n_a, n_b):
    """Values in {0, 1, 2}: a split is how many of each value ``a`` gets, weighted by the ways to pick them;
    enumerating those compositions gives the exact distribution of U for samples far too large to split."""
    rng = np.random.default_rng(n_a + n_b)
    a, b = rng.integers(0, 3, n_a).astype(float), rng.integers(0, 3, n_b).astype(float)
    t = [int((np.concatenate([a, b]) == v).sum()) for v in range(3)]
    u_obs = _u_doubled(a, b)
    hits = total = 0
    for k0, k1 in itertools.product(range(t[0] + 1), range(t[1] + 1)):
        k2 = n_a - k0 - k1
        if not 0 <= k2 <= t[2]:
            continue
        ka = (k0, k1, k2)  # how many 0s, 1s and 2s a gets
        kb = [t[v] - ka[v] for v in range(3)]
        ways = math.prod(math.comb(t[v], ka[v]) for v in range(3))
        u2 = sum(ka[v] * (2 * sum(kb[:v]) + kb[v]) for v in range(3))
        hits += ways * (u2 >= u_obs)
        total += ways
    assert total == math.comb(n_a + n_b, n_a)
    assert st.mann_whitney(a, b) == pytest.approx((u_obs / 2, hits / total), rel=1e-12)


def test_one_seed_against_tied_values_counts_the_ties():
    """scipy's exact U distribution ignores ties: it gave 2/7; a 2 is drawn in 3 of the 7 splits."""
    a, b = np.array([2.0]), np.array([0.0, 0, 0, 1, 2, 2])
    assert st.mann_whitney(a, b) == pytest.approx((5.0, _p_of_observed(a, b)), rel=1e-12)
    assert st.mann_whitney(a, b)[1] == pytest.approx(3 / 7, rel=1e-12)


# ---- Wilcoxon signed-rank ----------------------------------------------------------------------

def _enumerated_wilcoxon(d: np.ndarray) -> tuple[float, float, float]:
    """T+ and both one-sided p-values over every sign vector of the nonzero differences."""
    x = d[d != 0]
    ranks = stats.rankdata(np.abs(x))
    t_obs = ranks[x > 0].sum()
    ts = [ranks[np.array(s) > 0].sum() for s in itertools.product((-1, 1), repeat=len(x))]
    return t_obs, sum(t >= t_obs for t in ts) / len(ts), sum(t <= t_obs for t in ts) / len(ts)


@pytest.mark.parametrize("n", range(1, 10))
def test_wilcoxon_equals_enumeration_with_ties_and_zeros(n):
    rng = np.random.default_rng(n)
    for _ in range(6):
        d = rng.integers(-2, 3, n).astype(float)
        if not (d != 0).any():
            assert st.wilcoxon_signed_rank(d, "less") == st.wilcoxon_signed_rank(d, "greater") == (0.0, 1.0)
            continue
        t, p_greater, p_less = _enumerated_wilcoxon(d)
        assert st.wilcoxon_signed_rank(d, "greater") == pytest.approx((t, p_greater), rel=1e-12)
        assert st.wilcoxon_signed_rank(d, "less") == pytest.approx((t, p_less), rel=1e-12)
        all_positive = _enumerated_wilcoxon(np.abs(d))[1]  # the most extreme sign vector's p
        assert st.min_reachable_p_signed_rank(d) == pytest.approx(all_positive, rel=1e-12)


@pytest.mark.parametrize("n", list(range(1, 11)) + [40, 70])
def test_wilcoxon_equals_scipys_exact_test_without_ties(n):
    rng = np.random.default_rng(50 + n)
    d = rng.normal(0.2, 1, n)
    for alternative in ("greater", "less"):
        ref = stats.wilcoxon(d, alternative=alternative, method="exact")
        assert st.wilcoxon_signed_rank(d, alternative) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert st.min_reachable_p_signed_rank(d) == 0.5 ** n


def test_wilcoxon_rejects_a_two_sided_alternative():
    with pytest.raises(ValueError, match="greater' or 'less"):
        st.wilcoxon_signed_rank([1.0, 2.0], "two-sided")


# ---- which interval a table may call a 95 % CI ---------------------------------------------------

def test_two_or_three_values_have_a_range_not_a_confidence_interval():
    rng = np.random.default_rng(0)
    for n in (2, 3):  # the bootstrap's ends are the extremes: each alone is >= 1/27 of the resamples
        x = rng.normal(92, 1, n)
        assert st.bootstrap_ci(x) == pytest.approx((x.min(), x.max()), rel=1e-12)
        s = st.summarize(x, list(range(n)))
        assert s["interval"] == "range" and (s["ci_low"], s["ci_high"]) == (x.min(), x.max())
    x = rng.normal(92, 1, 4)
    lo, hi = st.bootstrap_ci(x)
    assert x.min() < lo < hi < x.max()  # from 4 values the interval is more than the range
    assert st.summarize(x, list(range(4)))["interval"] == "95% CI"
    one = st.summarize([93.0], [0])
    assert one["interval"] is None and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])


def test_tables_label_a_range_as_a_range():
    rows = []
    for n, values in ((1, [93.0]), (2, [91.2, 93.4]), (5, [91.0, 92.0, 92.5, 93.0, 94.0])):
        rows.append({"metric": "cifar10@200/test-accuracy", "method": f"m{n}", "n_incomplete": 0, "source": None,
                     "note": None, **st.summarize(values, list(range(n)))})
    frame = pd.DataFrame(rows)
    cells = dict(zip(display(frame)["method"], display(frame)["95 % CI"]))
    assert cells["m1"] == "" and cells["m2"] == "range 91.20–93.40 (n = 2)"
    assert "range 91.20--93.40 (n = 2)" in render(frame, "latex")
    lo, hi = st.bootstrap_ci([91.0, 92.0, 92.5, 93.0, 94.0])
    assert cells["m5"] == f"[{lo:.2f}, {hi:.2f}]"


# ---- rank-correlation resamples on which x or y is constant --------------------------------------

def _scipy_on(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        return {"kendall_tau": stats.kendalltau(x, y).statistic, "spearman_rho": stats.spearmanr(x, y).statistic,
                "pearson_r": stats.pearsonr(x, y).statistic if len(x) >= 2 else math.nan,
                "weighted_tau": stats.weightedtau(x, y).statistic}


@pytest.mark.parametrize("x, y, seed", [([0.0, 0, 1], [0.0, 1, 1], 3), ([1.0, 1, 1, 2, 2], [3.0, 1, 2, 2, 5], 0),
                                        ([0.0, 1, 0, 1, 2, 0], [1.0, 1, 0, 0, 1, 1], 1)])
def test_every_resample_is_scipys_value_undefined_ones_included(x, y, seed):
    """Pearson r on a resample with constant x or y came out as +-1, 0 or ~1e-9 instead of NaN."""
    x, y = np.asarray(x), np.asarray(y)
    idx = bootstrap_indices(len(x), 300, seed)
    fast = ResamplePlan([x, y], [(0, 1)], [], None).resample_stats(multiplicities(len(x), idx))[0]
    for b, rows in enumerate(idx):
        for name, ref in _scipy_on(x[rows], y[rows]).items():
            assert fast[name][b] == pytest.approx(ref, rel=1e-10, abs=1e-12, nan_ok=True), (name, rows)
    assert np.isnan(fast["pearson_r"]).any()  # the data do have such resamples


def test_pearson_is_undefined_when_constant_on_the_rows_it_uses():
    """missing="last": Pearson r uses the finite pairs only, so constancy is judged on those copies."""
    x, y = np.array([0.1, 0.1, 0.7, 0.7, -5]), np.array([0.3, 1.1, 1.1, 0.3, 2])
    use = np.array([True, True, True, True, False])
    idx = bootstrap_indices(len(x), 300, 2)
    fast = ResamplePlan([x, y], [(0, 1)], [], None, [use]).resample_stats(multiplicities(len(x), idx))[0]
    for b, rows in enumerate(idx):
        kept = rows[use[rows]]
        ref = _scipy_on(x[kept], y[kept])["pearson_r"]
        assert fast["pearson_r"][b] == pytest.approx(ref, rel=1e-10, abs=1e-12, nan_ok=True), rows


def test_undefined_resamples_are_counted_and_left_out_of_the_interval():
    x = np.array([0.0] * 9 + [1.0] * 3)  # x constant on (3/4)^12 + (1/4)^12 = 3.2 % of resamples
    y = np.arange(12.0)
    r = rankcorr(x, y, bootstrap=1000, seed=0, top=())
    idx = bootstrap_indices(12, 1000, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = {"kendall_tau": np.array([stats.kendalltau(x[i], y[i]).statistic for i in idx]),
                  "pearson_r": np.array([stats.pearsonr(x[i], y[i]).statistic for i in idx])}
    for name, v in values.items():
        assert r.notes["undefined_resamples"][name] == np.isnan(v).sum() > 0
        assert (r.stats[name].ci_low, r.stats[name].ci_high) == pytest.approx(
            tuple(np.quantile(v[~np.isnan(v)], [0.025, 0.975])), rel=1e-9)
    tiny = rankcorr([0.0, 0, 1], [0.0, 1, 1], bootstrap=1000, seed=3, top=())  # a third undefined: > 5 %
    assert tiny.notes["undefined_resamples"]["pearson_r"] > 50
    assert all(math.isnan(s.ci_low) and math.isnan(s.ci_high) for s in tiny.stats.values())
