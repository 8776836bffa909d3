"""Time and peak memory of one search step of every registered method against DARTS-V1, in both spaces.

Same supernet per space (NB201: C=16, N=5; DARTS: C=16, 8 cells, also for ISTA-NAS one-stage,
whose own default is its 20-cell, 36-channel target network), same CIFAR-shaped batch of 64,
CPU, 2 threads, channels-last as a search runs. Time: every method built in one process, one
warm-up step each, then ``ROUNDS`` rounds of one step per method, order reversed every round,
median kept, the load average recorded. Memory: each method's own peak resident memory
(VmHWM) in a fresh process doing 3 steps.
Run: ``python -m pytest -m perf --benchmark-enable tests/perf/test_methods_perf.py -s``
(``DNAS_PERF_BATCH``, ``DNAS_PERF_ROUNDS``: a smaller batch or fewer rounds on a busy machine).
"""
from __future__ import annotations

import json
import os
import statistics
import time

import pytest
import torch

from tests.perf._rss import peak_rss_mb

pytestmark = pytest.mark.perf
BATCH, THREADS, ROUNDS = int(os.environ.get("DNAS_PERF_BATCH", "64")), 2, int(os.environ.get("DNAS_PERF_ROUNDS", "5"))
SUPERNET = {"nb201": {}, "darts": {"channels": 16, "depth": 8}}


def build(name: str, space: str):
    """The method, its epoch started with architecture updates on, and (train, valid) batches."""
    from methods import create_method

    m = create_method(name, space, 10, 3, seed=0, arch_start_epoch=0, **SUPERNET[space])
    m.on_epoch_start(1)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(BATCH, 3, 32, 32, generator=g), torch.randint(0, 10, (BATCH,), generator=g))
               for _ in range(2)]
    return m, batches


def _peak_rss_mb(name: str, space: str) -> float:
    return peak_rss_mb(f"""
        from tests.perf.test_methods_perf import build
        m, batches = build({name!r}, {space!r})
        for _ in range(3):
            m.step(*batches)
    """, THREADS)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_every_method_against_darts_v1(space, benchmark):
    import methods

    torch.set_num_threads(THREADS)
    names = methods.list_methods()
    peak = {n: _peak_rss_mb(n, space) for n in names}  # first: this process keeps its own peak afterwards
    print(f"\n[perf] {space} peak RSS (MB): {peak}", flush=True)
    built = {n: build(n, space) for n in names}
    for m, batches in built.values():
        m.step(*batches)  # warm-up
    load = [os.getloadavg()[0]]
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(ROUNDS):
        for n in names if r % 2 == 0 else names[::-1]:
            m, batches = built[n]
            t = time.perf_counter()
            m.step(*batches)
            times[n].append(time.perf_counter() - t)
        load.append(os.getloadavg()[0])
        print(f"[perf] {space} round {r}: { {n: round(t[-1], 2) for n, t in times.items()} }", flush=True)
    del built
    results = {n: {"step_s": statistics.median(times[n]), "peak_mb": peak[n]} for n in names}
    base = results["darts-v1"]
    rows = []
    for n in names:
        r = results[n]
        r["time_ratio"] = r["step_s"] / base["step_s"]
        r["memory_ratio"] = r["peak_mb"] / base["peak_mb"]
        rows.append(f"| {n} | {r['step_s']:.2f} | {BATCH / r['step_s']:.1f} | {r['peak_mb']:.0f} | "
                    f"{r['time_ratio']:.2f} | {r['memory_ratio']:.2f} |")
    benchmark.extra_info.update({"space": space, "results": results, "load_1min": load})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"\n[perf] one search step, {space} supernet {SUPERNET[space] or '(C=16, N=5)'}, batch {BATCH}, 32x32, "
          f"{THREADS} CPU threads, median of {ROUNDS} alternating rounds, load {min(load):.1f}-{max(load):.1f}\n"
          "| method | step (s) | images/s | peak RSS (MB) | time vs darts-v1 | memory vs darts-v1 |\n"
          "|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(json.dumps({n: round(r["step_s"], 3) for n, r in results.items()}))
    assert all(r["step_s"] > 0 and r["peak_mb"] > 0 for r in results.values())
