"""Run stores written by earlier versions of the suite still load, list and resume to the same result.

``tests/fixtures/runs-v0`` holds a search (darts-v1, digits) and an evaluation (nats-12, digits),
each interrupted after epoch 0 of 2, exactly as the suite wrote them before the run layer existed
(their configs say ``protocol_dir``); ``expected.json`` holds the uninterrupted runs' metrics
from the same code, which resuming the fixtures must reproduce.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from suite.runstore import list_runs, open_run

FIXTURES = Path(__file__).parent / "fixtures" / "runs-v0"
VOLATILE = ["epoch_time_s", "wall_time_s", "peak_memory_mb"]
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture
def old_runs(tmp_path):
    out = tmp_path / "runs"
    for name in ("search-v0", "eval-v0"):
        shutil.copytree(FIXTURES / name, out / name)
    return out


def _same(store, name):
    rows = store.metrics.drop(columns=VOLATILE).to_dict("records")
    want = EXPECTED[name]["metrics"]
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in want]
    for got, exp in zip(rows, want):
        assert set(got) == set(exp)
        for k, v in exp.items():
            assert got[k] == (pytest.approx(v, rel=1e-4, abs=1e-6) if isinstance(v, float) else v), (name, k)
    assert store.final["arch"] == EXPECTED[name]["arch"]


def test_old_runs_load_and_list(old_runs):
    runs = {r["name"]: r for r in list_runs(old_runs)}
    assert runs["search-v0"]["kind"] == "search" and runs["eval-v0"]["kind"] == "evaluation"
    assert {r["status"] for r in runs.values()} == {"interrupted"}
    assert all(r["epochs_done"] == 1 for r in runs.values())
    search = open_run(old_runs / "search-v0")
    assert search.config["protocol_dir"] is None and "method" in search.load_checkpoint()


def test_old_search_resumes_to_the_uninterrupted_result(old_runs):
    from suite.runs import resume_search

    store = resume_search(old_runs / "search-v0", progress=False)
    assert store.status["status"] == "completed"
    _same(store, "search-v0")


def test_old_evaluation_resumes_to_the_uninterrupted_result(old_runs):
    from suite.runs import resume_training

    store = resume_training(old_runs / "eval-v0", progress=False)
    assert store.status["status"] == "completed"
    _same(store, "eval-v0")


def test_protocol_dir_is_read_as_splits_dir(tmp_path):
    """Configs, sweep files and callers of earlier versions name the split files' folder protocol_dir."""
    from benchmarks.training import TrainingBenchmark
    from suite.runs import EvalConfig, SearchConfig

    cfg = SearchConfig.from_dict({"method": "darts-v1", "protocol_dir": str(tmp_path)})
    assert cfg.splits_dir == str(tmp_path)
    assert "protocol_dir" not in cfg.record() and cfg.record()["splits_dir"] == str(tmp_path)
    assert EvalConfig("a", "nats-12", "digits", protocol_dir="p").splits_dir == "p"
    assert TrainingBenchmark("nats-12", protocol_dir="p").kw["splits_dir"] == "p"
    with pytest.raises(ValueError, match="splits_dir .protocol_dir is its former name"):
        SearchConfig("darts-v1", splits_dir="a", protocol_dir="b")


def test_cli_resume_with_the_former_protocol_dir_flag(old_runs, tmp_path, capsys):
    """``--protocol-dir`` still works (with a note); the resumed run's config says splits_dir from then on."""
    from suite.cli import main

    assert main(["search", "--resume", str(old_runs / "search-v0"), "--protocol-dir", str(tmp_path), "--json"]) == 0
    assert "--protocol-dir is now --splits-dir" in capsys.readouterr().err
    config = open_run(old_runs / "search-v0").config
    assert config["splits_dir"] == str(tmp_path) and "protocol_dir" not in config
    assert main(["evaluate", "--resume", str(old_runs / "eval-v0"), "--splits-dir", str(tmp_path), "--json"]) == 0
    assert '"status": "completed"' in capsys.readouterr().out
    assert open_run(old_runs / "eval-v0").config["splits_dir"] == str(tmp_path)
