"""The search runner and run store: complete run directories, determinism, resume, NaN, lookups."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from conftest import nan_step
from suite.cli import main
from suite.errors import DnasError
from suite.runs import NonFiniteLoss, SearchConfig, resume_search, run_search
from suite.runstore import open_run

SMALL = {"channels": 8, "depth": 1, "batch_size": 32}
VOLATILE = ["epoch_time_s", "wall_time_s", "peak_memory_mb", "images_per_s"]


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=VOLATILE, errors="ignore")


def test_digits_darts_v1_complete_and_deterministic(tmp_path, tss_store):
    """3 epochs on digits with the default NB201 supernet, twice, identical (its speed bar is a perf
    benchmark: tests/perf/test_search_perf.py)."""
    runs = []
    for name in ("a", "b"):
        assert main(["search", "--method", "darts-v1", "--space", "nb201", "--dataset", "digits", "--epochs", "3",
                     "--seed", "0", "--out", str(tmp_path), "--name", name, "--bench", str(tss_store),
                     "--json"]) == 0
        runs.append(open_run(tmp_path / name))
    a, b = runs
    for f in ("config.yaml", "environment.json", "metrics.parquet", "status.json", "final.json",
              "checkpoints/last.pt"):
        assert (a.path / f).is_file(), f
    assert a.status["status"] == "completed"
    assert a.config["hparams"]["channels"] == 16 and a.config["hparams"]["depth"] == 5
    m = a.metrics
    assert list(m["epoch"]) == [0, 1, 2]
    for col in ["arch", "train_loss", "train_acc", "valid_loss", "valid_acc", "arch_weights", "arch_entropy",
                "lr", "device", "peak_memory_mb", "wall_time_s", "cifar10@200/test-accuracy",
                "cifar10-valid@12/valid-accuracy", "ImageNet16-120@200/valid-accuracy"]:
        assert col in m.columns, col
    assert len(json.loads(m["arch_weights"][0])["cell"]) == 6
    pd.testing.assert_frame_equal(_stable(a.metrics), _stable(b.metrics))
    assert a.final["arch"] == b.final["arch"] == m["arch"].iloc[-1]
    cost = a.final["cost"]  # the same cost record as an evaluation's
    assert cost["params_m"] > 1 and cost["device"] == "cpu" and cost["cpu_hours"] > 0 and cost["gpu_days"] is None
    assert a.environment["torch"] == torch.__version__


def test_resume_gives_the_uninterrupted_result(tmp_path):
    cfg = dict(method="darts-v1", dataset="digits", seed=1, out=str(tmp_path), hparams={**SMALL, "epochs": 4})
    full = run_search(SearchConfig(**cfg, name="full"), progress=False)
    part = run_search(SearchConfig(**cfg, name="part"), progress=False, stop_after=2)
    assert part.status["status"] == "interrupted" and len(part.metrics) == 2
    resumed = resume_search(part.path, progress=False)
    assert resumed.status["status"] == "completed"
    pd.testing.assert_frame_equal(_stable(full.metrics), _stable(resumed.metrics))
    s1, s2 = full.load_checkpoint()["method"], resumed.load_checkpoint()["method"]
    for k in s1["net"]:
        assert torch.equal(s1["net"][k], s2["net"][k]), k
    assert all(torch.equal(s1["alphas"][k], s2["alphas"][k]) for k in s1["alphas"])
    with pytest.raises(DnasError, match="already completed"):
        resume_search(resumed.path, progress=False)


def test_resume_gdas_with_its_own_random_stream(tmp_path):
    cfg = dict(method="gdas", dataset="digits", seed=2, out=str(tmp_path), hparams={**SMALL, "epochs": 3})
    full = run_search(SearchConfig(**cfg, name="full"), progress=False)
    run_search(SearchConfig(**cfg, name="part"), progress=False, stop_after=1)
    resumed = resume_search(tmp_path / "part", progress=False)
    pd.testing.assert_frame_equal(_stable(full.metrics), _stable(resumed.metrics))


def test_nan_loss_stops_the_run(tmp_path, monkeypatch):
    from methods.darts import DARTS

    monkeypatch.setattr(DARTS, "step", nan_step(DARTS, 1))
    with pytest.raises(NonFiniteLoss, match="non-finite train_loss at epoch 1, step 0"):
        run_search(SearchConfig(method="darts-v1", dataset="digits", out=str(tmp_path), name="nan",
                                hparams={**SMALL, "epochs": 3}), progress=False)
    run = open_run(tmp_path / "nan")
    assert run.status["status"] == "failed" and "non-finite" in run.status["reason"]
    assert list(run.metrics["epoch"]) == [0]
    assert run.final is None


def test_config_file_and_errors(tmp_path, capsys, shared_data):
    cfg = tmp_path / "search.yaml"
    cfg.write_text("method: pc-darts\nspace: nb201\ndataset: digits\nseed: 3\nhparams:\n  epochs: 1\n"
                   "  channels: 8\n  depth: 1\n  batch_size: 32\n")
    assert main(["search", str(cfg), "--out", str(tmp_path), "--name", "yaml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["arch"].startswith("|")
    assert open_run(tmp_path / "yaml").config["hparams"]["k"] == 4
    (tmp_path / "bad.yaml").write_text("method: darts-v1\nlearning_rate: 0.1\n")
    assert main(["search", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown config key 'learning_rate'" in capsys.readouterr().err
    assert main(["search", "--method", "darts-v1", "--dataset", "digits", "--set", "lr=-1",
                 "--out", str(tmp_path)]) == 2
    assert "The 'lr' parameter of darts-v1 must be > 0" in capsys.readouterr().err
    assert main(["search", "--method", "darts-v1", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--splits-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "cifar-split.txt not found" in capsys.readouterr().err
    assert main(["search", "--method", "darts-v1", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--splits-dir", str(shared_data / "nats-protocol"), "--out", str(tmp_path)]) == 2
    assert "cifar-10-batches-py" in capsys.readouterr().err


def test_darts_space_search_runs_without_lookups(tmp_path):
    run = run_search(SearchConfig(method="darts-v1", space="darts", dataset="digits", out=str(tmp_path), name="d",
                                  hparams={"channels": 4, "depth": 3, "batch_size": 32, "epochs": 1}),
                     progress=False)
    assert run.final["arch"].startswith("Genotype(normal=") and run.final["lookups"] == {}
    assert (run.config["channels_last"], run.config["amp"]) == (True, False)  # resolved for the device, recorded
    assert main(["search", "--method", "darts-v1", "--dataset", "digits", "--epochs", "1", "--no-channels-last",
                 "--set", "channels=4", "--set", "depth=1", "--set", "batch_size=64", "--out", str(tmp_path),
                 "--name", "nchw", "--json"]) == 0
    assert open_run(tmp_path / "nchw").config["channels_last"] is False


def test_bench_of_the_wrong_space_is_refused(tmp_path, sss_store):
    with pytest.raises(DnasError, match="holds the sss space"):
        run_search(SearchConfig(method="darts-v1", dataset="digits", out=str(tmp_path), bench=str(sss_store),
                                hparams={**SMALL, "epochs": 1}), progress=False)


@pytest.mark.parametrize("method", __import__("methods").list_methods())
def test_every_method_runs_resumes_and_looks_up(tmp_path, tss_store, method):
    """Each registered method through the runner: lookups, run store, resume == uninterrupted."""
    cfg = dict(method=method, dataset="digits", seed=4, out=str(tmp_path), bench=str(tss_store),
               hparams={"channels": 8, "depth": 1, "batch_size": 64, "epochs": 2, "arch_start_epoch": 0})
    full = run_search(SearchConfig(**cfg, name="full"), progress=False)
    run_search(SearchConfig(**cfg, name="part"), progress=False, stop_after=1)
    resumed = resume_search(tmp_path / "part", progress=False)
    assert full.status["status"] == resumed.status["status"] == "completed"
    pd.testing.assert_frame_equal(_stable(full.metrics), _stable(resumed.metrics))
    assert "cifar10@200/test-accuracy" in full.metrics.columns and full.final["arch"].startswith("|")


def test_the_run_loop_reads_the_method_through_its_interface(tmp_path):
    """Epochs, batch size, steps and the network come from the Method's interface; GDAS's τ from epoch_metrics."""
    from methods import create_method

    m = create_method("gdas", "nb201", 10, 3, seed=0, **SMALL, epochs=3, steps_per_epoch=2)
    assert (m.epochs, m.batch_size, m.steps_per_epoch, m.network) == (3, 32, 2, m.net)
    assert create_method("darts-v1", "nb201", 10, 3, **SMALL).epoch_metrics() == {}
    run = run_search(SearchConfig("gdas", dataset="digits", out=str(tmp_path), name="g", bench="none", threads=1,
                                  hparams={**SMALL, "epochs": 3, "steps_per_epoch": 2}), progress=False)
    assert list(run.metrics["tau"]) == pytest.approx([10.0, 5.05, 0.1])  # tau_max -> tau_min over the epochs
