"""Run a sweep: hand its runs to an executor as they become ready, and keep their states.

A search is ready at once, an evaluation when its search has completed. Runs completed on disk
are skipped, unfinished ones resumed from their checkpoints, and a run that another process
writes (another sweep on the same directory) is left to it and watched until it ends. A run
that failed with an error, or whose process died, is tried again up to ``retries`` times; a
non-finite loss is a result and is not retried. Ctrl-C stops every run where it is (each records
it) and the next invocation resumes them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import fcntl
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from suite.errors import DnasError
from suite.io import write_json

from . import jobs
from .executors import Executor
from .spec import RunSpec, Sweep

MANIFEST = "sweep.json"
FINISHED = ("completed", "failed", "skipped")
"""States a sweep does not run again (``failed`` is run again only with ``retry_failed``)."""
HELD_POLL_S = 5.0
"""How often a run that another process writes is looked at again."""
DISK_POLL_S = 1.0
"""How often the epochs of running runs are read from disk."""


@dataclasses.dataclass
class RunState:
    """What the sweep knows about one run."""

    spec: RunSpec
    state: str = "queued"  # queued, waiting, starting, running, held, completed, failed, skipped, interrupted, ...
    epochs_done: int = 0
    reason: str | None = None
    attempts: int = 0
    host: str | None = None
    pid: int | None = None
    started: float | None = None
    seconds: float | None = None
    no_space: bool = False  # failed for want of disk space: a rerun resumes it (no --retry-failed needed)

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {"id": s.id, "kind": s.kind, "label": s.label, "after": s.after, "state": self.state,
                "epochs_done": self.epochs_done, "epochs": s.epochs, "reason": self.reason,
                "attempts": self.attempts, "host": self.host, "pid": self.pid}


def read_states(sweep: Sweep) -> dict[str, RunState]:
    """Every run's state as it is on disk now (no process needed: any machine that sees ``out``)."""
    states: dict[str, RunState] = {}
    for spec in sweep.runs:
        st = jobs.run_status(sweep.out / spec.id)
        state = "queued" if st["state"] == "absent" else st["state"]
        rs = RunState(spec, state, int(st.get("epochs_done") or 0), st.get("reason"), host=st.get("host"),
                      pid=st.get("pid"), no_space=bool(st.get("no_space")))
        if spec.after is not None and state == "queued":
            search = states[spec.after]
            if search.state == "failed" and not search.no_space:
                rs.state, rs.reason = "skipped", f"its search {spec.after} failed"
            elif search.state != "completed":
                rs.state = "waiting"
        states[spec.id] = rs
    return states


# ---- the manifest -------------------------------------------------------------------------------

MARKER = ".sweep"
"""The sweep's own folder in ``out`` (the manifest lock, the logs): a directory holding only it is a
sweep's that stopped before it wrote its manifest."""
RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunSpec)}


def parse_manifest(path: Path) -> dict[str, Any]:
    """``sweep.json`` checked as a record this suite wrote: ``format`` 1, ``runs`` mapping each id to a run
    record (id, kind, config, epochs, label, after), ``invocations`` a list. Anything else is a DnasError
    saying what is wrong, by key (the callers add the file and the fix)."""
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise DnasError("it is not a text file") from None
    except ValueError as exc:
        raise DnasError(f"it is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DnasError(f"it holds a JSON {type(data).__name__}, not a sweep record (an object with format, runs, "
                        f"invocations)")
    if data.get("format") != 1:
        raise DnasError(f"its format is {data.get('format')!r}, not 1" if "format" in data else "it has no 'format'")
    runs = data.get("runs")
    if not isinstance(runs, dict):
        raise DnasError(f"'runs' must map run ids to run records, got {type(runs).__name__}")
    for run_id, rec in runs.items():
        _check_run(run_id, rec)
        if rec.get("after") is not None and rec["after"] not in runs:
            raise DnasError(f"runs.{run_id}.after names {rec['after']!r}, which 'runs' does not hold")
    if not isinstance(data.get("invocations", []), list):
        raise DnasError(f"'invocations' must be a list, got {type(data['invocations']).__name__}")
    return data


def _check_run(run_id: str, rec: Any) -> None:
    where = f"runs.{run_id}"
    if not isinstance(rec, dict):
        raise DnasError(f"{where} must be a run record (an object), got {type(rec).__name__}")
    unknown = sorted(set(rec) - set(RUN_FIELDS))
    if unknown:
        raise DnasError(f"{where} has an unknown field {unknown[0]!r}")
    missing = [k for k, f in RUN_FIELDS.items() if k not in rec and f.default is dataclasses.MISSING]
    if missing:
        raise DnasError(f"{where} has no {missing[0]!r}")
    kinds = {"id": str, "kind": str, "config": dict, "epochs": int, "label": str}
    for key, kind in kinds.items():
        if not isinstance(rec[key], kind) or isinstance(rec[key], bool):
            raise DnasError(f"{where}.{key} must be a {kind.__name__}, got {rec[key]!r}")
    if rec["id"] != run_id or rec["kind"] not in ("search", "evaluation") or \
            not (rec.get("after") is None or isinstance(rec["after"], str)) or \
            (rec["kind"] == "evaluation") != isinstance(rec.get("after"), str):
        raise DnasError(f"{where} is not a run record of this suite (id, kind or after do not fit)")
    if not run_id or os.sep in run_id or run_id in (".", "..") or run_id.startswith("."):
        raise DnasError(f"{where}: {run_id!r} is not a run id (a directory name)")


def check_out(out: Path, force: bool = False) -> None:
    """Refuse, before anything is written, an ``out`` that is not this sweep's to write: a file; a
    directory whose ``sweep.json`` is not a sweep record of this suite; a non-empty directory without
    one. An empty or new directory is taken. ``force`` takes any directory (a foreign sweep.json is
    then replaced). Read-only and other unusable places are one line too."""
    from suite.checks import writable_dir

    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise DnasError(f"--out {out} is a file, not a directory: choose another --out")
    writable_dir(out, "--out")
    if not out.is_dir():
        return
    if manifest.is_dir():
        raise DnasError(f"{manifest} is a directory, not a sweep record: choose another --out")
    if manifest.exists():
        try:
            parse_manifest(manifest)
            return
        except DnasError as exc:
            if force:
                return
            raise DnasError(f"{manifest} is not a sweep record of dnas-suite ({exc}), and dnas sweep does not "
                            f"replace it: choose another --out, or add --force to replace it") from None
        except OSError as exc:
            raise DnasError(f"cannot read {manifest}: {exc.strerror or exc}; check the path or choose "
                            f"another --out") from None
    # a sweep starting on it this instant has made only .sweep/ and the temp file of its manifest so far
    others = sorted(p.name for p in out.iterdir()
                    if p.name != MARKER and not (p.name.startswith(f".{MANIFEST}.") and p.name.endswith(".tmp")))
    if others and not force:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise DnasError(f"--out {out} is not a sweep's directory (it holds {others[0]!r}{more} and no {MANIFEST}), "
                        f"and dnas sweep writes only into its own: choose a new or empty --out, or add --force to "
                        f"write into it")


def write_manifest(sweep: Sweep, invocation: dict[str, Any]) -> Path:
    """Record the sweep's runs in ``out/sweep.json`` (merged with what earlier sweeps there recorded), so
    the directory says what it holds: ``dnas sweep status OUT`` and reports read it. ``check_out``
    decides first whether ``out`` may be written; a sweep.json that is no record of this suite (taken
    with ``--force``) is replaced."""
    sweep.out.mkdir(parents=True, exist_ok=True)
    path = sweep.out / MANIFEST
    (sweep.out / MARKER).mkdir(exist_ok=True)
    with _locked(sweep.out / MARKER / "lock"):
        data: dict[str, Any] = {"format": 1, "runs": {}, "invocations": []}
        if path.is_file():
            try:
                data = parse_manifest(path)
            except DnasError:
                pass  # a foreign file (taken with --force): rewritten below from what this sweep knows
        data.setdefault("runs", {}).update({r.id: r.to_json() for r in sweep.runs})
        data.setdefault("invocations", []).append(
            {"spec": sweep.source, "runs": len(sweep.runs), "host": socket.gethostname(), "pid": os.getpid(),
             "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **invocation})
        data["invocations"] = data["invocations"][-100:]
        write_json(path, data)
    return path


def read_manifest(out: str | os.PathLike) -> Sweep:
    """The runs ``out/sweep.json`` lists, as a sweep to read states of; a missing or malformed file is one
    line naming it, what is wrong (by key) and the fix."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise DnasError(f"{out} holds no sweep ({path} does not exist): give the sweep's SPEC.yaml, or the "
                        f"directory a sweep wrote to")
    try:
        data = parse_manifest(path)
    except DnasError as exc:
        raise DnasError(f"{path} is not a sweep record of dnas-suite ({exc}): give the sweep's SPEC.yaml instead "
                        f"(dnas sweep status SPEC.yaml --out {out})") from None
    except OSError as exc:
        raise DnasError(f"cannot read {path}: {exc.strerror or exc}; check the path") from None
    runs = sorted((RunSpec(**r) for r in data["runs"].values()), key=lambda r: r.kind != "search")
    return Sweep(Path(out).absolute(), tuple(runs), str(path), {})


@contextlib.contextmanager
def _locked(file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``file`` (so two sweeps merge their manifests one after the other)."""
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ---- the loop -------------------------------------------------------------------------------------

class Scheduler:
    """Feeds an executor the runs of a sweep in order, as they become ready, and tracks their states."""

    def __init__(self, sweep: Sweep, executor: Executor, *, retries: int = 2, retry_failed: bool = False,
                 on_change: Callable[[dict[str, RunState]], None] | None = None, tensorboard: str | None = None) -> None:
        self.sweep, self.executor, self.retries, self.retry_failed = sweep, executor, retries, retry_failed
        self.tensorboard = tensorboard
        self.on_change = on_change or (lambda states: None)
        self.states = read_states(sweep)
        self.todo = [s.id for s in sweep.runs if self._wanted(self.states[s.id])]
        self.held: dict[str, float] = {}   # run id -> when it was last looked at
        self.in_flight: set[str] = set()
        self._polled = 0.0
        self.no_space: str | None = None   # the file a run could not write for want of space

    def _wanted(self, rs: RunState) -> bool:
        return rs.state not in FINISHED or (rs.state == "failed" and (self.retry_failed or rs.no_space))

    def run(self, poll_s: float = 0.5) -> dict[str, RunState]:
        """Run until every run has finished (or failed for good); Ctrl-C stops every run where it is."""
        try:
            with _sigterm_as_interrupt():
                while self.todo:
                    if not self._submit() and not self.in_flight and not self.held:
                        for run_id in list(self.todo):  # cannot happen; never spin on it
                            rs = self.states[run_id]
                            rs.state, rs.reason = "skipped", "nothing left that it waits for"
                            self._done(run_id)
                        break
                    for outcome in self.executor.wait(poll_s):
                        self._finish(outcome)
                    if self.no_space is not None:
                        self._stop_for_space()
                    self._look_at_disk()
                    self.on_change(self.states)
        except KeyboardInterrupt:
            for outcome in self.executor.interrupt():
                self._finish(outcome, interrupted=True)
            self.on_change(self.states)
            raise
        finally:
            self.executor.close()
        return self.states

    def _stop_for_space(self) -> None:
        """A run found the disk full: every other run meets the same wall, so stop them all (each records
        where it stopped, where it still can) and raise the OSError naming the file (ENOSPC)."""
        for outcome in self.executor.interrupt():
            self._finish(outcome, interrupted=True)
        self.on_change(self.states)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.no_space)

    def _ready(self, rs: RunState) -> bool:
        """A search is ready at once; an evaluation once its search completed (skipped if it ended otherwise)."""
        if rs.spec.after is None:
            return True
        search = self.states[rs.spec.after]
        if search.state == "completed":
            return True
        if rs.spec.after not in self.todo:
            rs.state, rs.reason = "skipped", f"its search {rs.spec.after} {search.state}"
            self._done(rs.spec.id)
        else:
            rs.state = "waiting"
        return False

    def _submit(self) -> int:
        """Start what is ready, up to the executor's capacity; returns how many runs are running or started."""
        for run_id in list(self.todo):
            if len(self.in_flight) >= self.executor.capacity:
                break
            rs = self.states[run_id]
            if run_id in self.held or run_id in self.in_flight or not self._ready(rs):
                continue
            task = {"id": run_id, "kind": rs.spec.kind, "out": str(self.sweep.out), "config": rs.spec.config,
                    "after": rs.spec.after, "device": rs.spec.config.get("device", "auto"),
                    "tensorboard": self.tensorboard}
            self.executor.submit(run_id, task)
            self.in_flight.add(run_id)
            rs.state, rs.started, rs.reason = "starting", time.monotonic(), None
            rs.attempts += 1
        return len(self.in_flight)

    def _finish(self, outcome: dict[str, Any], interrupted: bool = False) -> None:
        run_id = outcome["id"]
        self.in_flight.discard(run_id)
        rs = self.states[run_id]
        rs.state, rs.reason = outcome.get("state", "failed"), outcome.get("reason")
        rs.host, rs.pid, rs.seconds = outcome.get("host", rs.host), outcome.get("pid", rs.pid), outcome.get("seconds")
        st = jobs.run_status(self.sweep.out / run_id)
        rs.epochs_done = int(st.get("epochs_done") or rs.epochs_done)
        if rs.state == "busy":  # another process writes it: watch it
            rs.state = "held"
            self.held[run_id] = time.monotonic()
            rs.attempts -= 1
            return
        if rs.state == "lost":
            rs.state = "failed" if not interrupted else "interrupted"
        if outcome.get("no_space") and self.no_space is None:
            self.no_space = str(outcome["no_space"])
        if interrupted and st["state"] == "absent":  # stopped before it began: still to do
            rs.state, rs.reason = "queued", None
        if rs.state == "completed" or interrupted:
            self._done(run_id)
        elif outcome.get("retry") and rs.attempts <= self.retries:
            rs.reason = f"attempt {rs.attempts} of {self.retries + 1}: {rs.reason}"
            rs.state = "queued"
        else:
            if rs.attempts > 1:
                rs.reason = f"{rs.reason} (after {rs.attempts} attempts)"
            self._done(run_id)

    def _done(self, run_id: str) -> None:
        if run_id in self.todo:
            self.todo.remove(run_id)

    def _look_at_disk(self) -> None:
        """Epochs of running runs (once a second), and whether runs held elsewhere have ended."""
        now = time.monotonic()
        if now - self._polled < DISK_POLL_S:
            return
        self._polled = now
        for run_id in self.in_flight:  # "starting" until its process writes it (Ray may queue it first)
            rs = self.states[run_id]
            st = jobs.run_status(self.sweep.out / run_id)
            rs.epochs_done = int(st.get("epochs_done") or rs.epochs_done)
            if st["state"] == "running":
                rs.state, rs.host, rs.pid = "running", st.get("host"), st.get("pid")
        for run_id, seen in list(self.held.items()):
            if now - seen < HELD_POLL_S:
                continue
            rs = self.states[run_id]
            st = jobs.run_status(self.sweep.out / run_id)
            rs.epochs_done = int(st.get("epochs_done") or 0)
            if st["state"] == "running":
                self.held[run_id] = now
                continue
            del self.held[run_id]
            rs.state, rs.reason = st["state"], st.get("reason")
            if st["state"] == "completed" or (st["state"] == "failed" and not self.retry_failed):
                self._done(run_id)
            else:
                rs.state = "queued"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler ending the job) stops the sweep like Ctrl-C: every run records where it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
