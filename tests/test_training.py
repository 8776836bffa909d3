"""Training-based evaluation: every protocol end to end on tiny official-format data, cost, resume."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from PIL import Image

from benchmarks import Benchmark
from suite.train.protocols import PROTOCOLS, get_protocol
from suite.runs.training import TrainingBenchmark
from suite.runs import EvalConfig, resume_training, run_training
from suite.train.networks import build_network
from suite.train.schedules import learning_rate
from conftest import REAL_INDICES
from suite.cli import main
from suite.errors import DnasError
from suite.runstore import open_run
from suite.spaces.cost import count_flops, count_params

A11 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
TINY = {"batch_size": 8}
VOLATILE = ["epoch_time_s", "wall_time_s", "peak_memory_mb", "images_per_s"]


@pytest.mark.parametrize("dataset, classes, shape", [("cifar10", 10, (3, 32, 32)), ("cifar100", 100, (3, 32, 32)),
                                                     ("ImageNet16-120", 120, (3, 16, 16))])
def test_nb201_params_and_flops_equal_the_official_records(tss, dataset, classes, shape):
    for index in REAL_INDICES:
        net = build_network(get_protocol("nats-200"), tss.arch_at(index), classes, 3)
        recorded = tss.cost(index, dataset, 200)
        assert count_params(net) == pytest.approx(recorded["params"], abs=1e-6)
        assert count_flops(net, shape) == pytest.approx(recorded["flops"], abs=1e-5)


def test_darts_evaluation_networks():
    cifar = build_network(get_protocol("darts-cifar"), DARTS_V2, 10, 3)
    assert count_params(cifar) == pytest.approx(3.349342, abs=1e-6)  # quark0/darts logs 3.349342 MB for DARTS_V2
    assert count_params(cifar) < sum(p.numel() for p in cifar.parameters()) / 1e6  # auxiliary head left out
    imagenet = build_network(get_protocol("darts-imagenet"), DARTS_V2, 1000, 3)
    assert count_params(imagenet) == pytest.approx(4.7, abs=0.05)  # the paper: 4.7M


def test_protocols_hold_the_published_settings():
    n200, dc, di = (PROTOCOLS[k].hp for k in ("nats-200", "darts-cifar", "darts-imagenet"))
    assert (n200["epochs"], n200["batch_size"], n200["lr"], n200["weight_decay"], n200["nesterov"]) == \
        (200, 256, 0.1, 5e-4, True)
    assert PROTOCOLS["nats-12"].hp["epochs"] == 12
    assert (dc["epochs"], dc["batch_size"], dc["lr"], dc["cutout"], dc["drop_path"], dc["auxiliary"], dc["channels"],
            dc["depth"]) == (600, 96, 0.025, 16, 0.2, 0.4, 36, 20)
    assert (di["channels"], di["depth"], di["label_smoothing"]) == (48, 14, 0.1)
    assert learning_rate(n200, 0) == 0.1 and learning_rate(n200, 200) == pytest.approx(0.0)
    assert learning_rate(n200, 100.5) < learning_rate(n200, 100)  # per-step cosine
    assert learning_rate(di, 2.5) == pytest.approx(0.1 * 0.97 ** 2)
    with pytest.raises(ValueError, match="The 'epochs' parameter of protocol nats-12 must be > 0"):
        get_protocol("nats-12", {"epochs": 0})
    with pytest.raises(ValueError, match="unknown protocol 'nats-100'"):
        get_protocol("nats-100")


def _cfg(tmp_path, protocol, dataset, arch, root, prot=None, **over):
    return EvalConfig(arch, protocol, dataset, data_dir=str(root), splits_dir=str(prot) if prot else None, out=str(tmp_path),
                      overrides={**TINY, **over})


def test_nats_protocol_end_to_end_with_resume_and_cost(tmp_path, root, protocol, tss_store):
    cfg = _cfg(tmp_path, "nats-12", "cifar10-valid", A11, root, protocol, epochs=3, channels=8, depth=1)
    full = run_training(EvalConfig(**{**cfg.__dict__, "name": "full", "bench": str(tss_store)}), progress=False)
    part = run_training(EvalConfig(**{**cfg.__dict__, "name": "part"}), progress=False, stop_after=1)
    assert part.status["status"] == "interrupted" and len(part.metrics) == 1
    resumed = resume_training(part.path, progress=False)
    pd.testing.assert_frame_equal(full.metrics.drop(columns=VOLATILE, errors="ignore"), resumed.metrics.drop(columns=VOLATILE, errors="ignore"))
    final = full.final
    assert {"x-valid-accuracy", "ori-test-accuracy", "train-loss"} <= set(final["metrics"])
    cost = final["cost"]
    assert cost["params_m"] > 0 and cost["flops_m"] > 0 and cost["wall_time_s"] > 0 and cost["device"] == "cpu"
    assert cost["gpu_days"] is None and cost["cpu_hours"] > 0 and cost["peak_memory_mb"] > 0
    assert final["benchmark"]["valid-accuracy"] > 0  # the recorded 12-epoch numbers, set beside ours
    for f in ("config.yaml", "environment.json", "metrics.parquet", "checkpoints/last.pt"):
        assert (full.path / f).is_file()


@pytest.mark.parametrize("dataset", ["cifar100", "ImageNet16-120"])
def test_nats_200_on_cifar100_and_imagenet16(tmp_path, root, protocol, dataset):
    run = run_training(_cfg(tmp_path, "nats-200", dataset, A11, root, protocol, epochs=1, channels=8, depth=1,
                            amp=True), progress=False)
    assert {"x-valid-accuracy", "x-test-accuracy", "ori-test-accuracy"} <= set(run.final["metrics"])


def test_darts_cifar_end_to_end(tmp_path, root):
    run = run_training(_cfg(tmp_path, "darts-cifar", "cifar10", DARTS_V2, root, epochs=2, channels=8, depth=5),
                       progress=False, stop_after=1)
    resumed = resume_training(run.path, progress=False)
    final = resumed.final
    assert final["protocol"] == "darts-cifar" and final["cost"]["params_m"] > 0
    assert list(resumed.metrics["epoch"]) == [0, 1]


def test_darts_imagenet_end_to_end(tmp_path, c10):
    images, labels = c10
    for split, sl in (("train", slice(0, 12)), ("val", slice(12, 20))):
        for i in range(sl.start, sl.stop):
            folder = tmp_path / "imagenet" / split / f"n{labels[i] % 3:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i}.png")
    run = run_training(EvalConfig(DARTS_V2, "darts-imagenet", "imagenet", data_dir=str(tmp_path / "imagenet"),
                                  out=str(tmp_path / "runs"), overrides={"epochs": 1, "batch_size": 4, "channels": 8,
                                                                         "depth": 3}), progress=False)
    assert run.status["status"] == "completed" and "val-accuracy" in run.final["metrics"]


def test_training_benchmark_interface_and_cli(tmp_path, root, protocol, capsys):
    bench = TrainingBenchmark("nats-12", data_dir=str(root), splits_dir=str(protocol), out=str(tmp_path),
                              overrides={**TINY, "channels": 8, "depth": 1}, progress=False)
    assert isinstance(bench, Benchmark) and "cifar100" in bench.datasets()
    ev = bench.evaluate(A11, "cifar100", epochs=1, seed=1)
    assert ev.metrics["test-accuracy"] == ev.metrics["x-test-accuracy"] and ev.cost["params_m"] > 0
    assert main(["evaluate", "--arch", A11, "--protocol", "nats-12", "--dataset", "cifar10", "--data-dir", str(root),
                 "--epochs", "1", "--set", "batch_size=8", "--set", "channels=8", "--set", "depth=1",
                 "--out", str(tmp_path), "--name", "cli", "--json"]) == 0
    assert '"status": "completed"' in capsys.readouterr().out
    assert main(["evaluate", "--arch", DARTS_V2, "--protocol", "nats-12", "--dataset", "cifar10",
                 "--data-dir", str(root), "--out", str(tmp_path)]) == 2
    assert "malformed NB201 arch string" in capsys.readouterr().err
    with pytest.raises(DnasError, match="trains on cifar10, cifar100"):
        run_training(_cfg(tmp_path, "darts-cifar", "ImageNet16-120", DARTS_V2, root))


def test_ddp_with_torchrun_on_cpu(tmp_path):
    """Two gloo processes under torchrun: each trains on its slice of every global batch; rank 0 writes."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "suite.cli",
           "evaluate", "--arch", A11, "--protocol", "nats-12", "--dataset", "digits", "--epochs", "2",
           "--set", "batch_size=64", "--set", "channels=8", "--set", "depth=1", "--out", str(tmp_path),
           "--name", "ddp", "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count('"status": "completed"') == 1, res.stdout[-3000:] + res.stderr[-3000:]  # rank 0 reports
    from suite.runstore import open_run

    run = open_run(tmp_path / "ddp")
    assert run.config["world_size"] == 2 and run.final["cost"]["processes"] == 2
    assert list(run.metrics["epoch"]) == [0, 1] and sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]
    states = run.load_checkpoint()["generator"]  # each rank's random stream, for an exact resume
    assert len(states) == 2 and not torch.equal(states[0], states[1])


def test_evaluate_from_a_search_run(tmp_path, capsys):
    from suite.runs import SearchConfig, run_search

    search = run_search(SearchConfig(method="darts-v1", dataset="digits", out=str(tmp_path), name="s",
                                     hparams={"channels": 8, "depth": 1, "batch_size": 64, "epochs": 1}),
                        progress=False)
    assert main(["evaluate", "--from-run", str(search.path), "--protocol", "nats-12", "--dataset", "digits",
                 "--epochs", "1", "--set", "channels=8", "--set", "depth=1", "--set", "batch_size=64",
                 "--out", str(tmp_path), "--name", "e", "--json"]) == 0
    out = capsys.readouterr().out
    assert search.final["arch"] in out and '"status": "completed"' in out
    assert open_run(tmp_path / "e").config["from_run"] == str(search.path.resolve())  # reports link the two
    assert main(["evaluate", "--from-run", str(tmp_path / "e"), "--arch", "x", "--protocol", "nats-12",
                 "--dataset", "digits"]) == 2
    assert "exactly one of --arch" in capsys.readouterr().err


def test_ddp_with_one_process_equals_the_plain_run(tmp_path):
    """``torchrun --nproc_per_node 1`` (DDP over gloo) trains exactly as the plain run: same metrics, same cell."""
    import os
    import subprocess
    import sys

    from suite.runstore import open_run

    args = ["evaluate", "--arch", A11, "--protocol", "nats-12", "--dataset", "digits", "--epochs", "2",
            "--set", "batch_size=64", "--set", "channels=8", "--set", "depth=1", "--out", str(tmp_path), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                          "-m", "suite.cli", *args, "--name", "ddp"], capture_output=True, text=True, timeout=600, env=env)
    plain = subprocess.run([sys.executable, "-m", "suite.cli", *args, "--name", "plain"], capture_output=True,
                           text=True, timeout=600, env=env)
    assert ddp.returncode == 0 and plain.returncode == 0, ddp.stderr[-2000:] + plain.stderr[-2000:]
    a, b = open_run(tmp_path / "ddp"), open_run(tmp_path / "plain")
    assert a.config.get("world_size") == 1 and a.final["arch"] == b.final["arch"]
    pd.testing.assert_frame_equal(a.metrics.drop(columns=VOLATILE, errors="ignore"),
                                  b.metrics.drop(columns=VOLATILE, errors="ignore"))
