"""tools/gpu-check.sh as the device call runs it: here, without CUDA, it ends in seconds with a summary that
says every GPU check was not run, and why."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_summarises_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run the script itself (it takes minutes there)")
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu-check.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                                            f"{__import__('os').environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "gpu-check.json").read_text())
    assert summary["doctor_ok"] and summary["tests"] and not summary["timed_out"]
    assert all(t["status"] == "not run: no CUDA device: the GPU test set runs where one is lent"
               for t in summary["tests"])
    assert {t["test"].split("[")[0] for t in summary["tests"]} == {
        "test_bf16_channels_last_step_agrees_with_fp32", "test_cuda_fp32_step_agrees_with_the_cpu_in_float64",
        "test_search_and_evaluation_on_cuda_record_gpu_cost", "test_search_step_throughput",
        "test_evaluation_throughput_and_ddp_equals_the_plain_run", "test_zz_print_the_table"}
    assert (tmp_path / "gpu-check.md").read_text().startswith("# GPU check")


def test_the_throughput_table_runs_on_cpu():
    """The GPU test set's throughput measurement, on CPU with small numbers: ours and XAutoDL's supernet, fp32
    and bf16 autocast, both step and the table reads back (the GPU numbers come where a device is lent)."""
    from gpu.test_throughput import measure, table

    rows = [measure(which, bf16, device="cpu", batch=4, steps=1) for which in ("xautodl", "ours") for bf16 in (False, True)]
    assert all(r["images_per_s"] > 0 for r in rows)
    text = table(rows, "cpu")
    assert text.count("| search step, NB201 DARTS-V1, batch 4 |") == 4 and "| xautodl | bf16 |" in text

