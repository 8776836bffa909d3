"""Verdicts to trust: every way the regression check could pass when it must not, or fail on a float
difference between CPUs, each shown to fail or to pass as it should (``reports.regress.regress``,
``dnas regress``, ``dnas baseline save``, the pytest plugin)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from reports import regress
from reports.regress import Group, Settings, Snapshot, judge_metric
from suite.cli import main
from suite.errors import DnasError
from test_regress import TINY, _copy  # the same tiny GDAS search and run-copy helper

@pytest.fixture(scope="module")
def two_groups(tmp_path_factory) -> Path:
    """GDAS (seeds 0-2) and, copied from it under another method name, a second group 'darts-v1'."""
    from suite.testing.regress_plugin import run_one

    out = tmp_path_factory.mktemp("trust-runs")
    for seed in range(3):
        run_one({"method": "gdas", "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": seed,
                 "device": "cpu", "out": str(out), "name": f"gdas-seed{seed}", "threads": 1, "hparams": TINY})
        _edit_config(_copy(out / f"gdas-seed{seed}", out / f"darts-v1-seed{seed}"), method="darts-v1")
    return out


@pytest.fixture(scope="module")
def baseline(two_groups, tmp_path_factory) -> Path:
    return regress.save_baseline(regress.collect(two_groups), tmp_path_factory.mktemp("base") / "b.jsonl",
                                 Settings(metrics=("derived_weight",), time_threshold=None, memory_threshold=None))


def _edit_config(run: Path, **changes) -> Path:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    for k, v in changes.items():
        if k in cfg:
            cfg[k] = v
        else:
            cfg["hparams"][k] = v
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def _edit_json(file: Path, **changes) -> None:
    file.write_text(json.dumps({**json.loads(file.read_text()), **changes}))


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("dnas: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# ---- a group whose key moved is changed, in both modes ----------------------------------------------

@pytest.mark.parametrize("mode", ["both", "worse"])
@pytest.mark.parametrize("field, value, shown", [("epochs", 3, "epochs 2 -> 3"),
                                                 ("dataset", "cifar10", "dataset digits -> cifar10")])
def test_a_group_that_moved_is_changed_not_a_pass(two_groups, baseline, tmp_path, capsys, mode, field, value, shown):
    runs = tmp_path / "runs"
    for seed in range(3):  # gdas as in the baseline, darts-v1 with one key moved
        _copy(two_groups / f"gdas-seed{seed}", runs / f"gdas-seed{seed}")
        _edit_config(_copy(two_groups / f"darts-v1-seed{seed}", runs / f"darts-v1-seed{seed}"), **{field: value})
    assert main(["regress", str(runs), "--baseline", str(baseline), "--mode", mode, "--alpha", "0.06"]) == 1
    out = capsys.readouterr().out
    assert f"darts-v1: the runs' group moved from the baseline's ({shown})" in out and "CHANGED" in out


def test_a_moved_benchmark_version_is_changed(two_groups, baseline, tmp_path):
    runs = _copy(two_groups, tmp_path / "runs")
    for seed in range(3):  # looked up in another release of the table
        env = runs / f"darts-v1-seed{seed}" / "environment.json"
        data = json.loads(env.read_text())
        _edit_json(env, benchmark={**data["benchmark"], "version": "NATS-tss-v1_1-00000"})
    outcome = regress.regress(runs, baseline, mode="changed")
    (moved,) = [v for v in outcome.verdicts if v.group.method == "darts-v1"]
    assert moved.status == "changed" and "bench_version NATS-tss-v1_0-3ffb9 -> NATS-tss-v1_1-00000" in moved.summary


def test_runs_of_no_baseline_group_beside_matching_ones_is_bad_input(two_groups, baseline, tmp_path, capsys):
    runs = _copy(two_groups, tmp_path / "runs")
    _edit_config(_copy(two_groups / "gdas-seed0", runs / "pc-darts-seed0"), method="pc-darts")
    _one_line_error(capsys, ["regress", str(runs), "--baseline", str(baseline)],
                    "runs of no baseline group: pc-darts nb201 digits")


# ---- zero complete seeds, and seeds the test cannot count -----------------------------------------

def test_zero_complete_seeds_is_insufficient_and_fails(two_groups, baseline, tmp_path, capsys):
    runs = _copy(two_groups, tmp_path / "runs")
    for seed in range(3):
        _edit_json(runs / f"darts-v1-seed{seed}" / "status.json", status="interrupted")
    assert main(["regress", str(runs), "--baseline", str(baseline), "--mode", "worse", "--alpha", "0.06"]) == 1
    out = capsys.readouterr().out
    assert "INSUFFICIENT SEEDS" in out and "darts-v1: 0 complete seeds of 3 run(s)" in out


def test_ties_that_make_alpha_unreachable_are_insufficient():
    # 5 vs 5 seeds reach p = 1/252 without ties; with these values the most extreme split gives p = 0.5
    r = judge_metric("cifar10@200/test-accuracy", [90.0] * 5, [90.0] * 4 + [80.0])
    assert r["status"] == "insufficient seeds" and r["min_reachable_p"] == pytest.approx(0.5)
    assert "ties" in r["text"]
    same = judge_metric("cifar10@200/test-accuracy", [90.0] * 5, [90.0] * 5)  # nothing moved: not worse
    assert same["status"] == "not worse"


def test_published_zero_differences_count_in_the_reachable_p():
    from reports.tables import load_references

    refs = load_references()
    ref = float(refs[(refs["method"] == "GDAS") & (refs["metric"] == "cifar10@200/test-accuracy")]["value"].iloc[0])
    snap = Snapshot()
    group = Group("gdas", "nb201", "cifar10", "NATS-tss-v1_0-3ffb9", 250)
    for seed, v in enumerate([ref, ref - 5, ref - 6, ref - 4, ref - 7]):  # one seed exactly at the published mean
        snap.runs[(group, seed)] = {"status": "completed", "final": {"cifar10@200/test-accuracy": v}}
    (v,) = regress.compare_published(snap, refs, Settings(metrics=("cifar10@200/test-accuracy",)),
                                     protocol_epochs={("gdas", "nb201"): 250})
    (st,) = v.stats
    assert v.status == "insufficient seeds" and st["min_reachable_p"] == pytest.approx(1 / 16)


# ---- metrics, settings and the baseline file -------------------------------------------------------

def test_unknown_metrics_and_settings_are_one_line_errors(two_groups, baseline, tmp_path, capsys):
    runs = str(two_groups)
    _one_line_error(capsys, ["regress", runs, "--baseline", str(baseline), "--metric", "bogus_metric"],
                    "unknown metric 'bogus_metric' (--metric)")
    _one_line_error(capsys, ["regress", runs, "--baseline", str(baseline), "--min-effect", "bogus=1"],
                    "unknown metric 'bogus' (--min-effect)")
    _one_line_error(capsys, ["baseline", "save", runs, "--out", str(tmp_path / "b.jsonl"), "--metric",
                             "cifar10@200/test-acuracy"], "did you mean 'cifar10@200/test-accuracy'")
    assert not (tmp_path / "b.jsonl").exists()
    for flag in ("--rtol", "--atol", "--alpha"):
        _one_line_error(capsys, ["regress", runs, "--baseline", str(baseline), flag, "nan"], flag, "finite")
    with pytest.raises(DnasError, match="rtol must be a finite number"):
        Settings(rtol=float("nan"))
    with pytest.raises(DnasError, match="unknown mode 'chnaged'"):
        regress.regress(runs, baseline, mode="chnaged")


def _lines(baseline: Path) -> list[str]:
    return baseline.read_text().splitlines()


@pytest.mark.parametrize("damage, message", [
    ("cut", "holds 19 records after its header, which says 20"),
    ("epoch removed, format 1", "has epoch records 1..1 (1), its run record says 2 epochs"),
    ("string epoch", "epoch must be an int, got '0'"),
    ("unknown setting", "unknown verdict setting 'alfa'"),
    ("nan setting", "rtol must be a finite number"),
    ("string seed", "seed must be an int"),
    ("duplicate run", "a second run record of seed 0"),
    ("not json", "is not a baseline record"),
])
def test_a_damaged_baseline_is_a_one_line_error_naming_the_line(baseline, tmp_path, capsys, damage, message):
    lines = _lines(baseline)
    head = json.loads(lines[0])
    first_epoch = next(i for i, t in enumerate(lines) if json.loads(t)["record"] == "epoch")
    first_run = next(i for i, t in enumerate(lines) if json.loads(t)["record"] == "run")
    if damage == "cut":
        lines = lines[:-1]
    elif damage == "epoch removed, format 1":
        head.pop("records")
        lines = [json.dumps({**head, "format": 1}), *lines[1:first_epoch], *lines[first_epoch + 1:]]
    elif damage == "string epoch":
        lines[first_epoch] = json.dumps({**json.loads(lines[first_epoch]), "epoch": "0"})
    elif damage == "unknown setting":
        lines[0] = json.dumps({**head, "settings": {**head["settings"], "alfa": 0.05}})
    elif damage == "nan setting":
        lines[0] = json.dumps({**head, "settings": {**head["settings"], "rtol": float("nan")}})
    elif damage == "string seed":
        lines[first_run] = json.dumps({**json.loads(lines[first_run]), "seed": "0"})
    elif damage == "duplicate run":
        lines.insert(first_run + 1, lines[first_run])
        lines[0] = json.dumps({**head, "records": head["records"] + 1})
    elif damage == "not json":
        lines[first_run] = lines[first_run][:40]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    _one_line_error(capsys, ["regress", str(baseline.parent), "--baseline", str(bad)], str(bad), message)


def test_a_saved_baseline_counts_its_records(baseline):
    lines = _lines(baseline)
    assert json.loads(lines[0])["records"] == len(lines) - 1 == 20  # 2 groups x (1 setup + 3 runs + 6 epochs)


# ---- one check everywhere: the plugin refuses what the command refuses ------------------------------

def test_the_plugin_fails_where_the_command_refuses(two_groups, baseline):
    from suite.testing.regress_plugin import assert_no_regression

    with pytest.raises(pytest.fail.Exception, match="unknown mode 'chnaged'"):
        assert_no_regression(two_groups, baseline, mode="chnaged")
    with pytest.raises(pytest.fail.Exception, match="unknown metric 'trained_test_accuracy'"):
        assert_no_regression(two_groups, baseline, settings=Settings(metrics=("trained_test_accuracy",)))
    with pytest.raises(pytest.fail.Exception, match="no such file|does not exist"):
        assert_no_regression(two_groups, baseline.with_name("missing.jsonl"))
    outcome = assert_no_regression(two_groups, baseline, mode="changed")
    assert {v.status for v in outcome.verdicts} == {"unchanged"}


# ---- the numerics fingerprint: another machine is "not replayable", never changed or a pass ----------

def _other_cpu(runs: Path) -> None:
    for env_file in runs.rglob("environment.json"):
        env = json.loads(env_file.read_text())
        env["numerics"] = {**env["numerics"], "cpu_vendor": "AuthenticAMD", "cpu_model": "AMD EPYC 9R14",
                           "torch_cpu_capability": "AVX2"}
        env_file.write_text(json.dumps(env))


def test_runs_on_another_cpu_are_not_replayable_and_worse_still_runs(two_groups, baseline, tmp_path, capsys):
    runs = _copy(two_groups, tmp_path / "runs")
    _other_cpu(runs)
    frame_file = runs / "gdas-seed0" / "metrics.parquet"  # a float difference as another CPU gives one
    import pandas as pd

    frame = pd.read_parquet(frame_file)
    frame.loc[0, "train_loss"] *= 1 + 1e-5
    frame.to_parquet(frame_file)
    outcome = regress.regress(runs, baseline, overrides={"alpha": 0.06, "min_effect": {"derived_weight": 0.0}})
    changed = [v for v in outcome.verdicts if v.mode == "changed"]
    assert {v.status for v in changed} == {"not replayable"} and not any(v.failed for v in changed)
    assert "not replayable here: baseline on" in changed[0].summary and "AMD EPYC 9R14 (AuthenticAMD, AVX2)" in \
        changed[0].summary
    assert any("cpu_model" in d for d in changed[0].details)
    assert {v.status for v in outcome.verdicts if v.mode == "worse"} == {"not worse"}
    assert outcome.exit_code == 0
    assert main(["regress", str(runs), "--baseline", str(baseline), "--alpha", "0.06", "--min-effect",
                 "derived_weight=0"]) == 0
    assert "exact replay NOT checked for 2 group(s)" in capsys.readouterr().out
    junit = tmp_path / "replay.xml"
    assert main(["regress", str(runs), "--baseline", str(baseline), "--alpha", "0.06", "--min-effect",
                 "derived_weight=0", "--require-replay", "--junit", str(junit)]) == 1
    capsys.readouterr()
    import xml.etree.ElementTree as ET

    (suite,) = [s for s in ET.parse(junit).getroot() if s.get("name") == "dnas regress: changed"]
    assert suite.get("failures") == "2" and suite.find("testcase/failure").get("type") == "not replayable"
    assert main(["regress", str(runs), "--baseline", str(baseline), "--alpha", "0.06", "--min-effect",
                 "derived_weight=0", "--junit", str(junit)]) == 0
    capsys.readouterr()
    (suite,) = [s for s in ET.parse(junit).getroot() if s.get("name") == "dnas regress: changed"]
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "2")
    assert suite.find("testcase/skipped").get("message").startswith("not replayable: darts-v1: not replayable here")
    _one_line_error(capsys, ["regress", str(runs), "--baseline", str(baseline), "--mode", "changed"],
                    "nothing to compare: every group is not replayable")


def test_a_config_change_is_changed_even_on_another_cpu(two_groups, baseline, tmp_path):
    runs = _copy(two_groups, tmp_path / "runs")
    _other_cpu(runs)
    for seed in range(3):
        _edit_config(runs / f"gdas-seed{seed}", tau_max=9.0)
    outcome = regress.regress(runs, baseline, mode="changed")
    (gdas,) = [v for v in outcome.verdicts if v.group.method == "gdas"]
    assert gdas.status == "changed" and "hparams.tau_max 10.0 -> 9.0" in gdas.summary
    assert any("not replayable here" in d for d in gdas.details)


def test_the_fingerprint_names_cpu_build_threads_and_device():
    from suite import numerics

    fp = numerics.fingerprint("cpu")
    assert {"cpu_vendor", "cpu_model", "cpu_isa", "torch_cpu_capability", "torch", "blas", "onednn", "threads",
            "device", "mode"} <= set(fp)
    assert numerics.differences(fp, dict(fp)) == []
    other = {**fp, "cpu_model": "another", "threads": fp["threads"] + 1}
    assert [d.split(" ")[0] for d in numerics.differences(fp, other)] == ["cpu_model", "threads"]
    portable = {**fp, "mode": "portable", "env": {"MKL_CBWR": "COMPATIBLE,STRICT"}}
    moved = {**portable, "cpu_model": "another", "env": {**portable["env"], "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
    assert numerics.differences(portable, moved) == []  # portable mode: the processor does not matter
    assert numerics.differences(portable, {**moved, "threads": 7}) == [f"threads {fp['threads']!r} -> 7"]


def test_a_resume_on_another_fingerprint_is_recorded_and_not_replayable(two_groups, baseline, tmp_path):
    from suite.runs import SearchConfig, resume_search, run_search

    store = run_search(SearchConfig(method="gdas", space="nb201", dataset="digits", bench="nb201", seed=0,
                                    device="cpu", out=str(tmp_path), name="gdas-seed0", threads=1,
                                    hparams=TINY), progress=False, stop_after=1)
    env_file = store.path / "environment.json"
    env = json.loads(env_file.read_text())  # the first epoch as if made on another machine
    _edit_json(env_file, numerics={**env["numerics"], "cpu_model": "AMD EPYC 9R14"})
    resume_search(store.path, progress=False)
    env = json.loads(env_file.read_text())
    assert env["numerics"]["cpu_model"] == "AMD EPYC 9R14"
    assert [fp["cpu_model"] for fp in env["numerics_on_resume"]] != ["AMD EPYC 9R14"]
    only = tmp_path / "only"
    _copy(store.path, only / "gdas-seed0")
    (v,) = [v for v in regress.compare_changed(regress.read_baseline(baseline), regress.collect(only))
            if v.group.method == "gdas"]
    assert v.status == "not replayable" and any("cpu_model" in d for d in v.details)
    with pytest.raises(DnasError, match="nothing to compare: every group is not replayable or not run"):
        regress.regress(only, baseline, mode="changed")


def test_regress_notes_the_run_diagnostics(two_groups, baseline, tmp_path, capsys):
    runs = _copy(two_groups, tmp_path / "runs")
    for seed in range(3):
        _edit_config(runs / f"gdas-seed{seed}", arch_start_epoch=5)  # as if the warm-up outlasted the run
    outcome = regress.regress(runs, baseline, mode="worse", overrides={"alpha": 0.06})
    (gdas,) = [v for v in outcome.verdicts if v.group.method == "gdas"]
    assert any(d.startswith("diagnostics, seed 0: the architecture optimizer never stepped") for d in gdas.details)
    assert "diagnostics, seed 0: the architecture optimizer never stepped" in regress.render(outcome.verdicts)


def test_normalised_scores_are_regress_metrics(two_groups, baseline, tmp_path, capsys):
    import benchmarks
    from reports.baselines import random_architecture

    metrics = [f"cifar10@200/test-accuracy.{s}" for s in ("regret", "scaled", "percentile")]
    outcome = regress.regress(two_groups, baseline, mode="worse", overrides={"metrics": tuple(metrics), "alpha": 0.06})
    (gdas,) = [v for v in outcome.verdicts if v.group.method == "gdas"]
    by = {s["metric"]: s for s in gdas.stats}
    assert set(by) == set(metrics) and gdas.status == "not worse"
    found = regress.collect(two_groups)
    accs = [found.runs[(g, sd)]["final"]["cifar10@200/test-accuracy"] for g, sd in found.runs if g.method == "gdas"]
    dist = random_architecture(benchmarks.open("nb201"), "cifar10@200/test-accuracy")
    assert by[metrics[0]]["current_mean"] == pytest.approx(np.mean([dist.optimum - a for a in accs]), rel=1e-6)
    assert not by[metrics[0]]["higher_is_better"] and by[metrics[2]]["higher_is_better"]
    _one_line_error(capsys, ["regress", str(two_groups), "--baseline", str(baseline), "--metric",
                             "cifar10@200/test-accuracy.regrets"], "unknown metric")
    assert main(["baseline", "save", str(two_groups), "--out", str(tmp_path / "s.jsonl"), "--metric", metrics[1]]) == 0


def test_baseline_save_never_replaces_a_users_file(two_groups, tmp_path, capsys):
    spec = tmp_path / "study.yaml"
    spec.write_text("method: gdas\n")
    _one_line_error(capsys, ["baseline", "save", str(two_groups), "--out", str(spec)], str(spec),
                    "is not a baseline", "--force")
    assert spec.read_text() == "method: gdas\n"
    _one_line_error(capsys, ["baseline", "save", str(two_groups), "--out", str(tmp_path)], "is a directory")
    out = tmp_path / "b.jsonl"
    assert main(["baseline", "save", str(two_groups), "--out", str(out)]) == 0
    assert main(["baseline", "save", str(two_groups), "--out", str(out)]) == 0  # its own file: replaced
    assert main(["baseline", "save", str(two_groups), "--out", str(spec), "--force"]) == 0
    capsys.readouterr()
    assert regress.read_baseline(spec).runs
