"""The sweep's one door to the run layer: start or resume a run by id, and read a run's state.

Everything the sweep knows about how searches and evaluations are created, resumed and read
lives here, so a change in the run lifecycle is a change in this file only.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

LOG_DIR = ".sweep/logs"
"""Each run's output (warnings, tracebacks) goes to ``OUT/.sweep/logs/<id>.log``, every attempt appended."""
DONE = "completed"


def run_status(path: str | os.PathLike) -> dict[str, Any]:
    """A run directory's state as the sweep sees it: ``state`` (absent, creating, running, completed,
    failed, interrupted, dead or stale: its writer was killed), ``epochs_done``, ``reason``, and the
    ``host`` and ``pid`` of its writer where recorded, and ``no_space``: it failed for want of disk space
    (so a rerun resumes it, as it does an interrupted run)."""
    from suite.io import NO_SPACE
    from suite.runstore import RunStore

    path = Path(path)
    if not (path / "config.yaml").is_file():
        return {"state": "absent" if not path.exists() else "creating", "epochs_done": 0}
    st = RunStore(path).status  # a killed writer's "running" reads dead (or stale, from another host)
    out = {"state": st.get("status", "unknown"), "epochs_done": st.get("epochs_done"),
           "reason": st.get("reason") or (st.get("note") if st.get("status") != "running" else None),
           "host": st.get("host"), "pid": st.get("pid"), "updated": st.get("updated"),
           "no_space": st.get("status") == "failed" and st.get("errno") in NO_SPACE}
    if out["epochs_done"] is None:
        out["epochs_done"] = _rows(path / "metrics.parquet")
    return out


def _rows(file: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(file).num_rows
    except Exception:  # absent, or being replaced this instant
        return 0


def final_arch(out: str | os.PathLike, run_id: str) -> str | None:
    """The final architecture of a completed search run, or None."""
    from suite.runstore import RunStore

    final = RunStore(Path(out) / run_id).final or {}
    return final.get("arch")


def execute(task: dict[str, Any]) -> dict[str, Any]:
    """Start, resume or skip one run (in a worker process); returns its outcome, never raises.

    ``task``: ``id``, ``kind``, ``out``, ``config`` (from the spec), ``after`` (an evaluation's search),
    ``threads`` (intra-op threads), ``device`` (where the executor placed it) and ``tensorboard`` (where
    the run's event stream goes, or None). Outcome: ``state``
    (completed, failed, interrupted or busy: another process writes it), ``reason``, ``retry``
    (whether trying again may help), ``seconds``, ``host``, ``pid``."""
    t0 = time.perf_counter()
    path = Path(task["out"]) / task["id"]
    result: dict[str, Any] = {"id": task["id"], "host": socket.gethostname(), "pid": os.getpid()}
    with _output_to(Path(task["out"]) / LOG_DIR / f"{task['id']}.log", result):
        result.update(_execute(task, path))
    result["seconds"] = time.perf_counter() - t0
    return result


def _execute(task: dict[str, Any], path: Path) -> dict[str, Any]:
    """The outcome, and a line in the run's log saying what this attempt did:

    'start -> completed', 'resume after epoch 3 -> interrupted', 'skip -> completed' (done before),
    'wait -> busy' (another process writes it), 'start -> taken' (another process got there first)."""
    import torch

    from suite.errors import DnasError, NonFiniteLoss

    torch.set_num_threads(int(task["threads"]))
    before = run_status(path)
    action = {"absent": "start", "creating": "start", DONE: "skip", "running": "wait"}.get(
        before["state"], f"resume after epoch {before['epochs_done']}")
    said = None
    try:
        if before["state"] == DONE:
            outcome: dict[str, Any] = {"state": DONE, "skipped": True}
        elif before["state"] == "running":
            outcome = _busy(before)
        else:
            store = _start(task, path) if action == "start" else _resume(task, path)
            state = store.status.get("status")
            outcome = {"state": state, "reason": store.status.get("reason"), "retry": state != DONE}
    except NonFiniteLoss as exc:  # a result, not a fault: trying again fails the same way
        outcome = {"state": "failed", "reason": str(exc), "retry": False}
    except KeyboardInterrupt:
        outcome = {"state": "interrupted", "reason": "interrupted", "retry": False}
    except Exception as exc:
        import traceback

        from suite.io import out_of_space

        traceback.print_exc()
        after = run_status(path)
        if out_of_space(exc):  # the same write fails again until space is freed: stop the sweep, say where
            outcome = {"state": "failed", "reason": _one_line(exc), "retry": False,
                       "no_space": str(exc.filename or path), "errno": exc.errno}
        elif after["state"] == DONE or _locked(path):  # another process got there first (its status may lag)
            outcome = {"state": DONE} if after["state"] == DONE else _busy(after)
            said = f"taken ({outcome['state']} by another process)"
        elif action == "start" and after["state"] not in ("absent", "creating"):
            # another process created the run after this one looked, and stopped (killed): resume it next time
            outcome = {"state": "interrupted", "reason": f"created by another process meanwhile ({after['state']})",
                       "retry": True}
            said = f"taken ({after['state']}: another process created it meanwhile; it resumes next)"
        else:  # bad input fails the same way again; a fault (out of memory, a file system hiccup) may not
            outcome = {"state": "failed", "reason": _one_line(exc),
                       "retry": not isinstance(exc, (DnasError, ValueError, TypeError))}
    said = said or outcome["state"] + (f": {outcome['reason']}" if outcome.get("reason") else "")
    print(f"{action} -> {said}")
    return outcome


def _busy(st: dict[str, Any]) -> dict[str, Any]:
    return {"state": "busy", "reason": f"written by pid {st.get('pid')} on {st.get('host')}"}


def _start(task: dict[str, Any], path: Path) -> Any:
    """Create the run under its id (one process wins the directory and its lock) and run it."""
    _clear_abandoned(path)
    cfg = {**task["config"], "device": task["device"], "threads": int(task["threads"]), "out": str(path.parent),
           "name": path.name}
    if task["kind"] == "search":
        from suite.runs import SearchConfig, run_search

        return run_search(SearchConfig(**cfg), progress=False, tensorboard=task.get("tensorboard"))
    from suite.runs import EvalConfig, run_training

    arch = final_arch(task["out"], task["after"])
    if arch is None:
        raise RuntimeError(f"search run {task['after']} has no final architecture")
    if "from_run" in {f.name for f in dataclasses.fields(EvalConfig)}:  # where the run layer records the link
        cfg["from_run"] = str(Path(task["out"]) / task["after"])
    return run_training(EvalConfig(arch=arch, **cfg), progress=False, tensorboard=task.get("tensorboard"))


def _resume(task: dict[str, Any], path: Path) -> Any:
    """Resume from the last checkpoint (refused while a live process writes it), with this sweep's paths
    and the thread count the run started with: CPU results depend on it, so a run resumed by a sweep
    with other ``--workers`` or ``--cpus-per-run`` still equals the uninterrupted run (and its
    config.yaml stays true). The log says when that differs from this worker's share."""
    cfg = task["config"]
    moved = {k: cfg.get(k) for k in ("data_dir", "splits_dir", "bench")}
    recorded = _recorded_threads(path)
    if recorded is not None and recorded != int(task["threads"]):
        print(f"note: resumes with the {recorded} thread(s) it started with (this worker's share: {task['threads']})")
    if task["kind"] == "search":
        from suite.runs import resume_search

        return resume_search(path, progress=False, threads=recorded, tensorboard=task.get("tensorboard"), **moved)
    from suite.runs import resume_training

    return resume_training(path, progress=False, threads=recorded, tensorboard=task.get("tensorboard"), **moved)


def _recorded_threads(path: Path) -> int | None:
    """The intra-op thread count in the run's config.yaml (None: not recorded or unreadable)."""
    from suite.errors import DnasError
    from suite.runstore import RunStore

    try:
        threads = RunStore(path).config.get("threads")
    except DnasError:
        return None
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else None


def _locked(path: Path) -> bool:
    """Whether another process holds the run's lock (is creating or writing it) right now."""
    import fcntl

    from suite.runstore import LOCK

    try:
        fd = os.open(path / LOCK, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this call took


def _clear_abandoned(path: Path) -> None:
    """Remove a run directory whose creator was killed before it wrote its config: it holds nothing but an
    unlocked ``.lock``. One that holds anything else, or whose lock is held, is left alone."""
    import shutil

    from suite.runstore import LOCK

    if not path.is_dir() or (path / "config.yaml").exists() or {p.name for p in path.iterdir()} != {LOCK}:
        return
    if not _locked(path):  # its creator is gone
        shutil.rmtree(path, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


class _Log:
    """A text stream onto a log file descriptor that never raises: the log is a record, not the work,
    so a full disk (or a log that cannot be opened) must not fail or hang the run. Each write goes
    straight to the file (no buffer left to fail at close)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError):
            os.write(self.fd, text.encode(self.encoding, self.errors))
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def _open_log(log: Path) -> int:
    """The log file opened for appending, or the null device where it cannot be (a full disk)."""
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        return os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return os.open(os.devnull, os.O_WRONLY)


@contextlib.contextmanager
def _output_to(log: Path, result: dict[str, Any]) -> Iterator[None]:
    """Send this process's output (Python's streams and C-level writes to fds 1 and 2) to ``log``."""
    streams = sys.stdout, sys.stderr
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    saved = os.dup(1), os.dup(2)
    fd = _open_log(log)
    text = _Log(fd)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = text  # type: ignore[assignment]
    print(f"== {_dt.datetime.now().isoformat(timespec='seconds')} pid {result['pid']} on {result['host']}")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.close(fd)
