"""Importing the real published tables in ../shared/data or tests/data (keyed by string, index and op tuple)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import benchmarks
from benchmarks.importer import import_table
from conftest import REAL_INDICES, reference_data
from suite.errors import DnasError

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
V = "NATS-tss-v1_0-3ffb9"


@pytest.fixture(scope="module")
def table200(nb201_tables):
    """The published 200-epoch (and 12-epoch) tables, imported once per session (conftest.py)."""
    return benchmarks.open(nb201_tables)


def test_200ep_table_best_and_all_skip(table200):
    best = table200.best("cifar10", "test-accuracy", 200)
    assert best.index == 6111
    assert round(best.value, 4) == 94.3733
    assert round(table200.query(ALL_SKIP, "cifar10", "test-accuracy", 200), 4) == 54.2967
    assert table200.index(ALL_SKIP) == 1835
    assert round(table200.query(1835, "cifar100", "test-accuracy", 200), 4) == 15.6067
    assert round(table200.query(1835, "ImageNet16-120", "test-accuracy", 200), 4) == 16.3222
    assert np.isfinite(table200.query_many("all", "cifar10", "test-accuracy", 200)).all()


def test_tables_agree_with_official_records(table200, tss):
    """Every imported value of the 200- and 12-epoch tables equals the official record's, where we have one."""
    checked = 0
    for ds in table200.datasets():
        for epochs in table200.epochs_settings(ds):
            for metric in table200.metric_names(ds, epochs):
                for i in REAL_INDICES:
                    assert table200.query(i, ds, metric, epochs) == tss.query(i, ds, metric, epochs), (ds, metric)
                    checked += 1
    assert checked == 3 * 9


def test_index_keyed_12ep_table(shared_data, tss_store, tmp_path, tss):
    out = import_table(shared_data / "nb201-12ep-accuracy.csv", arch_column="arch",
                       metrics={"valid-accuracy": "cifar10-val"}, dataset="cifar10-valid", epochs=12,
                       version=V, out=tmp_path / "s", order=tss_store)
    b = benchmarks.open(out)
    assert b.query(0, "cifar10-valid", "valid-accuracy", 12) == tss.query(0, "cifar10-valid", "valid-accuracy", 12)
    with pytest.raises(ValueError, match="no per-seed values"):
        b.query(0, "cifar10-valid", "valid-accuracy", 12, seed=777)


def test_nb201_v10_table_differs_from_nats_where_published(shared_data, table200, tss_store, tmp_path):
    kw = dict(arch_column="arch", metrics={"test-accuracy": "test_top1", "naswot": "score", "params": "params"},
              dataset="cifar10", epochs=200, version="NAS-Bench-201-v1_0", out=tmp_path / "v10", order=tss_store)
    csv = shared_data / "nb201v10-naswot-score-accuracy.csv"
    with pytest.raises(DnasError, match=r"341 empty or NaN in 'score' \(naswot; e.g. row 10: 'nan'\).*--drop-invalid"):
        import_table(csv, **kw)  # the published table lacks 341 NASWOT scores: never dropped silently
    assert not (tmp_path / "v10").exists()
    v10 = benchmarks.open(import_table(csv, drop_invalid=True, **kw))
    imported = v10.meta["groups"][0]["config"]["imported"]
    assert imported["dropped"] == {"naswot": {"column": "score", "empty or NaN": {"cells": 341, "row": 10,
                                                                                  "value": "nan"}}}
    assert int(np.isnan(v10.query_many("all", "cifar10", "naswot", 200)).sum()) == 341
    assert v10.version == "NAS-Bench-201-v1_0"
    diff = np.abs(v10.query_many("all", "cifar10", "test-accuracy", 200)
                  - table200.query_many("all", "cifar10", "test-accuracy", 200))
    assert int((diff > 1e-9).sum()) == 2416
    assert round(float(diff.max()), 2) == 2.22
    assert v10.cost(11, "cifar10", 200) == {"params": 0.802426}
    with pytest.raises(ValueError, match="mode='max' or 'min'"):
        v10.best("cifar10", "naswot", 200)
    assert v10.best("cifar10", "naswot", 200, mode="max").index >= 0


def test_naslib_op_tuples_from_json(shared_data, table200, tss_store, tmp_path):
    kw = dict(arch_column="key", json_key="cifar10", dataset="cifar10-valid", epochs=200, version="NASLib-zc",
              order=tss_store, metrics={"val-accuracy": "val_accuracy", "synflow": "synflow.score"})
    with pytest.raises(DnasError, match="--arch-format ops"):
        import_table(shared_data / "nb201-zero-cost-proxies.json", out=tmp_path / "a", **kw)
    with pytest.raises(DnasError, match="--json-key"):
        import_table(shared_data / "nb201-zero-cost-proxies.json", out=tmp_path / "a",
                     **{**kw, "json_key": None, "arch_format": "naslib"})
    zc = benchmarks.open(import_table(shared_data / "nb201-zero-cost-proxies.json", out=tmp_path / "zc",
                                      arch_format="naslib", **kw))
    acc = zc.query_many("all", "cifar10-valid", "val-accuracy", 200)
    ref = table200.query_many("all", "cifar10", "test-accuracy", 200)
    have = ~np.isnan(acc)
    assert 700 <= have.sum() <= 730
    assert spearmanr(acc[have], ref[have]).statistic > 0.95  # the NASLib edge order is decoded right
    wrong = benchmarks.open(import_table(shared_data / "nb201-zero-cost-proxies.json", out=tmp_path / "w",
                                         arch_format="ops", **kw))
    acc_w = wrong.query_many("all", "cifar10-valid", "val-accuracy", 200)
    hw = ~np.isnan(acc_w)
    assert spearmanr(acc_w[hw], ref[hw]).statistic < 0.8  # reading them as our codes would be wrong


def test_parquet_with_row_filters(tss_store, tmp_path):
    kw = dict(arch_column="arch_idx", metrics={"latency": "lat_ms_median"}, dataset="cifar100", epochs=200,
              version="HW-NAS-Bench-360", order=tss_store)
    file = reference_data("nb201-hw-latency-energy.parquet")
    with pytest.raises(DnasError, match="--where"):
        import_table(file, out=tmp_path / "a", **kw)
    b = benchmarks.open(import_table(file, out=tmp_path / "hw",
                                     where={"device": "pi5", "framework": "onnx", "task": "cifar100"}, **kw))
    lat = b.query_many("all", "cifar100", "latency", 200)
    assert np.isfinite(lat).all() and (lat > 0).all()
    assert b.best("cifar100", "latency", 200).value == lat.min()


@pytest.mark.parametrize("aggregate", ["first", "mean"])
def test_rows_repeating_an_arch_are_aggregated(tss_store, tmp_path, aggregate):
    """12 rows per arch (every device and runtime): the first row with a value, or their mean."""
    file = reference_data("nb201-hw-latency-energy.parquet")
    b = benchmarks.open(import_table(file, arch_column="arch_idx", metrics={"latency": "lat_ms_median"},
                                     dataset="cifar100", epochs=200, version="HW-NAS-Bench-360", order=tss_store,
                                     out=tmp_path / "hw", aggregate=aggregate))
    rows = pd.read_parquet(file, columns=["arch_idx", "lat_ms_median"]).groupby("arch_idx", sort=True)["lat_ms_median"]
    got = b.query_many("all", "cifar100", "latency", 200)
    if aggregate == "first":
        np.testing.assert_array_equal(got, rows.first().to_numpy())
    else:
        np.testing.assert_allclose(got, rows.mean().to_numpy(), rtol=1e-12)


def test_import_errors(shared_data, tss_store, tmp_path):
    csv = shared_data / "nb201-200ep-test-accuracy.csv"
    kw = dict(arch_column="ArchitectureString", dataset="cifar10", epochs=200, version=V, order=tss_store)
    with pytest.raises(DnasError, match="column 'nope' is not in .*columns: CIFAR10TestAccuracy200Epochs"):
        import_table(csv, metrics={"test-accuracy": "nope"}, out=tmp_path / "a", **kw)
    with pytest.raises(ValueError, match="did you mean 'cifar10'"):
        import_table(csv, metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"}, out=tmp_path / "a",
                     **{**kw, "dataset": "cifar-10"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_table(tmp_path / "missing.csv", metrics={"x": "y"}, out=tmp_path / "a", **kw)
    out = import_table(csv, metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"}, out=tmp_path / "s", **kw)
    with pytest.raises(DnasError, match="holds benchmark version"):
        import_table(csv, metrics={"test-accuracy": "CIFAR100TestAccuracy200Epochs"}, out=out,
                     **{**kw, "dataset": "cifar100", "version": "other"})
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written left behind


def test_import_needs_the_official_order(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="--order"):
        import_table(shared_data / "nb201-200ep-test-accuracy.csv", arch_column="ArchitectureString",
                     metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"}, dataset="cifar10", epochs=200,
                     version=V, out=tmp_path / "a")
