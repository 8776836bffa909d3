"""The GPU test set (``python -m pytest -m gpu``): the CUDA paths a CPU machine cannot run. Collected
by the default run, selected only with ``-m gpu``; skipped with one line where there is no CUDA device.
``tools/gpu-check.sh OUT`` runs it with ``dnas doctor`` and writes a summary."""
from __future__ import annotations

import json
import time

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device: the GPU test set runs where one is lent")]


def _methods() -> list[str]:
    from methods import list_methods

    return list_methods()


@pytest.mark.parametrize("method", _methods())
def test_bf16_channels_last_step_agrees_with_fp32(method):
    from numerics_agreement import GRAD_RTOL, LOSS_RTOL, NOT_COMPARABLE, agreement

    if method == "gdas":
        pytest.skip(f"gdas: {NOT_COMPARABLE['gdas']}")
    steps = agreement(method, "cuda", 20, other="bf16")
    assert max(s["loss_rel"] for s in steps) <= LOSS_RTOL["bf16"], steps
    assert max(s["grad_rel"] for s in steps) <= GRAD_RTOL["bf16"], steps


@pytest.mark.parametrize("method", _methods())
def test_cuda_fp32_step_agrees_with_the_cpu_in_float64(method, monkeypatch):
    """With TF32 off (cuDNN uses it for convolutions by default: 10-bit mantissas), a CUDA fp32 step is as
    close to float64 on the CPU as a CPU fp32 step is (``LOSS_RTOL``/``GRAD_RTOL`` float64, x10 for
    the other reduction orders of GPU kernels)."""
    from numerics_agreement import GRAD_RTOL, LOSS_RTOL, NOT_COMPARABLE, agreement

    if method in NOT_COMPARABLE:
        pytest.skip(f"{method}: {NOT_COMPARABLE[method]}")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    steps = agreement(method, "cuda", 5, other="float64")
    assert max(s["loss_rel"] for s in steps) <= 10 * LOSS_RTOL["float64"], steps
    assert max(s["grad_rel"] for s in steps) <= 10 * GRAD_RTOL["float64"], steps


def test_search_and_evaluation_on_cuda_record_gpu_cost(root, protocol, tmp_path):
    """A 2-epoch NB201 DARTS-V1 search and a 2-epoch evaluation of its cell through the command line, on
    CIFAR-10 files in the official format: GPU-days, peak GPU memory and images/s in the run store."""
    from suite.cli import main

    common = ["--dataset", "cifar10", "--data-dir", str(root), "--splits-dir", str(protocol), "--device", "cuda",
              "--out", str(tmp_path)]
    t = time.perf_counter()
    assert main(["search", "--method", "darts-v1", "--epochs", "2", "--name", "s", "--set", "channels=8",
                 "--set", "depth=1", "--set", "batch_size=4", *common]) == 0
    search_s = time.perf_counter() - t
    final = json.loads((tmp_path / "s" / "final.json").read_text())
    assert final["cost"]["gpu_days"] > 0 and final["cost"]["peak_memory_mb"] > 0
    assert main(["evaluate", "--from-run", str(tmp_path / "s"), "--protocol", "nats-12", "--epochs", "2",
                 "--name", "e", "--set", "batch_size=4", *common]) == 0
    cost = json.loads((tmp_path / "e" / "final.json").read_text())["cost"]
    assert cost["gpu_days"] > 0 and cost["gpu"] == torch.cuda.get_device_name(0)
    from suite.runstore import open_run

    for run in ("s", "e"):
        assert (open_run(tmp_path / run).metrics["images_per_s"] > 0).all(), run
    print(f"\nsearch 2 epochs: {search_s:.1f} s; evaluation: {cost['wall_time_s']:.1f} s, "
          f"peak {cost['peak_memory_mb']:.0f} MB")
