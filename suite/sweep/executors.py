"""Where a sweep's runs execute: ``local`` worker processes, or ``ray`` tasks on a Ray cluster.

An executor takes tasks (JSON-able dicts, each run by ``suite.sweep.jobs.execute``) and hands
back their outcomes. Each task gets its share of the machine: ``cpus`` intra-op threads and,
where there are GPUs, one GPU (or a fraction of one) of its own. A dead worker process loses
only the run it was running, which the run's checkpoint lets the next attempt resume.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import importlib
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from suite.device import usable_cores
from suite.errors import DnasError

EXECUTE = "suite.sweep.jobs:execute"
"""The function an executor calls with each task (``module:function``)."""
GRACE_S = 60.0
"""How long an interrupted run may take to record where it stopped before its process is killed."""


def call(fn: str, task: Any) -> Any:
    """Import ``module:function`` and call it with ``task``."""
    module, _, name = fn.partition(":")
    return getattr(importlib.import_module(module), name)(task)


def outcome(key: str, result: Any) -> dict[str, Any]:
    """A task's answer as an outcome under its key (a dict from ``execute``; anything else as ``result``)."""
    return {**result, "id": key} if isinstance(result, dict) else {"id": key, "state": "completed", "result": result}


def lost(key: str, reason: str, retry: bool) -> dict[str, Any]:
    """The outcome of a task whose process died before it answered."""
    return {"id": key, "state": "lost", "reason": reason, "retry": retry}


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def placed_device(device: str, has_gpu: bool) -> str:
    """The device a run asks for (auto, cpu, cuda), given whether the executor gave it a GPU."""
    if device == "auto":
        return "cuda" if has_gpu else "cpu"
    return device


class Executor(abc.ABC):
    """Runs tasks somewhere; ``capacity`` of them at once at most."""

    capacity: int

    @abc.abstractmethod
    def submit(self, key: str, task: dict[str, Any]) -> None:
        """Start ``task``; its outcome comes back from ``wait`` under ``key``."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[dict[str, Any]]:
        """Outcomes of tasks finished within ``timeout`` seconds (each with ``id`` = its key)."""

    @abc.abstractmethod
    def interrupt(self) -> list[dict[str, Any]]:
        """Stop every task in flight (each run records where it stopped) and return their outcomes."""

    def close(self) -> None:
        """Release workers and connections."""

    def describe(self) -> str:
        return type(self).__name__


# ---- local ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Slot:
    """One concurrent run's share: intra-op threads and the GPU it sees (None: no GPU)."""

    cpus: int
    gpu: str | None = None


def local_slots(workers: int | None = None, cpus_per_run: int | None = None,
                gpus_per_run: float | None = None, limit: int | None = None) -> list[Slot]:
    """Share this machine among concurrent runs: one GPU per run where there are GPUs (or
    ``gpus_per_run`` < 1 runs sharing one), else one core (and one thread) per run, whatever
    ``workers`` says: the thread count is part of what a CPU run computes, so it never follows the
    number of workers. At most ``limit`` slots (the runs there are to do)."""
    cores = usable_cores()
    if cpus_per_run is not None and cpus_per_run > cores:
        raise DnasError(f"--cpus-per-run {cpus_per_run} is more than the {cores} core(s) this process may use: "
                        f"give at most {cores}")
    gpus = visible_gpus()
    g = (1.0 if gpus else 0.0) if gpus_per_run is None else float(gpus_per_run)
    if not math.isfinite(g) or g < 0 or g > 1 or (0 < g < 1 and not math.isclose(1 / g, round(1 / g))):
        raise DnasError(f"--gpus-per-run must be 0, 1 or 1/k (0.5, 0.25, ...) for the local executor, got {g}; "
                        f"use Ray for other shares")
    if g > 0 and not gpus:
        raise DnasError("--gpus-per-run asks for GPUs, but this machine has none visible (CUDA_VISIBLE_DEVICES)")
    if g > 0:
        per_gpu = round(1 / g)
        gpu_of = [gpus[i // per_gpu] for i in range(len(gpus) * per_gpu)]
        n = min(len(gpu_of), workers or len(gpu_of), limit or len(gpu_of))
        cpus = cpus_per_run or max(1, cores // len(gpu_of))  # cores / GPU slots, whatever --workers says
        return [Slot(cpus, gpu_of[i]) for i in range(n)]
    cpus = cpus_per_run or 1
    n = workers or max(1, cores // cpus)
    return [Slot(cpus) for _ in range(max(1, min(n, limit or n)))]


class _Worker:
    """A long-lived worker process (``python -m suite.sweep._worker``) running one task at a time."""

    def __init__(self, slot: Slot, log: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(slot.cpus), "MKL_NUM_THREADS": str(slot.cpus),
               "CUDA_VISIBLE_DEVICES": slot.gpu or "", "PYTHONUNBUFFERED": "1"}
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as err:
            # its own session: a terminal's Ctrl-C reaches the sweep, which stops each run once
            self.proc = subprocess.Popen([sys.executable, "-m", "suite.sweep._worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        self.slot = slot
        self.key: str | None = None  # the task it runs

    def send(self, message: dict[str, Any]) -> bool:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stop(self) -> None:
        """Close its stdin: it exits after the task in hand."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"worker process killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker process killed by signal {-code}"
    return f"worker process exited with status {code}"


class LocalExecutor(Executor):
    """Runs on this machine, one long-lived worker process per slot (started on first use)."""

    def __init__(self, slots: list[Slot], log_dir: Path, fn: str = EXECUTE) -> None:
        self.slots, self.log_dir, self.fn = slots, Path(log_dir), fn
        self.capacity = len(slots)
        self.workers: list[_Worker | None] = [None] * len(slots)
        self.sel = selectors.DefaultSelector()
        self._pending_lost: list[dict[str, Any]] = []

    def describe(self) -> str:
        gpus = sorted({s.gpu for s in self.slots if s.gpu is not None})
        where = f", GPUs {','.join(gpus)}" if gpus else ""
        return f"local: {len(self.slots)} at a time, {self.slots[0].cpus} thread(s) each{where}"

    def submit(self, key: str, task: dict[str, Any]) -> None:
        i = next(i for i, w in enumerate(self.workers) if w is None or w.key is None)
        w = self.workers[i]
        if w is None or w.proc.poll() is not None:
            w = self._start(i)
        slot = self.slots[i]
        w.key = key
        message = {"key": key, "fn": self.fn,
                   "task": {**task, "threads": slot.cpus, "device": placed_device(task.get("device", "cpu"),
                                                                                   slot.gpu is not None)}}
        if not w.send(message):
            w.key = None
            self._pending_lost.append(lost(key, _exit_reason(w.proc.wait()), True))

    def _start(self, i: int) -> _Worker:
        old = self.workers[i]
        if old is not None:
            self._forget(old)
        w = _Worker(self.slots[i], self.log_dir / f"worker-{i}.log")
        assert w.proc.stdout is not None
        self.sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        self.workers[i] = w
        return w

    def _forget(self, w: _Worker) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(w.proc.stdout)
        w.stop()

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        out, self._pending_lost = list(self._pending_lost), []
        if out:
            return out
        for sk, _ in self.sel.select(timeout if self.busy() else min(timeout, 0.05)):
            w: _Worker = sk.data
            line = w.proc.stdout.readline() if w.proc.stdout else b""
            if not line:  # the process is gone
                code = w.proc.wait()
                self._forget(w)
                self.workers[self.workers.index(w)] = None
                if w.key is not None:
                    out.append(lost(w.key, _exit_reason(code), True))
                continue
            reply = json.loads(line)
            w.key = None
            out.append(outcome(reply["key"], reply["result"]) if "result" in reply else
                       lost(reply["key"], reply.get("error", "worker error"), True))
        return out

    def busy(self) -> bool:
        return any(w is not None and w.key is not None for w in self.workers)

    def interrupt(self) -> list[dict[str, Any]]:
        running = [w for w in self.workers if w is not None and w.key is not None]
        for w in running:
            with contextlib.suppress(OSError):
                os.kill(w.proc.pid, signal.SIGINT)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + GRACE_S
        while self.busy() and time.monotonic() < deadline:
            out += self.wait(0.2)
        for w in self.workers:
            if w is not None and w.key is not None:
                w.proc.kill()
                out.append(lost(w.key, "killed after Ctrl-C", False))
                w.key = None
        return out

    def close(self) -> None:
        live = [w for w in self.workers if w is not None]
        for w in live:  # all at once: each exits when its stdin closes
            self._forget(w)
        for w in live:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        self.workers = [None] * len(self.slots)
        self.sel.close()


# ---- Ray --------------------------------------------------------------------------------------

def _ray_call(fn: str, task: dict[str, Any], gpus: float) -> Any:
    """A Ray task: run ``task`` with the device Ray gave it."""
    import ray

    has_gpu = gpus > 0 and bool(ray.get_gpu_ids())
    return call(fn, {**task, "device": placed_device(task.get("device", "cpu"), has_gpu)})


class RayExecutor(Executor):
    """One Ray task per run with its CPU/GPU request; Ray retries a task whose worker died."""

    def __init__(self, address: str | None = None, cpus_per_run: int = 1, gpus_per_run: float | None = None,
                 retries: int = 2, fn: str = EXECUTE) -> None:
        try:
            import ray
        except ImportError:
            raise DnasError("the ray executor needs Ray: pip install -e '.[ray]' (or pip install ray)") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as exc:
                raise DnasError(f"cannot reach a Ray cluster at {address!r}: {str(exc).splitlines()[0]}; start one "
                                f"with 'ray start --head' or leave out --address for a local one") from None
            self.started = True
        if gpus_per_run is None:  # one GPU per run where the cluster has GPUs
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self.cpus, self.gpus, self.fn = int(cpus_per_run), float(gpus_per_run), fn
        self.remote = ray.remote(_ray_call).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=retries, retry_exceptions=False, name="dnas-sweep-run",
            runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}})  # idle OpenMP threads sleep (see README)
        self.capacity = 1 << 30  # Ray queues what its cluster cannot start yet
        self.refs: dict[Any, str] = {}

    def describe(self) -> str:
        res = self.ray.cluster_resources()
        return (f"ray: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs on "
                f"{len(self.ray.nodes())} node(s); {self.cpus} CPU(s), {self.gpus:g} GPU(s) per run")

    def submit(self, key: str, task: dict[str, Any]) -> None:
        self.refs[self.remote.remote(self.fn, {**task, "threads": self.cpus}, self.gpus)] = key

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        if not self.refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
        return [self._outcome(ref) for ref in ready]

    def _outcome(self, ref: Any) -> dict[str, Any]:
        key = self.refs.pop(ref)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return lost(key, "interrupted", False)
        except self.ray.exceptions.RayError as exc:  # the worker died more often than max_retries allows
            return lost(key, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}", False)
        return outcome(key, result)

    def interrupt(self) -> list[dict[str, Any]]:
        for ref in list(self.refs):
            self.ray.cancel(ref)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + GRACE_S
        while self.refs and time.monotonic() < deadline:
            out += self.wait(0.2)
        for ref in list(self.refs):
            self.ray.cancel(ref, force=True)
            out.append(lost(self.refs.pop(ref), "killed after Ctrl-C", False))
        return out

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
