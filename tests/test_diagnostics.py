"""Run diagnostics (reports/diagnostics.py): each flag shows on runs built to show it and not on others."""
from __future__ import annotations

import math

import pytest

from reports.diagnostics import COLLAPSE_SHARE, MEANING, collapsed, diagnose

CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
CUT = "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"
TINY = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 16, "channels": 4, "depth": 1, "arch_lr": 0.3}


def _codes(flags) -> list[str]:
    return [f.code for f in flags]


def test_each_flag_from_its_own_trajectory():
    hp = {"hparams": {"epochs": 5, "arch_start_epoch": 0}}
    assert _codes(diagnose([CONV, SKIPS.replace("skip_connect~2", "nor_conv_3x3~2"), CONV, CONV, CONV], hp,
                           "nb201")) == []
    assert _codes(diagnose([CONV] * 5, hp, "nb201")) == ["static"]
    assert _codes(diagnose([CONV] * 5, {"hparams": {"epochs": 5, "arch_start_epoch": 15}}, "nb201")) == [
        "no-arch-steps", "static"]
    assert _codes(diagnose([CONV, CONV, CONV, CONV, SKIPS], hp, "nb201")) == ["not-converged", "collapse"]
    assert _codes(diagnose([SKIPS, CONV, CUT], hp, "nb201")) == ["not-converged", "collapse"]
    assert _codes(diagnose([CONV, SKIPS, CONV], hp, "nb201", {"train_loss": [2.0, float("nan"), 1.0]})) == [
        "not-converged", "nan-loss"]
    assert _codes(diagnose([SKIPS, CONV, CONV, CONV], hp, "nb201", {"train_loss": [2.0, 1.0, 1.5, 2.1]})) == [
        "diverging"]
    warm_up = {"train_loss": [2.0, 1.5, 1.0], "valid_loss": [float("nan"), float("nan"), 1.1]}
    assert _codes(diagnose([SKIPS, CONV, CONV], hp, "nb201", warm_up)) == []  # not measured yet: no flag
    late = {"train_loss": [2.0, 1.5, 1.0], "valid_loss": [1.2, float("nan"), 1.1]}
    assert _codes(diagnose([SKIPS, CONV, CONV], hp, "nb201", late)) == ["nan-loss"]


def test_collapse_threshold_and_a_disconnected_cell():
    assert "6 of 6 edges parameter-free" in collapsed("nb201", SKIPS)
    assert collapsed("nb201", CONV) is None
    assert "no path" in collapsed("nb201", CUT)
    five = SKIPS.replace("skip_connect~2", "nor_conv_3x3~2")  # 5 of 6 = 0.83 >= 0.75
    assert 5 / 6 >= COLLAPSE_SHARE and collapsed("nb201", five)
    four = five.replace("skip_connect~1|+", "nor_conv_3x3~1|+", 1)
    assert collapsed("nb201", four) is None  # 4 of 6 = 0.67
    assert collapsed("nb201", "not an arch") is None and collapsed("sss", "8:8:8:8:8") is None


def test_every_flag_has_a_meaning():
    assert set(MEANING) == {"static", "no-arch-steps", "collapse", "nan-loss", "diverging", "not-converged"}


@pytest.mark.parametrize("regression, hparams, expected", [
    ("freeze-arch", {}, {"static"}),
    (None, {"arch_start_epoch": 2}, {"static", "no-arch-steps"}),
    (None, {"arch_start_epoch": 0}, set()),
])
def test_flags_of_real_runs(tmp_path, regression, hparams, expected):
    """DARTS-V1 searches on digits: with α frozen, or its optimizer's warm-up as long as the run, the derived
    cell never moves and the flags say so; a run whose α learns has neither flag."""
    from reports.load import load
    from suite.runstore import RunStore
    from suite.testing.regress_plugin import run_one

    run_one({"method": "darts-v1", "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": 0,
             "device": "cpu", "out": str(tmp_path), "name": "r", "threads": 1, "regression": regression,
             "hparams": {**TINY, **hparams}})
    frame = load(tmp_path).epochs.sort_values("epoch")
    flags = diagnose(list(frame["arch"]), RunStore(tmp_path / "r").config, "nb201",
                     {"train_loss": list(frame["train_loss"])})
    assert {f.code for f in flags} - {"collapse", "not-converged"} == expected
    assert all(isinstance(f.text, str) and f.text for f in flags)
    assert not any(math.isnan(v) for v in frame["train_loss"])


def test_dnas_runs_shows_the_flags(tmp_path, capsys):
    import json

    from suite.cli import main
    from suite.testing.regress_plugin import run_one

    for name, regression in (("frozen", "freeze-arch"), ("learns", None)):
        run_one({"method": "darts-v1", "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": 0,
                 "device": "cpu", "out": str(tmp_path), "name": name, "threads": 1, "regression": regression,
                 "hparams": {**TINY, "arch_start_epoch": 0}})
    assert main(["runs", str(tmp_path), "--json"]) == 0
    flags = {r["name"]: r["diagnostics"] for r in json.loads(capsys.readouterr().out)}
    assert any(t.startswith(MEANING["static"]) for t in flags["frozen"])
    assert not any(t.startswith(MEANING["static"]) for t in flags["learns"])
    assert main(["runs", str(tmp_path)]) == 0
    assert f"flag: {MEANING['static']}" in capsys.readouterr().out
