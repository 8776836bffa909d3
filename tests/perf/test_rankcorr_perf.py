"""Rank-correlation bootstrap: the vectorised kernel against the plain scipy loop it replaces.

Run with::

    python -m pytest -m perf --benchmark-enable tests/perf/test_rankcorr_perf.py -s

Data: the built-in NB201 table (15,625 archs), 1,000 resamples, every statistic (Kendall tau-b,
Spearman, Pearson, weighted tau, precision@10/1%/5%/10%). The scipy loop calls ``kendalltau``,
``spearmanr``, ``pearsonr``, ``weightedtau`` and the top-k definition once per resample and pair;
it is timed (CPU seconds) on ``DNAS_PERF_RESAMPLES`` resamples (default 40) of x = cifar10-valid
12-epoch valid accuracy, y = cifar10 200-epoch test accuracy, its values on them are checked equal
to the kernel's, and it is extrapolated to 1,000 resamples per pair. Ratios are CPU seconds over
CPU seconds (steady on a shared machine, where wall times follow the load). Each test prints a
``[perf]`` line with wall time, CPU seconds of this process and its worker processes, and the load.
The pairwise study of the six built-in columns must fit the bar of 10 s on 2 cores: its CPU
seconds over min(2, cores) (the wall time on idle cores) must stay below 10.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from scipy import stats

import benchmarks
from reports import rankcorr
from reports.rank_bootstrap import ResamplePlan, bootstrap_indices, multiplicities
from reports.rankstudy import build_study, correlate, parse_spec

RESAMPLES = 1000
KS = (10, 156, 781, 1562)  # precision@10, 1 %, 5 %, 10 % of 15,625
BUILTIN = ["cifar10-valid@12/valid-accuracy", "cifar100@12/valid-accuracy", "ImageNet16-120@12/valid-accuracy",
           "cifar10@200/test-accuracy", "cifar100@200/test-accuracy", "ImageNet16-120@200/test-accuracy",
           "cifar10@12/test-accuracy", "cifar100@12/test-accuracy", "ImageNet16-120@12/test-accuracy"]
BAR_S = 10.0  # the six-column pairwise study on 2 cores


@pytest.fixture(scope="module")
def pair():
    b = benchmarks.open("nb201")
    return (b.query_many("all", "cifar10-valid", "valid-accuracy", 12),
            b.query_many("all", "cifar10", "test-accuracy", 200))


def _scipy_resample(x, y, rows):
    out = [stats.kendalltau(x, y).statistic, stats.spearmanr(x, y).statistic, stats.pearsonr(x, y).statistic,
           stats.weightedtau(x, y).statistic]
    pos = np.arange(len(x))
    for k in KS:
        tx, ty = np.lexsort((pos, rows, -x))[:k], np.lexsort((pos, rows, -y))[:k]
        out.append(len(np.intersect1d(tx, ty)) / k)
    return out


@pytest.fixture(scope="module")
def scipy_loop(pair):
    """CPU seconds per resample of the plain scipy loop on one pair, its values checked against the kernel's."""
    x, y = pair
    sample = int(os.environ.get("DNAS_PERF_RESAMPLES", "40"))
    idx = bootstrap_indices(len(x), RESAMPLES, seed=0)[:sample]
    t0 = time.process_time()
    slow = np.array([_scipy_resample(x[i], y[i], i) for i in idx])
    per_resample = (time.process_time() - t0) / sample
    fast = ResamplePlan([x, y], [(0, 1)], KS, None).resample_stats(multiplicities(len(x), idx))[0]
    names = ["kendall_tau", "spearman_rho", "pearson_r", "weighted_tau", *[f"k{k}" for k in KS]]
    np.testing.assert_allclose(np.stack([fast[n] for n in names], axis=1), slow, rtol=1e-10, atol=1e-12)
    return per_resample, sample


@pytest.mark.perf
def test_bootstrap_kernel_vs_scipy_loop(benchmark, pair, scipy_loop):
    x, y = pair
    per_resample, sample = scipy_loop
    cpu0 = _cpu()
    result = benchmark.pedantic(lambda: rankcorr(x, y, bootstrap=RESAMPLES, top=KS, seed=0, workers=1), rounds=3,
                                iterations=1)
    cpu = (_cpu() - cpu0) / 3
    ours = benchmark.stats.stats.min
    scipy_total = per_resample * RESAMPLES
    assert result.n == len(x)
    benchmark.extra_info.update(wall_s=ours, cpu_s=cpu, scipy_loop_cpu_s=scipy_total, ratio_cpu=scipy_total / cpu)
    print(f"\n[perf] one pair, {RESAMPLES} resamples x 8 statistics, n={len(x)}: rankcorr {cpu:.2f} CPU-s, "
          f"{ours:.2f} s wall (best of 3), one process; scipy loop {scipy_total:.1f} CPU-s "
          f"({per_resample * 1e3:.1f} ms/resample on {sample}) -> {scipy_total / cpu:.0f}x "
          f"(cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")


@pytest.mark.perf
@pytest.mark.parametrize("columns", [6, 9])
def test_pairwise_study_of_the_builtin_columns(benchmark, scipy_loop, columns):
    specs = [parse_spec(f"nb201:{c}") for c in BUILTIN[:columns]]
    rounds = 3 if columns == 6 else 1

    def study():
        return correlate(build_study(specs), pairwise=True, bootstrap=RESAMPLES)

    study()  # imports and caches out of the timing
    cpu0 = _cpu()
    results = benchmark.pedantic(study, rounds=rounds, iterations=1)
    cpu = (_cpu() - cpu0) / rounds
    pairs = columns * (columns - 1) // 2
    assert len(results) == pairs
    wall = benchmark.stats.stats.min
    scipy_total = scipy_loop[0] * RESAMPLES * pairs
    cores = min(2, os.cpu_count() or 1)
    benchmark.extra_info.update(wall_s=wall, cpu_s=cpu, pairs=pairs, scipy_loop_cpu_s=scipy_total,
                                ratio_cpu=scipy_total / cpu)
    print(f"\n[perf] pairwise study of {columns} built-in columns ({pairs} pairs, {RESAMPLES} resamples, every "
          f"statistic): {cpu:.1f} CPU-s in all processes = {cpu / cores:.1f} s on {cores} idle cores, {wall:.1f} s "
          f"wall (best of {rounds}); scipy loop {scipy_total / 60:.0f} CPU-min -> {scipy_total / cpu:.0f}x "
          f"(cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
    if columns == 6:
        assert cpu / cores < BAR_S, f"{cpu:.1f} CPU-s over {cores} cores exceeds the {BAR_S:g} s bar"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the study's worker processes)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
