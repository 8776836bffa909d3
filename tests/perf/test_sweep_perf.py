"""Per-run scheduling overhead of a sweep beyond the run itself, local and Ray executors.

Each "run" here is a task that returns at once (``trivial``), so what is timed is everything a
sweep adds to a run: expanding nothing, handing the task to a worker (a JSON line to a local
worker process, or a Ray task with its resource request), the answer coming back, the run's
state read from disk and the bookkeeping. Workers are started (and torch imported) before the
clock starts; their start-up is timed on its own. The bar: under 50 ms per run with Ray.
Run: ``python -m pytest -m perf --benchmark-enable tests/perf/test_sweep_perf.py -s``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from suite.sweep import expand
from suite.sweep.executors import Executor, LocalExecutor, RayExecutor, Slot
from suite.sweep.schedule import Scheduler, read_states

pytestmark = pytest.mark.perf
N = 200
ROOT = Path(__file__).resolve().parents[2]
TRIVIAL = "tests.perf.test_sweep_perf:trivial"
RESULTS: dict[str, float] = {}


def trivial(task: dict) -> dict:
    """A run that takes no time."""
    return {"state": "completed", "seconds": 0.0}


def _sweep(out: Path, n: int = N):
    return expand({"search": {"method": "gdas", "dataset": "digits", "seed": list(range(n)),
                              "hparams": {"epochs": 1, "channels": 4, "depth": 1}}}, "perf", out=out)


def _warm(ex: Executor, k: int) -> float:
    """Start the executor's workers with ``k`` trivial tasks; returns the seconds that took."""
    t0 = time.perf_counter()
    for i in range(k):
        ex.submit(f"warm{i}", {"id": f"warm{i}"})
    done = 0
    while done < k:
        done += len(ex.wait(1.0))
    return time.perf_counter() - t0


def _per_run(benchmark, ex: Executor, out: Path) -> float:
    """Seconds per run of a whole sweep of N trivial runs (the benchmark times the sweep)."""
    sched = Scheduler(_sweep(out), ex)
    t0 = time.perf_counter()
    states = benchmark.pedantic(sched.run, kwargs={"poll_s": 0.5}, rounds=1, iterations=1)
    wall = time.perf_counter() - t0
    assert len(states) == N and {s.state for s in states.values()} == {"completed"}
    benchmark.extra_info["per_run_ms"] = wall / N * 1e3
    return wall / N


@pytest.mark.parametrize("workers", [1, 2])
def test_local_overhead(benchmark, tmp_path, workers):
    ex = LocalExecutor([Slot(1)] * workers, tmp_path / "logs", fn=TRIVIAL)
    RESULTS[f"local, {workers} worker(s): worker start-up (s)"] = _warm(ex, workers)
    per_run = _per_run(benchmark, ex, tmp_path / "out")
    RESULTS[f"local, {workers} worker(s): per run (ms)"] = per_run * 1e3
    print(f"\nlocal executor, {workers} worker(s): {per_run * 1e3:.2f} ms per run")


def test_ray_overhead(benchmark, tmp_path):
    ray = pytest.importorskip("ray")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    RESULTS["ray: ray.init (s)"] = time.perf_counter() - t0
    try:
        ex = RayExecutor(cpus_per_run=1, gpus_per_run=0, fn=TRIVIAL)
        RESULTS["ray: worker start-up (s)"] = _warm(ex, 2)
        per_run = _per_run(benchmark, ex, tmp_path / "out")
    finally:
        ray.shutdown()
    RESULTS["ray: per run (ms)"] = per_run * 1e3
    print(f"\nray executor (2 CPUs, 1 CPU per run): {per_run * 1e3:.2f} ms per run")
    assert per_run < 0.050, f"Ray adds {per_run * 1e3:.1f} ms per run (bar: 50 ms)"


def test_reading_a_finished_sweep(benchmark, tmp_path):
    """What re-running (or 'dnas sweep status' on) a finished sweep costs per run: its state from disk."""
    from suite.runstore import RunStore

    sweep = _sweep(tmp_path)
    for run in sweep.runs:
        store = RunStore(tmp_path / run.id)
        store.path.mkdir(parents=True)
        store.write_config({"method": "gdas"})
        store.set_status("completed", epochs_done=1, epochs=1)
    t0 = time.perf_counter()
    states = benchmark.pedantic(read_states, args=(sweep,), rounds=1, iterations=1)
    per_run = (time.perf_counter() - t0) / len(states)
    assert {s.state for s in states.values()} == {"completed"}
    RESULTS["state of a finished run, read from disk (ms)"] = per_run * 1e3
    print(f"\nreading a finished run's state: {per_run * 1e3:.2f} ms per run")


def test_zz_summary():
    print("\nsweep overhead (trivial runs, this machine, cpus=%d):" % os.cpu_count())
    for k, v in RESULTS.items():
        print(f"  {k:<50} {v:8.2f}")
