"""Rank-correlation bootstrap: the vectorised kernel against the plain scipy loop it replaces.

Run with::

    python -m pytest -m perf --benchmark-enable tests/perf/test_rankcorr_perf.py -s

Data: the built-in NB201 table (15,625 archs), x = cifar10-valid 12-epoch valid accuracy,
y = cifar10 200-epoch test accuracy, 1,000 resamples, every statistic (Kendall tau-b, Spearman,
Pearson, weighted tau, precision@10/1%/5%/10%). The scipy loop calls ``kendalltau``,
``spearmanr``, ``pearsonr``, ``weightedtau`` and the top-k definition once per resample; it is
timed on ``DNAS_PERF_RESAMPLES`` resamples (default 40) and extrapolated to 1,000, and its
values on those resamples are checked equal to the kernel's. Each test prints a ``[perf]`` line.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from scipy import stats

import benchmarks
from reports import rankcorr
from reports.ranks import _multiplicities, _Plan, bootstrap_indices
from reports.rankstudy import build_study, correlate, parse_spec

RESAMPLES = 1000
KS = (10, 156, 781, 1562)  # precision@10, 1 %, 5 %, 10 % of 15,625
BUILTIN = ["cifar10-valid@12/valid-accuracy", "cifar100@12/valid-accuracy", "ImageNet16-120@12/valid-accuracy",
           "cifar10@200/test-accuracy", "cifar100@200/test-accuracy", "ImageNet16-120@200/test-accuracy",
           "cifar10@12/test-accuracy", "cifar100@12/test-accuracy", "ImageNet16-120@12/test-accuracy"]


@pytest.fixture(scope="module")
def pair():
    b = benchmarks.open("nb201")
    return b.query_many("all", "cifar10-valid", "valid-accuracy", 12), b.query_many("all", "cifar10", "test-accuracy", 200)


def _scipy_resample(x, y, rows):
    out = [stats.kendalltau(x, y).statistic, stats.spearmanr(x, y).statistic, stats.pearsonr(x, y).statistic,
           stats.weightedtau(x, y).statistic]
    pos = np.arange(len(x))
    for k in KS:
        tx, ty = np.lexsort((pos, rows, -x))[:k], np.lexsort((pos, rows, -y))[:k]
        out.append(len(np.intersect1d(tx, ty)) / k)
    return out


@pytest.mark.perf
def test_bootstrap_kernel_vs_scipy_loop(benchmark, pair):
    x, y = pair
    sample = int(os.environ.get("DNAS_PERF_RESAMPLES", "40"))
    idx = bootstrap_indices(len(x), RESAMPLES, seed=0)[:sample]
    t0 = time.perf_counter()
    slow = np.array([_scipy_resample(x[i], y[i], i) for i in idx])
    scipy_per_resample = (time.perf_counter() - t0) / sample
    fast = _Plan(x, y, KS, None).resample_stats(_multiplicities(len(x), idx))
    names = ["kendall_tau", "spearman_rho", "pearson_r", "weighted_tau", *[f"k{k}" for k in KS]]
    np.testing.assert_allclose(np.stack([fast[n] for n in names], axis=1), slow, rtol=1e-10, atol=1e-12)

    cpu0 = _cpu()
    result = benchmark.pedantic(lambda: rankcorr(x, y, bootstrap=RESAMPLES, top=KS, seed=0, workers=1), rounds=1,
                                iterations=1)
    cpu = _cpu() - cpu0
    ours = benchmark.stats.stats.mean
    scipy_total = scipy_per_resample * RESAMPLES
    assert result.n == len(x)
    benchmark.extra_info.update(ours_s=ours, scipy_loop_s=scipy_total, ratio=scipy_total / ours)
    print(f"\n[perf] {RESAMPLES} resamples x 8 statistics, n={len(x)}: kernel {ours:.2f} s ({cpu:.2f} CPU-s, one thread), scipy loop "
          f"{scipy_total:.1f} s ({scipy_per_resample * 1e3:.1f} ms/resample on {sample}) -> {scipy_total / ours:.1f}x "
          f"(cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")


@pytest.mark.perf
@pytest.mark.parametrize("columns", [6, 9])
def test_pairwise_study_of_the_builtin_columns(benchmark, columns):
    specs = [parse_spec(f"nb201:{c}") for c in BUILTIN[:columns]]

    def study():
        return correlate(build_study(specs), pairwise=True, bootstrap=RESAMPLES)

    cpu0 = _cpu()
    results = benchmark.pedantic(study, rounds=1, iterations=1)
    cpu = _cpu() - cpu0
    assert len(results) == columns * (columns - 1) // 2
    t = benchmark.stats.stats.mean
    benchmark.extra_info.update(seconds=t, cpu_seconds=cpu, pairs=len(results))
    print(f"\n[perf] pairwise study of {columns} built-in columns ({len(results)} pairs, {RESAMPLES} resamples, every "
          f"statistic): {t:.1f} s wall, {cpu:.1f} CPU-s in all processes (cpus {os.cpu_count()}, load "
          f"{os.getloadavg()[0]:.1f})")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the study's worker processes)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
