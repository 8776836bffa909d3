"""Sweeps: methods × spaces × datasets × seeds (and the evaluation of what each search finds) as
one study, run on this machine or on a Ray cluster, resumable and never running a run twice.

    sweep = load_sweep("study.yaml")               # checked and expanded; nothing runs yet
    states = run_sweep(sweep, executor="local")    # or "ray"
    states = sweep_states(sweep)                   # what is on disk, from any machine

The output directory holds one run directory per run (named by its id) and ``sweep.json``, so
``dnas report OUT/`` and other readers of run directories take it as it is.
"""
from __future__ import annotations

from typing import Any

from suite.errors import DnasError

from .executors import Executor, LocalExecutor, RayExecutor, local_slots
from .schedule import RunState, Scheduler, check_out, read_manifest, read_states, write_manifest
from .spec import RunSpec, Sweep, check_executor, expand, load_sweep

__all__ = ["Executor", "RunSpec", "RunState", "Sweep", "expand", "load_sweep", "make_executor", "read_manifest",
           "run_sweep", "sweep_states"]

DEFAULT_RETRIES = 2


def _check(settings: dict[str, Any]) -> dict[str, Any]:
    """Executor settings (from the spec's ``executor:`` and the command line), checked."""
    out = dict(settings)
    check_executor(out, "executor")
    if out.get("address") is not None and out.get("kind", "local") != "ray":
        raise DnasError("--address is for the ray executor: add --executor ray")
    return out


def make_executor(sweep: Sweep, **overrides: Any) -> Executor:
    """The executor the spec's ``executor:`` names, with ``overrides`` (command-line flags, None = unset)."""
    s = _check({**sweep.executor, **{k: v for k, v in overrides.items() if v is not None}})
    if s.get("gpus_per_run") is None and all(r.config.get("device") == "cpu" for r in sweep.runs):
        s["gpus_per_run"] = 0  # every run asks for the CPU: no GPU to share out
    if s.get("kind", "local") == "ray":
        return RayExecutor(s.get("address"), s.get("cpus_per_run") or 1, s.get("gpus_per_run"),
                           s.get("retries", DEFAULT_RETRIES))
    slots = local_slots(s.get("workers"), s.get("cpus_per_run"), s.get("gpus_per_run"), limit=len(sweep.runs))
    return LocalExecutor(slots, sweep.out / ".sweep" / "logs")


def run_sweep(sweep: Sweep, executor: Executor | None = None, *, retries: int | None = None,
              retry_failed: bool = False, progress: bool = True, invocation: dict[str, Any] | None = None,
              force: bool = False, tensorboard: str | None = None, **resources: Any) -> dict[str, RunState]:
    """Run every unfinished run of ``sweep`` and return the states (completed runs are skipped, unfinished
    ones resumed). ``resources``: ``kind``, ``address``, ``workers``, ``cpus_per_run``, ``gpus_per_run``.

    Everything is checked before anything is written: the settings, the output directory (``out`` must
    be new, empty or a sweep's; ``force`` takes any directory, see ``check_out``) and the executor.
    A full disk stops the sweep with an OSError (ENOSPC) naming the file; the runs resume on the next
    call once there is space. ``tensorboard``: a folder for every run's TensorBoard event stream."""
    from .progress import Live

    settings = _check({**sweep.executor, **{k: v for k, v in {**resources, "retries": retries}.items()
                                            if v is not None}})
    check_out(sweep.out, force)
    ex = executor or make_executor(sweep, retries=retries, **resources)
    try:
        write_manifest(sweep, invocation or {})
    except BaseException:
        ex.close()
        raise
    live = Live(f"sweep {sweep.out}  ({ex.describe()})", len(sweep.runs), enabled=progress)
    scheduler = Scheduler(sweep, ex, retries=settings.get("retries", DEFAULT_RETRIES), retry_failed=retry_failed,
                          on_change=live, tensorboard=str(tensorboard) if tensorboard else None)
    try:
        return scheduler.run()
    finally:
        live.close(scheduler.states)


def sweep_states(sweep: Sweep) -> dict[str, RunState]:
    """Each run's state as recorded on disk now."""
    return read_states(sweep)
