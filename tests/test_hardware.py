"""Hardware cost of found cells (``dnas report --hardware``): one target read exactly as the table holds it,
joined by the found cell's NB201 index, a Pareto front equal to brute force, and one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks
from conftest import reference_data
from reports.hardware import add_hardware, pareto_front, read_hardware
from suite.cli import main
from suite.errors import DnasError

HW = "nb201-hw-latency-energy.parquet"
TARGET = "pi5/onnx/cifar100"  # in the real table and in its stand-in


@pytest.fixture(scope="module")
def hw_file() -> Path:
    return reference_data(HW)


def test_one_target_read_exactly(hw_file):
    table = read_hardware(hw_file, TARGET)
    rows = pd.read_parquet(hw_file)
    rows = rows[(rows["device"] == "pi5") & (rows["framework"] == "onnx") & (rows["task"] == "cifar100")]
    want = rows.set_index("arch_idx").sort_index()
    assert len(want) == 15_625 and table.target == TARGET
    np.testing.assert_array_equal(table.latency_ms, want["lat_ms_median"].to_numpy())
    np.testing.assert_array_equal(table.energy_mj, want["energy_mj"].to_numpy())


@pytest.mark.parametrize("target, message", [
    (None, "holds 12 hardware targets; choose one with --hardware-target"),
    ("pi5/onnx", "matches several target"),
    ("pi9", "matches no target"),
])
def test_a_target_is_never_picked_silently(hw_file, target, message):
    with pytest.raises(DnasError, match=message) as exc:
        read_hardware(hw_file, target)
    assert TARGET in str(exc.value) and "\n" not in str(exc.value)


def _csv(path: Path, **cols) -> Path:
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "absent.parquet", "no such file"),
    (lambda d: (d / "junk.parquet").write_bytes(b"PAR1 not really") and d / "junk.parquet", "cannot be read as parquet"),
    (lambda d: _csv(d / "a.csv", arch=[0], lat_ms_median=[1.0]), "no column 'arch_idx'"),
    (lambda d: _csv(d / "b.csv", arch_idx=[15_625], lat_ms_median=[1.0]), "not an NB201 index"),
    (lambda d: _csv(d / "c.csv", arch_idx=[3, 3], lat_ms_median=[1.0, 2.0]), "appears twice"),
])
def test_bad_tables_fail_in_one_line(tmp_path, make, message):
    with pytest.raises(DnasError, match=message) as exc:
        read_hardware(make(tmp_path))
    assert "\n" not in str(exc.value)


def test_a_csv_of_one_target_needs_no_target(tmp_path):
    table = read_hardware(_csv(tmp_path / "one.csv", arch_idx=[0, 7], lat_ms_median=[1.5, 2.5]))
    assert table.latency_ms[7] == 2.5 and np.isnan(table.latency_ms[1]) and np.isnan(table.energy_mj).all()


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    acc = rng.integers(0, 20, 300).astype(float)  # many ties on both axes
    lat = rng.integers(0, 20, 300).astype(float)
    acc[:5] = np.nan
    front = set(pareto_front(acc, lat).tolist())
    ok = np.isfinite(acc)
    want = {i for i in np.nonzero(ok)[0]
            if not any((acc[j] >= acc[i] and lat[j] <= lat[i] and (acc[j] > acc[i] or lat[j] < lat[i]))
                       for j in np.nonzero(ok)[0])}
    # among cells equal on both axes the front keeps one: compare (acc, lat) points
    assert {(acc[i], lat[i]) for i in front} == {(acc[i], lat[i]) for i in want}
    assert len(front) == len({(acc[i], lat[i]) for i in want})


def test_runs_get_the_latency_of_their_found_cell(hw_file):
    table = read_hardware(hw_file, TARGET)
    nb201 = benchmarks.open("nb201")
    archs = [nb201.archs[i] for i in (0, 11, 15_624)]
    runs = pd.DataFrame({"kind": ["search", "search", "search", "evaluation"], "space": ["nb201"] * 3 + ["nb201"],
                         "arch": archs + [archs[0]]})
    out = add_hardware(runs, table)
    assert out["latency_ms"].iloc[:3].tolist() == [table.latency_ms[i] for i in (0, 11, 15_624)]
    assert np.isnan(out["latency_ms"].iloc[3]) and (out["hardware_target"] == TARGET).all()


def test_report_with_hardware(tmp_path, hw_file):
    """The CLI adds the latency row to the comparison (mean over the seeds' found cells) and the figure."""
    for seed in (0, 1):
        assert main(["search", "--method", "random", "--dataset", "digits", "--epochs", "3", "--seed", str(seed),
                     "--out", str(tmp_path / "runs"), "--name", f"r{seed}"]) == 0
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--hardware", str(hw_file)]) == 2
    assert not (tmp_path / "rep" / "report.html").exists()
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--hardware", str(hw_file),
                 "--hardware-target", TARGET]) == 0
    table = read_hardware(hw_file, TARGET)
    nb201 = benchmarks.open("nb201")
    found = [json.loads((tmp_path / "runs" / f"r{s}" / "final.json").read_text())["arch"] for s in (0, 1)]
    frame = pd.read_csv(tmp_path / "rep" / "tables" / "comparison.csv")
    row = frame[(frame["metric"] == "latency_ms") & (frame["row"] == "runs")]
    assert row["mean"].iloc[0] == pytest.approx(np.mean([table.latency_ms[nb201.index(a)] for a in found]))
    assert (tmp_path / "rep" / "figures" / "latency-cifar10-200-test-accuracy.png").is_file()
    assert f"Accuracy against latency on {TARGET}" in (tmp_path / "rep" / "report.html").read_text()
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep2"), "--hardware-target", TARGET]) == 2
