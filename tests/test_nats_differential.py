"""Differential tests: our store returns exactly what the official ``nats_bench`` API returns.

Every real record (indices 0, 11, 284), every dataset, epochs setting (hp), seed (and the seed
mean) and epoch, for both spaces; equality is exact (``==`` on floats).
"""
from __future__ import annotations

import random

import numpy as np
import pytest

import benchmarks
from conftest import REAL_INDICES

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = {"tss": ("12", "200"), "sss": ("01", "12", "90")}


def _cases(api, space):
    for index in REAL_INDICES:
        for hp in HPS[space]:
            for ds in DATASETS:
                seeds = api.query_meta_info_by_index(index, hp).get_dataset_seeds(ds)
                yield index, hp, ds, seeds


@pytest.fixture(scope="module", params=["tss", "sss"])
def pair(request):
    space = request.param
    return space, request.getfixturevalue(f"official_{space}"), benchmarks.open(request.getfixturevalue(f"{space}_store"))


def _query(ours, *args):
    try:
        return ours.query(*args)
    except KeyError:
        return None


def test_get_more_info_every_seed_and_epoch(pair):
    """``record`` equals ``get_more_info``, and metric by metric ``query``, ``query_many`` and ``curve``
    give the official value where it has the key, and KeyError / NaN where it has none (a split
    not evaluated at that epoch has no loss, accuracy, per-time or all-time)."""
    space, api, ours = pair
    compared = cells = absent_times = 0
    for index, hp, ds, seeds in _cases(api, space):
        metrics = [m for m in ours.metric_names(ds, int(hp)) if m != "train-accuracy-top5"]
        for seed in [False, *seeds]:
            s = "mean" if seed is False else seed
            curves = {m: ours.curve(index, ds, m, int(hp), s) for m in metrics}
            for iepoch in [None, *range(int(hp))]:
                ref = api.get_more_info(index, ds, iepoch=iepoch, hp=hp, is_random=seed)
                ref.pop("comment", None)
                got = ours.record(index, ds, int(hp), s, iepoch)
                got.pop("train-accuracy-top5", None)  # recorded by NATS-Bench, not exposed by get_more_info
                assert got == ref, (index, hp, ds, seed, iepoch)
                compared += 1
                e = int(hp) - 1 if iepoch is None else iepoch
                assert set(ref) <= set(metrics)
                for m in metrics:
                    where = (index, hp, ds, seed, iepoch, m)
                    many = ours.query_many(list(REAL_INDICES), ds, m, int(hp), s, iepoch)[REAL_INDICES.index(index)]
                    if m in ref:
                        assert _query(ours, index, ds, m, int(hp), s, iepoch) == ref[m] == many == curves[m][e], where
                    else:
                        assert _query(ours, index, ds, m, int(hp), s, iepoch) is None, where
                        assert np.isnan(many) and np.isnan(curves[m][e]), where
                        absent_times += m.endswith("time")
                    cells += 1
    assert compared > (2500 if space == "sss" else 9000)
    assert cells == (37128 if space == "sss" else 129948)  # every metric at every point, 167,076 in all
    # the real records hold per-epoch times of splits evaluated only after the last epoch (x-test of
    # the 200-epoch runs): the official API gives no time there, and neither may the store
    assert absent_times == (0 if space == "sss" else 23880)


def test_query_equals_get_more_info_entry(pair):
    space, api, ours = pair
    arch = api.arch(11)
    for hp in HPS[space]:
        ref = api.get_more_info(11, "cifar100", hp=hp, is_random=False)
        assert ours.query(arch, "cifar100", "test-accuracy", int(hp)) == ref["test-accuracy"]
        assert ours.query(11, "cifar100", "valtest-loss", int(hp)) == ref["valtest-loss"]
        assert ours.query(arch, "cifar100", "train-per-time", int(hp)) == ref["train-per-time"]


def test_get_cost_info(pair):
    space, api, ours = pair
    for index, hp, ds, _ in _cases(api, space):
        assert ours.cost(index, ds, int(hp)) == api.get_cost_info(index, ds, hp=hp)


@pytest.mark.parametrize("ds, setname, metric", [
    ("cifar10-valid", "x-valid", "valid-accuracy"), ("cifar10-valid", "ori-test", "test-accuracy"),
    ("cifar10", "ori-test", "test-accuracy"), ("cifar10", "train", "train-accuracy"),
    ("cifar100", "x-valid", "valid-accuracy"), ("cifar100", "x-test", "test-accuracy"),
    ("cifar100", "ori-test", "valtest-accuracy"), ("ImageNet16-120", "x-test", "test-accuracy"),
])
def test_find_best(pair, ds, setname, metric):
    space, api, ours = pair
    for index in REAL_INDICES:  # the official fast mode only searches the archs it has loaded
        api.get_more_info(index, ds, hp=HPS[space][0], is_random=False)
    checked = 0
    for hp in HPS[space]:
        for flop_max, param_max in [(None, None), (20, None), (None, 0.2), (10, 0.5), (1, None)]:
            ref = api.find_best(ds, setname, flop_max=flop_max, param_max=param_max, hp=hp, enforce_all=False)
            try:
                got = ours.best(ds, metric, int(hp), flop_max=flop_max, param_max=param_max)
                got = (got.index, got.value)
            except KeyError:
                got = (-1, None)
            assert got == ref, (hp, flop_max, param_max)
            checked += ref[0] != -1
    assert checked > 0


def test_simulate_train_eval(pair):
    space, api, ours = pair
    for hp in HPS[space]:
        for ds in ("cifar10", "cifar100", "ImageNet16-120"):
            for index in REAL_INDICES:
                for iepoch in (None, 0, int(hp) // 2):
                    for s in range(3):
                        random.seed(s)
                        api.reset_time()
                        ref = api.simulate_train_eval(index, ds, iepoch=iepoch, hp=hp)
                        clock = benchmarks.SimulatedClock()
                        got = ours.simulate_train_eval(index, ds, int(hp), iepoch=iepoch,
                                                       rng=random.Random(s), clock=clock)
                        assert got == ref, (hp, ds, index, iepoch, s)


def test_clock_accumulates_like_official_used_time(pair):
    space, api, ours = pair
    hp = HPS[space][-1]
    random.seed(7)
    api.reset_time()
    clock, rng = benchmarks.SimulatedClock(), random.Random(7)
    for index in REAL_INDICES:
        ref = api.simulate_train_eval(index, "cifar100", hp=hp)
        got = ours.simulate_train_eval(index, "cifar100", int(hp), rng=rng, clock=clock)
        assert got == ref
    assert clock.elapsed == api.used_time
