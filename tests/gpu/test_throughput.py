"""The GPU throughput table and DDP on CUDA (``python -m pytest -m gpu``; skipped without a CUDA device).

The table, printed at the end and written to ``$DNAS_GPU_TABLE`` (default ``gpu-throughput.md`` in the
working directory): images/s of one NB201 DARTS-V1 search step, ours against XAutoDL's supernet on the
same GPU, in fp32 and in bf16 autocast (channels-last for ours, as a search runs), each with peak GPU
memory; and the images/s of an evaluation run as its run store records them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device: the GPU test set runs where one is lent")]
BATCH, STEPS, WARMUP = 64, 20, 3
ROWS: list[dict] = []


def _ours(bf16: bool, device: str):
    from methods import create_method

    m = create_method("darts-v1", "nb201", 10, 3, seed=0, device=device, amp=bf16, channels_last=True)
    m.on_epoch_start(0)
    return lambda train, valid: m.step(train, valid)


def _xautodl(bf16: bool, device: str):
    import torch.nn.functional as F

    from methods.base import NB201_PROTOCOL
    from xautodl_ref import need_xautodl, xautodl_nb201

    need_xautodl()
    ref = xautodl_nb201().to(device)
    hp = {**NB201_PROTOCOL, "arch_lr": 3e-4, "arch_beta1": 0.5, "arch_weight_decay": 1e-3, "grad_clip": 5.0}
    weights = ref.get_weights()
    w_opt = torch.optim.SGD(weights, hp["lr"], momentum=hp["momentum"], nesterov=hp["nesterov"],
                            weight_decay=hp["weight_decay"])
    a_opt = torch.optim.Adam([ref.arch_parameters], hp["arch_lr"], betas=(hp["arch_beta1"], 0.999),
                             weight_decay=hp["arch_weight_decay"])

    def step(train, valid):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            a_opt.zero_grad()
            F.cross_entropy(ref(valid[0])[1].float(), valid[1]).backward()
            a_opt.step()
            w_opt.zero_grad()
            F.cross_entropy(ref(train[0])[1].float(), train[1]).backward()
        torch.nn.utils.clip_grad_norm_(weights, hp["grad_clip"])
        w_opt.step()

    return step


def measure(which: str, bf16: bool, device: str = "cuda", batch: int = BATCH, steps: int = STEPS) -> dict:
    """Images/s and peak memory of ``steps`` search steps of ``which`` (ours or xautodl) after a warm-up; on
    CPU too (with small numbers) so the default test run exercises it."""
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(batch, 3, 32, 32, generator=g).to(device), torch.randint(0, 10, (batch,), generator=g).to(device))
    valid = (torch.randn(batch, 3, 32, 32, generator=g).to(device), torch.randint(0, 10, (batch,), generator=g).to(device))
    step = _ours(bf16, device) if which == "ours" else _xautodl(bf16, device)
    cuda = device.startswith("cuda")
    for _ in range(WARMUP):
        step(train, valid)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step(train, valid)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    return {"what": f"search step, NB201 DARTS-V1, batch {batch}", "who": which, "precision": "bf16" if bf16 else "fp32",
            "images_per_s": 2 * batch * steps / seconds,
            "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")}


def table(rows: list[dict], device_name: str) -> str:
    """The Markdown throughput table."""
    return "\n".join([f"# GPU throughput on {device_name}", "",
                      "| what | who | precision | images/s | peak memory (MB) |", "|---|---|---|---|---|",
                      *(f"| {r['what']} | {r['who']} | {r['precision']} | {r['images_per_s']:,.0f} | {r['peak_mb']:,.0f} |"
                        for r in rows)]) + "\n"


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("which", ["xautodl", "ours"])
def test_search_step_throughput(which, bf16):
    row = measure(which, bf16)
    ROWS.append(row)
    assert row["images_per_s"] > 0 and row["peak_mb"] > 0


def test_evaluation_throughput_and_ddp_equals_the_plain_run(root, protocol, tmp_path):
    """An evaluation run on CUDA records images/s; ``torchrun --nproc_per_node 1`` (DDP over NCCL) trains as
    the plain run does, to the tolerance of nondeterministic GPU kernels."""
    from suite.runstore import open_run

    args = ["evaluate", "--arch", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "nor_conv_1x1~2|", "--protocol", "nats-12", "--dataset", "cifar10", "--data-dir", str(root),
            "--splits-dir", str(protocol), "--device", "cuda", "--epochs", "2", "--set", "batch_size=64",
            "--out", str(tmp_path), "--json"]
    plain = subprocess.run([sys.executable, "-m", "suite.cli", *args, "--name", "plain"], capture_output=True,
                           text=True, timeout=300)
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m",
                          "suite.cli", *args, "--name", "ddp"], capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and ddp.returncode == 0, plain.stderr[-2000:] + ddp.stderr[-2000:]
    a, b = open_run(tmp_path / "plain").metrics, open_run(tmp_path / "ddp").metrics
    for col in ("train-loss", "train-accuracy"):
        assert a[col].tolist() == pytest.approx(b[col].tolist(), rel=1e-3, abs=1e-3), col
    cost = open_run(tmp_path / "plain").final["cost"]
    ROWS.append({"what": "evaluation, NB201 cell, nats-12, batch 64", "who": "ours", "precision": "the protocol's CUDA default",
                 "images_per_s": float(a["images_per_s"].iloc[-1]), "peak_mb": cost["peak_memory_mb"]})


def test_zz_print_the_table():
    """Last in this file: the table of everything measured above (name sorts it after the others)."""
    if not ROWS:
        pytest.skip("nothing measured")
    text = table(ROWS, torch.cuda.get_device_name(0))
    Path(os.environ.get("DNAS_GPU_TABLE", "gpu-throughput.md")).write_text(text)
    print("\n" + text)
    (Path(os.environ.get("DNAS_GPU_TABLE", "gpu-throughput.md")).with_suffix(".json")).write_text(json.dumps(ROWS))
