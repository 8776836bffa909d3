"""Peak memory and time of one search step of every registered method against DARTS-V1.

Same space (NB201 supernet at the published C=16, N=5), same CIFAR-shaped batch of 64, CPU,
2 threads, in one run. Each method runs in a fresh process (so its peak resident memory,
VmHWM, is its own): build, one warm-up step, then timed steps. Two passes in opposite
orders, best time kept, so that machine load hits every method alike.
Run: ``python -m pytest -m perf --benchmark-enable tests/perf/test_methods_perf.py -s``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.perf
BATCH, THREADS, STEPS = 64, 2, 3

CODE = textwrap.dedent("""
    import json, time, torch
    torch.set_num_threads({threads})
    from methods import create_method
    m = create_method({name!r}, "nb201", 10, 3, seed=0, arch_start_epoch=0)
    m.on_epoch_start(1)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn({batch}, 3, 32, 32, generator=g), torch.randint(0, 10, ({batch},), generator=g))
               for _ in range(2)]
    m.step(*batches)
    times = []
    for _ in range({steps}):
        t = time.perf_counter(); m.step(*batches); times.append(time.perf_counter() - t)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(json.dumps({{"step_s": min(times), "peak_mb": int(hwm) / 1024}}))
""")


def _measure(name: str) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", CODE.format(threads=THREADS, name=name, batch=BATCH, steps=STEPS)],
                         capture_output=True, text=True, cwd=root, timeout=1800)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_method_against_darts_v1(benchmark):
    import methods

    names = methods.list_methods()
    results: dict[str, dict] = {}
    for order in (names, names[::-1]):
        for name in order:
            r = _measure(name)
            best = results.setdefault(name, r)
            best["step_s"] = min(best["step_s"], r["step_s"])
            best["peak_mb"] = min(best["peak_mb"], r["peak_mb"])
    base = results["darts-v1"]
    rows = []
    for name in names:
        r = results[name]
        r["time_ratio"] = r["step_s"] / base["step_s"]
        r["memory_ratio"] = r["peak_mb"] / base["peak_mb"]
        rows.append(f"| {name} | {r['step_s']:.2f} | {BATCH / r['step_s']:.1f} | {r['peak_mb']:.0f} | "
                    f"{r['time_ratio']:.2f} | {r['memory_ratio']:.2f} |")
    benchmark.extra_info.update(results)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print("\n[perf] one search step, NB201 supernet (C=16, N=5), batch 64, 32x32, 2 CPU threads\n"
          "| method | step (s) | images/s | peak RSS (MB) | time vs darts-v1 | memory vs darts-v1 |\n"
          "|---|---|---|---|---|---|\n" + "\n".join(rows))
    assert all(r["step_s"] > 0 and r["peak_mb"] > 0 for r in results.values())
