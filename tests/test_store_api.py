"""The query API: explicit choices, clear errors, vectorised sweeps consistent with single queries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import benchmarks
from conftest import REAL_INDICES
from suite.spaces import Arch

A11 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def test_epochs_has_no_silent_default(tss):
    with pytest.raises(TypeError):
        tss.query(11, "cifar10", "test-accuracy")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="epochs is required.*hp='12' is not copied"):
        tss.query(11, "cifar10", "test-accuracy", None)
    with pytest.raises(ValueError, match=r"epochs=90 is not recorded for cifar10; choose one of \[12, 200\]"):
        tss.query(11, "cifar10", "test-accuracy", 90)


def test_cifar10_has_no_valid_split(tss):
    with pytest.raises(ValueError) as exc:
        tss.query(11, "cifar10", "valid-accuracy", 200)
    msg = str(exc.value)
    assert "test-accuracy" in msg and "train-accuracy" in msg and "cifar10-valid" in msg and "\n" not in msg
    assert tss.query(11, "cifar10-valid", "valid-accuracy", 200) > 0


def test_unknown_dataset_and_seed(tss):
    with pytest.raises(ValueError, match="'cifar-10' is not in this store; it has: cifar10-valid, cifar10, "
                                         "cifar100, ImageNet16-120.*did you mean"):
        tss.query(11, "cifar-10", "test-accuracy", 200)
    with pytest.raises(ValueError, match=r"seed must be 'mean' or one of \[777, 888, 999\]"):
        tss.query(11, "cifar10", "test-accuracy", 200, seed=111)


def test_arch_errors(tss):
    with pytest.raises(KeyError, match=r"index 12\) has no record"):
        tss.query(12, "cifar10", "test-accuracy", 200)
    with pytest.raises(KeyError, match="outside"):
        tss.query(15625, "cifar10", "test-accuracy", 200)
    with pytest.raises(ValueError, match="unknown NB201 op 'conv_3x3'"):
        tss.query(A11.replace("avg_pool_3x3~2", "conv_3x3~2"), "cifar10", "test-accuracy", 200)
    with pytest.raises(KeyError, match="not recorded at iepoch=5"):  # NATS evaluates x-test at the last epoch only
        tss.query(11, "cifar100", "test-accuracy", 200, iepoch=5)


def test_arch_forms_agree(tss):
    ref = tss.query(11, "cifar10", "test-accuracy", 200)
    assert tss.query(A11, "cifar10", "test-accuracy", 200) == ref
    assert tss.query(Arch.parse(A11), "cifar10", "test-accuracy", 200) == ref
    assert tss.query(np.int64(11), "cifar10", "test-accuracy", 200) == ref
    assert tss.index(A11) == 11 and tss.arch_at(11) == A11


def test_query_many_matches_query(tss):
    for metric in ("test-accuracy", "train-per-time", "test-loss"):
        allv = tss.query_many("all", "cifar10", metric, 200)
        assert allv.shape == (15625,) and np.isnan(allv).sum() == 15625 - 3
        for i in REAL_INDICES:
            assert allv[i] == tss.query(i, "cifar10", metric, 200)
    some = tss.query_many([A11, 0, Arch.parse(A11)], "cifar100", "valtest-accuracy", 12, seed=111, iepoch=3)
    assert list(some) == [tss.query(11, "cifar100", "valtest-accuracy", 12, 111, 3),
                          tss.query(0, "cifar100", "valtest-accuracy", 12, 111, 3)] * 1 + \
        [tss.query(11, "cifar100", "valtest-accuracy", 12, 111, 3)]
    frame = tss.query_many(np.array([284, 11, 12]), "cifar10", "test-accuracy", 200, as_frame=True)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["index", "arch", "test-accuracy"]
    assert frame["arch"][1] == A11 and np.isnan(frame["test-accuracy"][2])


def test_curve_and_best(tss):
    curve = tss.curve(11, "cifar10-valid", "valid-accuracy", 200)
    assert curve.shape == (200,) and curve[-1] == tss.query(11, "cifar10-valid", "valid-accuracy", 200)
    assert curve[10] == tss.query(11, "cifar10-valid", "valid-accuracy", 200, iepoch=10)
    per = tss.curve(11, "cifar10-valid", "train-per-time", 200, seed=888)
    assert per[4] == tss.query(11, "cifar10-valid", "train-per-time", 200, 888, 4)
    lo = tss.best("cifar10", "test-loss", 200)  # losses: smaller is better
    assert lo.value == np.nanmin(tss.query_many("all", "cifar10", "test-loss", 200))
    assert tss.best("cifar10", "test-accuracy", 200, mode="min").value < tss.best("cifar10", "test-accuracy", 200).value


def test_evaluate_interface_and_describe(tss):
    ev = tss.evaluate(A11, "cifar100", epochs=200)
    assert isinstance(tss, benchmarks.Benchmark)
    assert ev.metrics["test-accuracy"] == tss.query(11, "cifar100", "test-accuracy", 200)
    assert ev.cost["params"] == tss.cost(11, "cifar100", 200)["params"]
    d = tss.describe()
    assert d["n_with_records"] == 3 and d["space"] == "tss" and d["version"] == "NATS-tss-v1_0-3ffb9"


def test_sss_queries(sss_store):
    b = benchmarks.open(sss_store)
    assert b.epochs_settings() == [1, 12, 90]
    assert b.index("8:8:40:32:40") == 284
    assert b.query("8:8:40:32:40", "ImageNet16-120", "test-accuracy", 90) > 0
    with pytest.raises(ValueError, match="bad SSS channel token '41'"):
        b.query("8:8:41:32:40", "cifar10", "test-accuracy", 90)
