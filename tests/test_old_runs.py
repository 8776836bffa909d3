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
VOLATILE = ["epoch_time_s", "wall_time_s", "peak_memory_mb", "images_per_s"]
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture
def old_runs(tmp_path):
    out = tmp_path / "runs"
    for name in ("search-v0", "eval-v0"):
        shutil.copytree(FIXTURES / name, out / name)
    return out


def _same(store, name):
    rows = store.metrics.drop(columns=VOLATILE, errors="ignore").to_dict("records")
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
    assert "protocol_dir" in (old_runs / "search-v0" / "config.yaml").read_text()  # the former name on disk
    assert search.config["splits_dir"] is None and "protocol_dir" not in search.config  # read by its current one
    assert "method" in search.load_checkpoint()


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


def test_the_former_name_is_read_in_one_place_only(tmp_path):
    """Only a stored run config is read with its former key names (``suite.runstore.current_names``); a config
    the user writes, the API and the command line take the current name only."""
    from suite.runs import EvalConfig, SearchConfig
    from suite.runstore import current_names

    assert current_names({"protocol_dir": "p", "seed": 0}) == {"splits_dir": "p", "seed": 0}
    assert current_names({"protocol_dir": "old", "splits_dir": "new"}) == {"splits_dir": "new"}
    with pytest.raises(ValueError, match="protocol_dir"):
        SearchConfig.from_dict({"method": "darts-v1", "protocol_dir": str(tmp_path)})
    with pytest.raises(TypeError):
        EvalConfig("a", "nats-12", "digits", protocol_dir="p")


def test_cli_resume_of_an_old_run_with_a_moved_splits_dir(old_runs, tmp_path, capsys):
    """An old run (its config says protocol_dir) resumes with --splits-dir; its config says splits_dir from then
    on. The former flag is gone."""
    from suite.cli import main

    with pytest.raises(SystemExit):
        main(["search", "--resume", str(old_runs / "search-v0"), "--protocol-dir", str(tmp_path)])
    capsys.readouterr()
    assert main(["search", "--resume", str(old_runs / "search-v0"), "--splits-dir", str(tmp_path), "--json"]) == 0
    config = open_run(old_runs / "search-v0").config
    assert config["splits_dir"] == str(tmp_path) and "protocol_dir" not in config
    assert main(["evaluate", "--resume", str(old_runs / "eval-v0"), "--splits-dir", str(tmp_path), "--json"]) == 0
    assert '"status": "completed"' in capsys.readouterr().out
    assert open_run(old_runs / "eval-v0").config["splits_dir"] == str(tmp_path)
