"""The random-architecture baseline and normalised scores (reports/baselines.py) against brute force."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import benchmarks
from reports.baselines import random_architecture, random_search_best

KEY = "cifar10@200/test-accuracy"


@pytest.fixture(scope="module")
def dist():
    return random_architecture(benchmarks.open("nb201"), KEY)


def test_the_random_architecture_over_cells_and_classes(dist):
    b = benchmarks.open("nb201")
    values = b.query_many("all", "cifar10", "test-accuracy", 200)
    cells = dist.summary("cells")
    assert cells["n"] == 15_625 and cells["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert cells["q50"] == pytest.approx(np.median(values), rel=1e-12)
    classes = dist.summary("classes")
    keys = {}
    for i, a in enumerate(b.archs):
        keys.setdefault(b.space.parse(a).unique_str(), i)
    assert classes["n"] == len(keys) == 6_466
    assert classes["mean"] == pytest.approx(values[sorted(keys.values())].mean(), rel=1e-12)
    assert cells["q05"] < cells["q50"] < cells["q95"]


def test_normalised_scores(dist):
    best = dist.scores(dist.optimum)
    assert best["regret"] == 0 and best["scaled"] == 0 and best["percentile"] > 99.9
    mean = float(dist.values.mean())
    assert dist.scores(mean)["scaled"] == pytest.approx(1.0)
    skip = dist.scores(54.29666666666667)  # the all-skip cell DARTS-V1 finds: far worse than random
    assert skip["scaled"] > 5 and skip["percentile"] < 1
    u = dist.unique
    v = float(np.median(u))
    brute = 100 * (np.sum(u < v) + 0.5 * np.sum(u == v)) / len(u)
    assert dist.scores(v)["percentile"] == pytest.approx(brute)
    assert all(np.isnan(x) for x in dist.scores(float("nan")).values())


@pytest.mark.parametrize("higher", [True, False])
def test_expected_best_of_k_random_cells_equals_enumeration(higher):
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    for k in (1, 2, 3):
        draws = list(itertools.product(values, repeat=k))
        brute = np.mean([max(d) if higher else min(d) for d in draws])
        assert random_search_best(values, k, higher_is_better=higher) == pytest.approx(brute, rel=1e-12)
    assert random_search_best(values, 1) == pytest.approx(values.mean())
