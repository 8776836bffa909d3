"""Regression baselines and verdicts (reports/regress.py, dnas baseline save, dnas regress): statistics
equal scipy's, baselines round-trip byte for byte, 'changed' names the first epoch and quantity that
moved, 'worse' needs significance and the minimum effect, too few seeds is never a pass, JUnit XML
validates against the Jenkins schema, the command's exit status is 0 / 1 / 2."""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports import regress
from reports.regress import Group, Settings, Snapshot, judge_metric, min_reachable_p
from suite.cli import main

TINY = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 16, "channels": 4, "depth": 1, "arch_start_epoch": 0,
        "arch_lr": 0.3}
XSD = Path(__file__).parent / "regress" / "junit-jenkins.xsd"


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> Path:
    """GDAS on digits, seeds 0-2, 2 epochs of 2 steps, searched in this process (one thread)."""
    from suite.testing.regress_plugin import run_one

    out = tmp_path_factory.mktemp("regress-runs")
    for seed in range(3):
        run_one({"method": "gdas", "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": seed,
                 "device": "cpu", "out": str(out), "name": f"gdas-seed{seed}", "threads": 1, "hparams": TINY})
    return out


@pytest.fixture(scope="module")
def tiny_baseline(tiny_runs, tmp_path_factory) -> Path:
    return regress.save_baseline(regress.collect(tiny_runs), tmp_path_factory.mktemp("base") / "b.jsonl",
                                 Settings(metrics=("derived_weight",)))


def _copy(runs: Path, dest: Path) -> Path:
    shutil.copytree(runs, dest)
    for lock in dest.rglob(".lock"):
        lock.unlink()
    return dest


# ---- statistics against scipy --------------------------------------------------------------------

@pytest.mark.parametrize("n_a, n_b", [(1, 5), (2, 2), (2, 5), (3, 3), (4, 4), (5, 5), (3, 7)])
def test_smallest_reachable_p_is_scipys_exact_p_of_separated_samples(n_a, n_b):
    low, high = np.arange(n_b, dtype=float), np.arange(n_b, n_b + n_a, dtype=float)
    exact = stats.mannwhitneyu(high, low, alternative="greater", method="exact").pvalue
    assert min_reachable_p(n_a, n_b) == pytest.approx(exact, rel=1e-12)


def test_verdict_statistics_equal_scipys():
    rng = np.random.default_rng(5)
    for trial in range(20):
        base = rng.normal(90, 2, 5).round(2)
        cur = rng.normal(89, 2, 4 + trial % 3).round(2)
        if trial % 4 == 0:
            cur[0] = base[1]  # a tie across the samples: scipy's permutation test over every split
        for metric, alternative in (("cifar10@200/test-accuracy", "greater"), ("valid_loss", "less")):
            r = judge_metric(metric, base, cur, n_resamples=2000, seed=trial)
            method = stats.PermutationMethod(n_resamples=np.inf)
            assert r["p_value"] == pytest.approx(stats.mannwhitneyu(base, cur, alternative=alternative,
                                                                    method=method).pvalue, rel=1e-12)
            if len(set(base) | set(cur)) == len(base) + len(cur):  # no ties: also the exact distribution
                assert r["p_value"] == pytest.approx(stats.mannwhitneyu(base, cur, alternative=alternative,
                                                                        method="exact").pvalue, rel=1e-12)
            ci = stats.bootstrap((cur, base), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis),
                                 vectorized=True, paired=False, n_resamples=2000, method="percentile",
                                 rng=np.random.default_rng(trial)).confidence_interval
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
            assert r["difference"] == pytest.approx(cur.mean() - base.mean())


def test_published_statistics_equal_scipys_wilcoxon():
    values = [93.1, 92.8, 93.5, 92.9, 93.3, 92.7]
    snap = _published_snapshot("gdas", "cifar10", 250, values)
    (v,) = regress.compare_published(snap, _gdas_reference(), Settings(), protocol_epochs={("gdas", "nb201"): 250})
    (st,) = v.stats
    d = np.asarray(values) - 93.61
    assert st["p_value"] == pytest.approx(stats.wilcoxon(d, alternative="less").pvalue, rel=1e-12)
    assert st["p_better"] == pytest.approx(stats.wilcoxon(d, alternative="greater").pvalue, rel=1e-12)


# ---- the worse verdict ----------------------------------------------------------------------------

def test_worse_needs_significance_and_the_minimum_effect():
    base = [10.0, 10.1, 10.2, 10.3, 10.4]
    cur = [9.5, 9.6, 9.7, 9.8, 9.9]  # every current value below every baseline value: p = 1/252
    small = judge_metric("derived_weight", base, cur, min_effect=1.0)
    assert small["p_value"] == pytest.approx(1 / 252) and small["status"] == "not worse"  # a 0.5 drop < 1.0
    assert judge_metric("derived_weight", base, cur, min_effect=0.1)["status"] == "worse"
    assert judge_metric("derived_weight", cur, base, min_effect=0.1)["status"] == "better"
    assert judge_metric("valid_loss", cur, base, min_effect=0.1)["status"] == "worse"  # lower is better
    noisy = judge_metric("derived_weight", base, [9.0, 10.15, 10.35, 9.2, 10.25], min_effect=0.1)
    assert noisy["p_value"] > 0.05 and noisy["status"] == "not worse"


def test_too_few_seeds_is_insufficient_with_the_smallest_reachable_p():
    r = judge_metric("cifar10@200/test-accuracy", [93.0, 93.1], [10.0, 11.0])  # as bad as it gets: p = 1/6
    assert r["status"] == "insufficient seeds" and r["min_reachable_p"] == pytest.approx(1 / 6)
    assert "smallest reachable p is 0.167 >= alpha 0.05" in r["text"]
    assert judge_metric("x_accuracy", [1.0, 2.0, 3.0], [0.0, 0.1, 0.2])["status"] == "insufficient seeds"  # 1/20
    assert judge_metric("x_accuracy", [1.0, 2.0, 3.0, 4.0], [0.0, 0.1, 0.2])["status"] == "worse"  # 1/35


def test_cost_is_gated_by_a_relative_threshold():
    base = [100.0, 101.0, 102.0, 103.0, 104.0]
    slower = [250.0, 251.0, 252.0, 253.0, 254.0]
    assert judge_metric("search_wall_time_s", base, slower, min_effect=1.0, relative=True)["status"] == "worse"
    assert judge_metric("search_wall_time_s", base, [150.0, 151, 152, 153, 154], min_effect=1.0,
                        relative=True)["status"] == "not worse"
    assert judge_metric("peak_memory_mb", base, [130.0, 131, 132, 133, 134], min_effect=0.25,
                        relative=True)["status"] == "worse"


def _published_snapshot(method: str, dataset: str, epochs: int, values: list[float]) -> Snapshot:
    snap = Snapshot()
    group = Group(method, "nb201", dataset, "NATS-tss-v1_0-3ffb9", epochs)
    for seed, v in enumerate(values):
        snap.runs[(group, seed)] = {"status": "completed", "final": {"cifar10@200/test-accuracy": v}}
    return snap


def _gdas_reference() -> pd.DataFrame:
    from reports.tables import load_references

    refs = load_references()
    return refs[(refs["method"] == "GDAS") & (refs["metric"] == "cifar10@200/test-accuracy")]


def test_published_numbers_as_a_baseline():
    from reports.tables import load_references

    refs = load_references()
    epochs = {("darts-v1", "nb201"): 50, ("gdas", "nb201"): 250}
    s = Settings(metrics=("cifar10@200/test-accuracy",))
    collapse = _published_snapshot("darts-v1", "cifar10", 50, [54.2967] * 5)  # the all-skip cell, every seed
    (v,) = regress.compare_published(collapse, refs, s, protocol_epochs=epochs)
    assert v.status == "not worse" and "published 54.3" in v.summary and "NAS-Bench-201-v1_0-e61699" in v.summary
    low = _published_snapshot("gdas", "cifar10", 250, [91.2, 90.8, 91.5, 90.9, 91.3])
    (v,) = regress.compare_published(low, refs, s, protocol_epochs=epochs)
    assert v.status == "worse" and v.failed
    (v,) = regress.compare_published(_published_snapshot("gdas", "cifar10", 250, [93.6, 93.5]), refs, s,
                                     protocol_epochs=epochs)
    assert v.status == "insufficient seeds"  # 2 seeds: p >= 1/4
    for snap, why in ((_published_snapshot("gdas", "digits", 250, [91.0] * 5), "searched on digits"),
                      (_published_snapshot("gdas", "cifar10", 2, [91.0] * 5), "2 search epochs")):
        (v,) = regress.compare_published(snap, refs, s, protocol_epochs=epochs)
        assert v.status == "not comparable" and not v.failed and why in v.summary


# ---- baselines and the changed verdict ---------------------------------------------------------

def test_a_baseline_is_sorted_json_lines_and_round_trips(tiny_runs, tiny_baseline, tmp_path):
    lines = tiny_baseline.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["record"] for r in records[:2]] == ["baseline", "setup"]
    assert {r["record"] for r in records} == {"baseline", "setup", "run", "epoch"}
    assert all(line == json.dumps(r, sort_keys=True, ensure_ascii=False) for line, r in zip(lines, records))
    assert sum(r["record"] == "epoch" for r in records) == 3 * 2
    run = next(r for r in records if r["record"] == "run")
    assert {"arch", "final", "cost", "seed", "group"} <= set(run) and "derived_weight" in run["final"]
    assert set(run["cost"]) == {"search_wall_time_s", "peak_memory_mb"}
    setup = next(r for r in records if r["record"] == "setup")
    assert setup["config"]["threads"] == 1 and setup["config"]["hparams"]["steps_per_epoch"] == 2
    assert {"torch", "python", "cpu_threads", "git_commit"} <= set(setup["environment"])
    again = regress.save_baseline(regress.read_baseline(tiny_baseline), tmp_path / "again.jsonl")
    assert again.read_bytes() == tiny_baseline.read_bytes()


def test_an_identical_replay_is_unchanged_and_not_worse(tiny_runs, tiny_baseline):
    outcome = regress.regress([tiny_runs], tiny_baseline)
    assert outcome.exit_code == 1 and len(outcome.failed) == 2
    assert [(v.mode, v.status) for v in outcome.verdicts] == [("changed", "unchanged"), ("worse", "insufficient seeds"),
                                                      ("cost", "insufficient seeds")]  # 3 vs 3 seeds: p >= 0.05


def test_changed_names_the_first_epoch_and_quantity(tiny_runs, tiny_baseline, tmp_path):
    runs = _copy(tiny_runs, tmp_path / "runs")
    metrics = runs / "gdas-seed1" / "metrics.parquet"
    frame = pd.read_parquet(metrics)
    frame.loc[1, "valid_loss"] += 1e-3
    frame.to_parquet(metrics)
    (v,) = regress.compare_changed(regress.read_baseline(tiny_baseline), regress.collect(runs))
    assert v.status == "changed" and v.failed
    old = frame.loc[1, "valid_loss"] - 1e-3
    assert v.summary == (f"gdas: seed 1: first difference at epoch 1: valid_loss {float(f'{old:.8g}'):.8g} -> "
                         f"{float(f'{old + 1e-3:.8g}'):.8g}")
    frame.loc[1, "valid_loss"] = old * (1 + 1e-9)  # within the default rtol of 1e-6
    frame.to_parquet(metrics)
    (v,) = regress.compare_changed(regress.read_baseline(tiny_baseline), regress.collect(runs))
    assert v.status == "unchanged"


def test_changed_reports_config_and_environment(tiny_runs, tiny_baseline, tmp_path):
    import yaml

    runs = _copy(tiny_runs, tmp_path / "runs")
    for seed in range(3):
        cfg = runs / f"gdas-seed{seed}" / "config.yaml"
        data = yaml.safe_load(cfg.read_text())
        data["hparams"]["tau_max"] = 9.0
        cfg.write_text(yaml.safe_dump(data))
    env = runs / "gdas-seed0" / "environment.json"
    env.write_text(json.dumps({**json.loads(env.read_text()), "torch": "9.9.9"}))
    (v,) = regress.compare_changed(regress.read_baseline(tiny_baseline), regress.collect(runs))
    assert v.status == "changed"
    assert v.summary == "gdas: config differs (hparams.tau_max 10.0 -> 9.0)"
    assert "config differs (seeds 0, 1, 2): hparams.tau_max 10.0 -> 9.0" in v.details
    assert any("environment differs (torch \"2." in d and "\"9.9.9\")" in d for d in v.details)


def test_derived_weight():
    uniform = {"cell": [[1.0] * 5] * 6}
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    assert regress.derived_weight("nb201", arch, uniform) == pytest.approx(0.2)
    one_hot = {"cell": [[float(k == op) for k in range(5)] for op in (3, 1, 0, 4, 2, 0)]}
    assert regress.derived_weight("nb201", arch, json.dumps(one_hot)) == pytest.approx(1.0)
    assert regress.derived_weight("nb201", arch, {"cell": [[0.0, 0, 0, 0, 1]] * 6}) == pytest.approx(1 / 6)  # avg_pool on one edge
    from suite.spaces import darts

    genotype = darts.Genotype(tuple((op, i % 2) for i, op in enumerate(["sep_conv_3x3"] * 8)), (2, 3, 4, 5),
                              tuple(("max_pool_3x3", 0) for _ in range(8)), (2, 3, 4, 5))
    w = {g: [[1.0] * len(darts.OPS) for _ in darts.EDGES] for g in ("normal", "reduce")}
    assert regress.derived_weight("darts", str(genotype), w) == pytest.approx(1 / len(darts.OPS))
    assert math.isnan(regress.derived_weight("nb201", "not an arch", uniform))
    assert math.isnan(regress.derived_weight("other", arch, uniform))


def test_baseline_save_refuses_unfinished_runs(tiny_runs, tmp_path, capsys):
    runs = _copy(tiny_runs, tmp_path / "runs")
    status = runs / "gdas-seed2" / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "status": "failed", "reason": "boom"}))
    assert main(["baseline", "save", str(runs), "--out", str(tmp_path / "b.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnas: error: 1 run(s) are not complete (gdas nb201 digits") and "boom" in err
    assert not (tmp_path / "b.jsonl").exists()


# ---- the command ------------------------------------------------------------------------------------

def _validate_junit(path: Path) -> None:
    try:
        import xmlschema
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("xmlschema is missing in CI: pip install -e '.[test]'")
        pytest.skip("xmlschema not installed (pip install xmlschema)")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(str(path))
    bad = path.with_name("bad.xml")
    bad.write_text('<testsuites><testsuite name="x" tests="1"><testcase/></testsuite></testsuites>')
    assert not schema.is_valid(str(bad))  # no failures/errors attributes, a testcase with no name


def test_regress_command_exit_status_and_junit(tiny_runs, tiny_baseline, tmp_path, capsys):
    junit = tmp_path / "ok.xml"
    args = ["regress", str(tiny_runs), "--baseline", str(tiny_baseline), "--junit", str(junit)]
    assert main(args + ["--mode", "changed"]) == 0
    out = capsys.readouterr().out
    assert "unchanged" in out and "no regression (1 verdict(s))" in out
    _validate_junit(junit)
    assert main(args) == 1  # 3 vs 3 seeds: insufficient, never a pass
    out = capsys.readouterr().out
    assert "INSUFFICIENT SEEDS" in out and "smallest reachable p is 0.05 >= alpha 0.05" in out
    _validate_junit(junit)
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "2")
    assert root.find("testsuite/testcase/error").get("type") == "insufficient seeds"
    runs = _copy(tiny_runs, tmp_path / "runs")
    frame = pd.read_parquet(runs / "gdas-seed0" / "metrics.parquet")
    frame.loc[0, "train_loss"] *= 1.01
    frame.to_parquet(runs / "gdas-seed0" / "metrics.parquet")
    assert main(["regress", str(runs), "--baseline", str(tiny_baseline), "--mode", "changed", "--junit",
                 str(junit), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1 and report["verdicts"][0]["status"] == "changed"
    assert "first difference at epoch 0: train_loss" in report["verdicts"][0]["summary"]
    _validate_junit(junit)
    assert ET.parse(junit).getroot().find("testsuite/testcase/failure").get("type") == "changed"
    assert main(["regress", str(tiny_runs), "--baseline", str(tiny_baseline), "--mode", "worse",
                 "--min-effect", "derived_weight=0", "--alpha", "0.06"]) == 0  # 3 vs 3 reaches 1/20 < 0.06
    capsys.readouterr()


def test_regress_command_bad_input_is_exit_2(tiny_runs, tiny_baseline, tmp_path, capsys):
    cases = [
        (["--baseline", str(tmp_path / "none.jsonl")], "baseline"),
        (["--baseline", str(XSD)], "is not a baseline record"),
        (["--baseline", "published"], "nothing to compare: every group is not comparable"),
        (["--baseline", "published", "--mode", "changed"], "no per-epoch trajectories"),
        (["--baseline", str(tiny_baseline), "--time-threshold", "fast"], "--time-threshold"),
        (["--baseline", str(tiny_baseline), "--min-effect", "derived_weight"], "--min-effect takes NAME=VALUE"),
    ]
    for extra, message in cases:
        assert _exit(["regress", str(tiny_runs), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dnas: error: ") and message in err and err.count("\n") == 1, err
    other = _copy(tiny_runs, tmp_path / "other")
    for cfg in other.rglob("config.yaml"):
        cfg.write_text(cfg.read_text().replace("dataset: digits", "dataset: cifar10"))
    assert main(["regress", str(other), "--baseline", str(tiny_baseline)]) == 1  # the group moved: changed
    out = capsys.readouterr().out
    assert "CHANGED" in out and "gdas: the runs' group moved from the baseline's (dataset digits -> cifar10)" in out


def _exit(argv: list[str]) -> int:
    """The exit status of ``dnas ARGV`` (argparse's usage errors exit from inside ``main``)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


# ---- the search knobs the gate relies on --------------------------------------------------------

def test_steps_per_epoch_caps_the_steps_and_peak_memory_is_per_run(tmp_path, monkeypatch):
    from methods.gdas import GDAS
    from suite.runs import SearchConfig, run_search

    import resource

    calls = []
    step = GDAS.step
    monkeypatch.setattr(GDAS, "step", lambda self, t, v: calls.append(1) or step(self, t, v))
    hog = bytearray(400 * 2**20)  # a peak before the run that the run must not report as its own
    hog[::4096] = b"x" * len(hog[::4096])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del hog
    store = run_search(SearchConfig(method="gdas", space="nb201", dataset="digits", bench="none", seed=0,
                                    device="cpu", out=str(tmp_path), name="r", threads=1,
                                    hparams={**TINY, "steps_per_epoch": 3}), progress=False)
    assert len(calls) == 2 * 3
    if Path("/proc/self/clear_refs").exists():  # Linux: the run counts its own peak
        assert store.final["cost"]["peak_memory_mb"] < before - 300


def test_the_plugin_example_saves_then_checks(tmp_path, capsys):
    """docs/examples/test_my_method_regression.py as a user runs it: --dnas-save-baseline writes the baseline
    (and skips), the next run checks against it and passes; a changed baseline number fails it."""
    example = tmp_path / "test_my_method_regression.py"
    shutil.copy(Path(__file__).parents[1] / "docs" / "examples" / example.name, example)
    args = [str(example), "-q", "-p", "no:cacheprovider", "--dnas-workers", "1", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    assert pytest.main([*args, "--dnas-save-baseline", "-rs"]) == 0
    assert "wrote baseline" in capsys.readouterr().out
    baseline = tmp_path / "my-method-baseline.jsonl"
    assert pytest.main(args) == 0
    lines = baseline.read_text().splitlines()
    edited = list(lines)
    i = next(k for k, line in enumerate(lines) if '"record": "epoch"' in line and '"seed": 3' in line)
    rec = json.loads(lines[i])
    rec["values"]["train_loss"] += 0.5
    edited[i] = json.dumps(rec, sort_keys=True)
    baseline.write_text("\n".join(edited) + "\n")
    capsys.readouterr()
    assert pytest.main(args) == 1
    out = capsys.readouterr().out
    assert "gdas: seed 3: first difference at epoch 0: train_loss" in out


def test_regress_command_against_published_numbers(tiny_runs, tmp_path, capsys):
    """Runs that follow GDAS's published protocol (cifar10, 250 epochs; faked here from the tiny runs) are
    compared with the published 93.61; three seeds cannot reach p < 0.05 in a one-sample signed-rank test."""
    import yaml

    from suite.cli.regress import published_epochs

    epochs = published_epochs()
    assert (epochs[("darts-v1", "nb201")], epochs[("gdas", "nb201")], epochs[("pc-darts", "nb201")]) == (50, 250, 50)
    runs = _copy(tiny_runs, tmp_path / "runs")
    for k, run in enumerate(sorted(runs.iterdir())):
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["dataset"], cfg["hparams"]["epochs"] = "cifar10", 250
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        final = json.loads((run / "final.json").read_text())
        final["lookups"]["cifar10@200/test-accuracy"] = 93.5 + 0.1 * k
        (run / "final.json").write_text(json.dumps(final))
    assert main(["regress", str(runs), "--baseline", "published", "--json"]) == 1
    (v,) = json.loads(capsys.readouterr().out)["verdicts"]
    assert v["mode"] == "published" and v["status"] == "insufficient seeds"
    by = {s["metric"]: s for s in v["stats"]}
    assert by["cifar10@200/test-accuracy"]["published"] == 93.61
    assert by["cifar10@200/test-accuracy"]["min_reachable_p"] == 1 / 8
