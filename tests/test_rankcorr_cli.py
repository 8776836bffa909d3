"""Rank-correlation studies end to end: SPECs, --where, --unique, plots, JSON, the supernet's own ranking."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import benchmarks
from reports.rankstudy import build_study, parse_spec
from suite.cli import main

TRUTH = "nb201:cifar10@200/test-accuracy"
C12 = "nb201:cifar10-valid@12/valid-accuracy"


def zc_spec(shared, column="synflow.score", extra=""):
    return f"{shared / 'nb201-zero-cost-proxies.json'}:{column},json-key=cifar10,key=arch,format=naslib{extra}"


def test_the_study_runs_on_the_builtin_table_with_every_statistic():
    res = subprocess.run([sys.executable, "-m", "suite.cli", "rankcorr", "--x", C12, "--y", TRUTH, "--bootstrap", "100"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for name in ("kendall_tau", "spearman_rho", "pearson_r", "weighted_tau", "precision@10", "precision@5%"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert "[" in line and "]" in line, line  # every statistic has its interval
    assert "n = 15625" in out and "100 bootstrap resamples" in out


def test_unique_keeps_one_arch_per_isomorphism_class():
    study = build_study([parse_spec(C12), parse_spec(TRUTH)], unique=True)
    assert len(study.frame) == 6466 and study.notes["unique"]["classes"] == 6466
    assert study.notes["unique"]["rows_dropped"] == 15625 - 6466
    assert study.frame["index"].iloc[0] == 0  # the lowest official index represents its class
    from suite.spaces.nb201 import Arch

    keys = [Arch.parse(a).unique_str() for a in study.frame["arch"]]
    assert len(set(keys)) == 6466


def test_zero_cost_proxies_against_the_builtin_truth_in_one_command(shared_data, capsys):
    raw = json.loads((shared_data / "nb201-zero-cost-proxies.json").read_text())["cifar10"]
    assert main(["rankcorr", "--x", zc_spec(shared_data, extra=",label=synflow"),
                 "--x", zc_spec(shared_data, "nwot.score", ",label=nwot"), "--y", TRUTH, "--bootstrap", "50",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    synflow, nwot = out["results"]
    assert synflow["x"] == "synflow" and synflow["n"] == len(raw) and synflow["n_dropped"] == 15625 - len(raw)
    assert nwot["dropped"]["x -inf"] == 1 and nwot["n"] == len(raw) - 1  # NASLib's one -inf nwot score
    assert all(s["value"] is not None and s["ci_low"] is not None for s in nwot["stats"].values())
    # the NASLib op tuple lands on the right official arch
    study = build_study([parse_spec(zc_spec(shared_data)), parse_spec(TRUTH)])
    rec = raw["(0, 2, 3, 2, 3, 1)"]
    arch = "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    assert study.frame.loc[study.frame["arch"] == arch, "x"].item() == rec["synflow"]["score"]
    assert np.isfinite(study.frame["x"]).sum() == len(raw)


def test_where_subsets_and_pairwise_tables_and_plots(tmp_path, capsys):
    truth = benchmarks.open("nb201").query_many("all", "cifar10", "test-accuracy", 200)
    assert main(["rankcorr", "--x", C12, "--x", "nb201:cifar100@12/valid-accuracy,label=c100-12", "--y", TRUTH,
                 "--where", "y >= y.quantile(0.9)", "--bootstrap", "30", "--plot", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert f"kept {(truth >= np.quantile(truth, 0.9)).sum()} rows" in out and "summary (values)" in out
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert "kendall-tau.png" in pngs and len(pngs) == 3
    assert main(["rankcorr", "--x", C12, "--x", "nb201:cifar100@12/valid-accuracy", "--y", TRUTH, "--pairwise",
                 "--bootstrap", "0", "--top", "5%", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 3 and list(results[0]["stats"])[-1] == "precision@5%"


# benign filters: the checked evaluator keeps exactly the rows pandas' own eval kept before it
WHERE_EXAMPLES = [
    "y > 90", "y >= y.quantile(0.9)", "80 < y < 90 and not x > 85", "(y > 90) & ~(x < 80) | (index % 7 == 0)",
    "arch in ['a', 'b']", "arch not in ['a']", "y.rank(pct=True) > 0.5", "(y - x).abs() < 1", "y.between(80, 90)",
    "y.isin([1.0, 2.0]) | x.isna()", "x.notna() and y ** 2 > 8100", "-y < -90", "y / 2 // 1 == 44",
    "index % 2 == 0 or y > x", "`c-1` > 0.5", "y > y.mean() + y.std()", "y < y.median()",
    "x > x.min() and x < x.max()", "y.rank(ascending=False, method='first') <= 10", "y > 2 ** 6 + 20",
    "not (y > 80)",
]


@pytest.mark.parametrize("where", WHERE_EXAMPLES)
def test_where_keeps_the_rows_pandas_eval_kept(where):
    from reports.filter_expr import parse_filter

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"index": np.arange(200), "arch": rng.choice(list("abcd"), 200),
                          "y": rng.uniform(70, 95, 200), "x": rng.uniform(60, 95, 200), "c-1": rng.normal(size=200)})
    frame.loc[::17, "x"] = np.nan
    got = parse_filter(where, frame.columns).evaluate(frame)
    want = frame.eval(where, engine="python")  # a trusted, fixed expression: the reference semantics
    assert got.dtype == bool and 0 < got.sum() < len(frame)  # each example keeps some rows, not all
    pd.testing.assert_series_equal(got, want, check_names=False)


def test_where_on_a_backticked_spec_label_and_a_col(capsys):
    truth = benchmarks.open("nb201").query_many("all", "cifar10", "test-accuracy", 200)
    c100 = benchmarks.open("nb201").query_many("all", "cifar100", "test-accuracy", 200)
    assert main(["rankcorr", "--x", C12, "--y", TRUTH, "--col", "c100=nb201:cifar100@200/test-accuracy",
                 "--where", f"`{TRUTH}` > 90 and c100 > 70", "--bootstrap", "0", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert notes["where"]["rows_kept"] == int(((truth > 90) & (c100 > 70)).sum()) > 0


@pytest.mark.parametrize("args, text", [
    (["--x", "nb201:cifar10@200/valid-accuracy", "--y", TRUTH], "use dataset='cifar10-valid'"),
    (["--x", "nb201:cifar10@12/test-accuracy,seed=777", "--y", TRUTH], "no per-seed values"),
    (["--x", "{zc}", "--y", TRUTH], "key column and key format explicitly"),
    (["--x", C12, "--y", TRUTH, "--where", "nope > 3"], "--where 'nope > 3': 'nope' is not a column; columns: index"),
    (["--x", C12, "--y", TRUTH, "--where", "y.to_csv('out.csv')"], "the method 'to_csv' is not allowed"),
    (["--x", C12, "--y", TRUTH, "--where", "y + 1"], "true/false condition"),
    (["--x", "cifar10@200", "--y", TRUTH], "must read BENCH:DATASET@EPOCHS/METRIC"),
    (["--x", C12, "--y", TRUTH, "--top", "lots"], "--top takes a count"),
    (["--y", TRUTH], "at least one --x"),
])
def test_errors_are_one_line(shared_data, args, text):
    zc = f"{shared_data / 'nb201-zero-cost-proxies.json'}:synflow.score,json-key=cifar10"
    res = subprocess.run([sys.executable, "-m", "suite.cli", "rankcorr", *[a.format(zc=zc) for a in args]],
                         capture_output=True, text=True, timeout=300)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("dnas: error: ") and text in lines[0], \
        res.stderr


# ---- the supernet's own ranking on a tiny digits search --------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["search", "--method", "darts-v1", "--space", "nb201", "--dataset", "digits", "--epochs", "1",
                 "--seed", "0", "--set", "channels=8", "--set", "depth=1", "--set", "batch_size=32",
                 "--out", str(out), "--name", "d", "--json"]) == 0
    return out / "d"


def test_nb201_search_uses_the_builtin_table_by_default(digits_run):
    from suite.runstore import open_run

    run = open_run(digits_run)
    assert run.config["bench"] == "nb201"
    assert run.final["bench"] == {"name": "nb201", "version": "NATS-tss-v1_0-3ffb9"}
    assert "cifar10-valid@12/valid-accuracy" in run.metrics.columns


def test_supernet_ranking_is_written_beside_the_run(digits_run, capsys):
    assert main(["rankcorr", "--supernet", str(digits_run), "--sample", "6", "--bn-batches", "2",
                 "--bootstrap", "50", "--y", TRUTH, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and out["notes"]["bn"] == "reestimate" and out["notes"]["checkpoint_epoch"] == 0
    table = pd.read_csv(digits_run / "rankcorr" / "supernet-n6-seed0.csv")
    truth = benchmarks.open("nb201").query_many(table["index"].to_numpy(), "cifar10", "test-accuracy", 200)
    assert np.array_equal(table["y"].to_numpy(), truth)
    assert table["supernet_accuracy"].between(0, 100).all()
    saved = json.loads((digits_run / "rankcorr" / "supernet-n6-seed0.json").read_text())
    assert saved["stats"]["kendall_tau"]["value"] == out["stats"]["kendall_tau"]["value"]


def test_one_hot_evaluation_is_deterministic_and_leaves_the_supernet_alone(digits_run):
    import torch

    from suite.oneshot import evaluate_archs, one_hot_plans
    from suite.runs import restore_search
    from suite.runstore import open_run
    from suite.spaces.nb201 import Arch
    from suite.spaces.search import get_search_space

    _, method, train, valid, _ = restore_search(open_run(digits_run), "cpu")
    before = {k: v.clone() for k, v in method.net.state_dict().items()}
    archs = [Arch.parse(benchmarks.open("nb201").arch_at(i)) for i in (11, 284)]
    a = evaluate_archs(method, archs, train, valid, bn_batches=2, progress=False)
    b = evaluate_archs(method, archs, train, valid, bn_batches=2, progress=False)
    batch = evaluate_archs(method, archs, train, valid, bn="batch", progress=False)
    assert np.array_equal(a, b) and ((0 <= batch) & (batch <= 100)).all()
    after = method.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(Exception, match="implemented for the nb201 space"):
        one_hot_plans(method.net, get_search_space("darts"), [0] * 14)


def test_supernet_on_digits_needs_an_explicit_reference(digits_run):
    res = subprocess.run([sys.executable, "-m", "suite.cli", "rankcorr", "--supernet", str(digits_run),
                          "--sample", "3"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "searched on digits" in res.stderr and "--y SPEC" in res.stderr
