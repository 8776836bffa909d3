"""Lookups on complete stores (every arch of the space has a record, so slots are the identity).

The fast paths of the store (no gather for a whole-store sweep, vectorised seed means, cost
vectors for FLOP caps) are checked against the slow path, ``query`` one arch at a time, as a
property over random subsets of every size and form, on three complete stores: the published
NB201 tables imported (15,625 archs, 200 and 12 epochs), a converted 12-epoch TSS store in the
official layout (seeds, per-epoch arrays, times, splits evaluated only at the end), and a
converted 1-epoch SSS store (32,768 archs).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import benchmarks
from synthetic import _synth_chunk
from conftest import REAL_INDICES
from suite.cli import main
from suite.runs import Lookup
from suite.runstore import open_run
from suite.spaces.search import get_search_space


@pytest.fixture(scope="module", params=["nb201_tables", "full_tss_store", "full_sss_store"])
def store(request):
    return benchmarks.open(request.getfixturevalue(request.param))


def _slow(b, archs, dataset, metric, epochs, seed="mean", iepoch=None) -> np.ndarray:
    """``[query(a) for a in archs]``, NaN where ``query`` raises KeyError."""
    out = []
    for a in archs:
        try:
            out.append(b.query(a, dataset, metric, epochs, seed, iepoch))
        except KeyError:
            out.append(math.nan)
    return np.array(out, dtype=np.float64)


def _points(b, rng):
    """Every (dataset, metric, epochs, seed, iepoch) of a store: every seed and the mean; the last
    epoch, the first and one more where a schedule has several."""
    for ds in b.datasets():
        for epochs in b.epochs_settings(ds):
            grp = b._group(ds, epochs)
            seeds = ["mean"] + ([] if b.seeds(ds, epochs) == [None] else b.seeds(ds, epochs))
            iepochs = [None] + ([0, int(rng.integers(1, grp.n_epochs))] if grp.n_epochs > 1 else [])
            for metric in b.metric_names(ds, epochs):
                for seed in seeds:
                    for iepoch in iepochs:
                        yield ds, metric, epochs, seed, iepoch  # in query's argument order


def _subsets(b, rng):
    """Random subsets in every form ``query_many`` takes: one arch, a few with repeats, many, as
    python ints, numpy ints, numpy arrays and arch strings."""
    n = b.n_archs
    one = int(rng.integers(n))
    few = rng.integers(n, size=5)
    few[3] = few[0]  # a repeat
    many = rng.choice(n, size=60, replace=False)
    yield "one int", [one]
    yield "one numpy int", [np.int64(one)]
    yield "one string", [b.arch_at(one)]
    yield "one-element array", np.array([one])
    yield "few with repeats", [int(i) for i in few]
    yield "few strings", [b.arch_at(int(i)) for i in few]
    yield "many array", many
    yield "many mixed forms", [b.arch_at(int(i)) if k % 3 == 0 else (np.int32(i) if k % 3 == 1 else int(i))
                               for k, i in enumerate(many)]


def _check(b, archs, expect, ds, metric, epochs, seed, iepoch, what):
    got = b.query_many(archs, ds, metric, epochs, seed, iepoch)
    assert got.shape == expect.shape, what
    np.testing.assert_array_equal(got, expect, err_msg=str(what))
    frame = b.query_many(archs, ds, metric, epochs, seed, iepoch, as_frame=True)
    index = np.array([b.index(a) for a in (range(b.n_archs) if isinstance(archs, str) else archs)])
    assert list(frame.columns) == ["index", "arch", metric] and len(frame) == len(expect), what
    np.testing.assert_array_equal(frame["index"].to_numpy(), index, err_msg=str(what))
    assert frame["arch"].tolist() == [b.arch_at(int(i)) for i in index], what
    np.testing.assert_array_equal(frame[metric].to_numpy(), expect, err_msg=str(what))


def test_query_many_equals_query_on_every_subset(store):
    b, rng = store, np.random.default_rng(0)
    assert b.describe()["n_with_records"] == b.n_archs  # complete: slots are the identity
    for point in _points(b, rng):
        for what, archs in _subsets(b, rng):
            idx = [b.index(a) for a in archs]
            _check(b, archs, _slow(b, idx, *point), *point, (what, *point))
        # the whole store, in official order (the no-gather path), permuted, and with repeats,
        # against each other here and against query below
        allv = b.query_many("all", *point)
        perm = rng.permutation(b.n_archs)
        np.testing.assert_array_equal(b.query_many(perm, *point), allv[perm], err_msg=str(point))
        np.testing.assert_array_equal(b.query_many(np.arange(b.n_archs), *point), allv, err_msg=str(point))
        twice = np.concatenate([perm, perm[:100]])
        np.testing.assert_array_equal(b.query_many(twice, *point), allv[twice], err_msg=str(point))


def test_whole_store_sweeps_equal_query(store):
    """For one point per (dataset, epochs) group, every arch through the slow path."""
    b, rng = store, np.random.default_rng(1)
    points = list(_points(b, rng))
    by_group: dict[tuple[str, int], list] = {}
    for p in points:
        by_group.setdefault((p[0], p[2]), []).append(p)
    for group in by_group.values():
        times = [p for p in group if p[1].endswith("time") and p[4] == 0]  # prefer a masked time metric
        point = (times or group)[int(rng.integers(len(times or group)))]
        expect = _slow(b, range(b.n_archs), *point)
        assert np.isfinite(expect).any(), point
        _check(b, "all", expect, *point, ("all", *point))
        perm = rng.permutation(b.n_archs)
        _check(b, perm, expect[perm], *point, ("all permuted", *point))
        _check(b, [b.arch_at(int(i)) for i in perm[:2000]], expect[perm[:2000]], *point, ("strings", *point))


def test_curve_and_best_on_a_complete_store(store):
    b, rng = store, np.random.default_rng(2)
    for ds in b.datasets():
        for epochs in b.epochs_settings(ds):
            metric = b.metric_names(ds, epochs)[0]
            values = _slow(b, range(b.n_archs), ds, metric, epochs)
            best = b.best(ds, metric, epochs, mode="max")
            assert best.index == int(np.nanargmax(values)) and best.value == np.nanmax(values)
            assert best.arch == b.arch_at(best.index)
            for i in rng.integers(b.n_archs, size=5).tolist():
                if b.meta["source"].get("kind") == "tables":  # final values only: a curve is refused, never faked
                    with pytest.raises(ValueError, match="cannot answer a per-epoch curve"):
                        b.curve(i, ds, metric, epochs)
                    continue
                curve = b.curve(i, ds, metric, epochs)
                expect = [_slow(b, [i], ds, metric, epochs, "mean", e)[0] for e in range(len(curve))]
                np.testing.assert_array_equal(curve, expect)


def test_flop_and_param_caps_on_a_complete_converted_store(full_tss_store):
    b = benchmarks.open(full_tss_store)
    ds, metric = "cifar10-valid", "valid-accuracy"
    values = _slow(b, range(b.n_archs), ds, metric, 12)
    costs = [b.cost(i, ds, 12) for i in range(b.n_archs)]
    for key, cap in (("flops", 30.0), ("params", 0.4)):
        ok = np.array([c[key] <= cap for c in costs])
        assert 0 < ok.sum() < b.n_archs
        expect = int(np.nanargmax(np.where(ok, values, -np.inf)))
        got = b.best(ds, metric, 12, **{{"flops": "flop_max", "params": "param_max"}[key]: cap})
        assert (got.index, got.value) == (expect, values[expect])


def test_converted_store_holds_each_record_at_its_index(full_tss_store, tss_dir):
    """The converter assembles chunks of scattered indices: every record lands in its own column."""
    from benchmarks import nats

    b = benchmarks.open(full_tss_store)
    src = nats.locate(tss_dir, "tss")
    templates, real = [], {}
    for i, rec in nats.iter_fast_records(src, list(REAL_INDICES)):
        real[i] = len(templates)
        templates.append({k: v for k, v in nats.flatten_record(i, rec).items() if k.startswith("12/")})
    for i in [*REAL_INDICES, *np.random.default_rng(3).integers(b.n_archs, size=40).tolist()]:
        chunk = _synth_chunk(np.array([i]), templates, real, b.meta["source"]["seed"])
        for key, data in chunk.items():
            if key == "index":
                continue
            _, ds, seed, series = key.split("/")
            row = b.seeds(ds, 12).index(int(seed))
            stored = b._array(f"e12/{ds}/{series}.npy")[..., row, int(b.slots[i])]
            np.testing.assert_array_equal(stored, data[0], err_msg=f"{i} {key}")
            if series == "params":
                assert b._array(f"e12/{ds}/present.npy")[row, b.slots[i]] == (not np.isnan(data[0]))


def test_complete_converted_store_equals_the_official_api_on_the_real_records(full_tss_store, official_tss):
    b = benchmarks.open(full_tss_store)
    for i in REAL_INDICES:
        for ds in ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"):
            for seed in [False, *official_tss.query_meta_info_by_index(i, "12").get_dataset_seeds(ds)]:
                for iepoch in (None, 0, 6):
                    ref = official_tss.get_more_info(i, ds, iepoch=iepoch, hp="12", is_random=seed)
                    ref.pop("comment", None)
                    got = b.record(i, ds, 12, "mean" if seed is False else seed, iepoch)
                    got.pop("train-accuracy-top5")
                    assert got == ref


def test_layout_cases_are_present(full_tss_store):
    """The complete converted store holds the cases the property tests must meet."""
    b = benchmarks.open(full_tss_store)
    present = b._array("e12/cifar10-valid/present.npy")
    assert present[0].all() and 0 < present[1].sum() < b.n_archs  # seed 777 missing for some archs
    early = b.query_many("all", "cifar100", "test-all-time", 12, iepoch=3)
    last = b.query_many("all", "cifar100", "test-all-time", 12)
    assert np.isfinite(last).all() and 0 < np.isnan(early).sum() < b.n_archs  # evaluated only at the end


def test_lookup_reads_the_derived_arch_on_a_complete_store(nb201_tables, full_tss_store, full_sss_store):
    for path, space in ((nb201_tables, "nb201"), (full_tss_store, "nb201"), (full_sss_store, "sss")):
        b = benchmarks.open(path)
        lookup = Lookup(str(path), get_search_space(space))
        assert len(lookup.columns) >= 2
        for i in [0, 1, 6111, *np.random.default_rng(4).integers(b.n_archs, size=20).tolist()]:
            arch = b.space.parse(b.arch_at(i))
            got = lookup(arch)
            assert list(got) == [f"{d}@{e}/{m}" for d, e, m in lookup.columns]
            for d, e, m in lookup.columns:
                np.testing.assert_array_equal(got[f"{d}@{e}/{m}"], _slow(b, [i], d, m, e)[0])


@pytest.mark.parametrize("bench", ["nb201_tables", "full_tss_store"])
def test_search_records_the_derived_arch_every_epoch(bench, tmp_path, request):
    """End to end: every epoch's lookups, and final.json's, are exactly query(derived arch)."""
    path = request.getfixturevalue(bench)
    b = benchmarks.open(path)
    assert main(["search", "--method", "gdas", "--space", "nb201", "--dataset", "digits", "--epochs", "2",
                 "--seed", "0", "--set", "channels=8", "--set", "depth=1", "--out", str(tmp_path), "--name", "run",
                 "--bench", str(path), "--json"]) == 0
    run = open_run(tmp_path / "run")
    expected_columns = {f"{d}@{e}/{m}" for d in b.datasets() for e in b.epochs_settings(d)
                        for m in ("valid-accuracy", "test-accuracy") if m in b.metric_names(d, e)}
    rows = run.metrics.to_dict("records")
    assert len(rows) == 2
    for row in rows:
        assert {k for k in row if "@" in k} == expected_columns
        for col in expected_columns:
            ds, rest = col.split("@")
            epochs, metric = rest.split("/")
            assert row[col] == _slow(b, [row["arch"]], ds, metric, int(epochs))[0], (row["epoch"], col)
    final = run.final
    assert final["arch"] == rows[-1]["arch"]
    assert final["lookups"] == {c: rows[-1][c] for c in expected_columns}
    assert all(np.isfinite(v) for v in final["lookups"].values())  # a complete store has every value
