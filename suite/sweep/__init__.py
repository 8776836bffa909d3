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
from .schedule import RunState, Scheduler, read_manifest, read_states, write_manifest
from .spec import RunSpec, Sweep, expand, load_sweep

__all__ = ["Executor", "RunSpec", "RunState", "Sweep", "expand", "load_sweep", "make_executor", "read_manifest",
           "run_sweep", "sweep_states"]

EXECUTORS = ("local", "ray")
DEFAULT_RETRIES = 2


def _check(settings: dict[str, Any]) -> dict[str, Any]:
    """Executor settings (from the spec's ``executor:`` and the command line), checked."""
    out = dict(settings)
    kind = out.get("kind", "local")
    if kind not in EXECUTORS:
        raise DnasError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    for key, low in (("workers", 1), ("cpus_per_run", 1), ("retries", 0)):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise DnasError(f"executor {key} must be an int >= {low}, got {v!r}")
    g = out.get("gpus_per_run")
    if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or g < 0):
        raise DnasError(f"executor gpus_per_run must be a number >= 0, got {g!r}")
    if out.get("address") is not None and kind != "ray":
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
    slots = local_slots(s.get("workers"), s.get("cpus_per_run"), s.get("gpus_per_run"))
    return LocalExecutor(slots, sweep.out / ".sweep" / "logs")


def run_sweep(sweep: Sweep, executor: Executor | None = None, *, retries: int | None = None,
              retry_failed: bool = False, progress: bool = True, invocation: dict[str, Any] | None = None,
              **resources: Any) -> dict[str, RunState]:
    """Run every unfinished run of ``sweep`` and return the states (completed runs are skipped, unfinished
    ones resumed). ``resources``: ``kind``, ``address``, ``workers``, ``cpus_per_run``, ``gpus_per_run``."""
    from .progress import Live

    settings = _check({**sweep.executor, **{k: v for k, v in {**resources, "retries": retries}.items()
                                            if v is not None}})
    write_manifest(sweep, invocation or {})
    ex = executor or make_executor(sweep, retries=retries, **resources)
    live = Live(f"sweep {sweep.out}  ({ex.describe()})", len(sweep.runs), enabled=progress)
    scheduler = Scheduler(sweep, ex, retries=settings.get("retries", DEFAULT_RETRIES), retry_failed=retry_failed,
                          on_change=live)
    try:
        return scheduler.run()
    finally:
        live.close(scheduler.states)


def sweep_states(sweep: Sweep) -> dict[str, RunState]:
    """Each run's state as recorded on disk now."""
    return read_states(sweep)
