"""The run store: one directory per run, which everything downstream reads.

    config.yaml        the resolved configuration (method hyperparameters included)
    environment.json   package versions, device, threads, git commit, host
    metrics.parquet    one row per finished epoch, rewritten atomically: readable mid-run
    status.json        running / completed / failed (with the reason) / interrupted, with the
                       writer's pid, host, heartbeat and wall time so far
    final.json         the final derived architecture and totals, when completed
    checkpoints/last.pt  everything needed to resume after the last finished epoch
    .lock              held (flock) by the one process writing the run

One process writes a run at a time: it holds ``.lock`` and refreshes the heartbeat in
``status.json`` every ``HEARTBEAT_S`` seconds. A reader tells a killed run from a live one by
the pid (same host) or by the heartbeat's age (another host), see ``RunStore.status``; any
exception in the writer marks the run failed with the reason.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import io
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import yaml

from suite.checks import writable_dir
from suite.errors import DnasError, FormatError, MissingFileError
from suite.io import atomic_path, clean_temp_files, naming, out_of_space, write_json
from suite.processes import owner, pid_alive, this_host

CHECKPOINT = "checkpoints/last.pt"
LOCK = ".lock"
HEARTBEAT_S = 15.0
"""How often a live run refreshes ``heartbeat`` and ``wall_time_s`` in status.json."""
STALE_AFTER_S = 120.0
"""A run of another host whose heartbeat is older than this counts as dead ("stale")."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _age_s(stamp: Any) -> float | None:
    """Seconds since an ISO time stamp written by ``_now`` (None if unreadable)."""
    try:
        return (_dt.datetime.now(_dt.timezone.utc) - _dt.datetime.fromisoformat(str(stamp))).total_seconds()
    except (TypeError, ValueError):
        return None


def _who(rec: dict[str, Any]) -> str:
    return f"pid {rec.get('pid')} on host {rec.get('host')}"


def liveness(rec: dict[str, Any]) -> tuple[str, str]:
    """Whether the writer a ``running`` status names still runs: ("running" | "dead" | "stale", why).

    On the writer's own host the pid (and its start time) answers exactly. Another host's process
    cannot be seen from here: its run counts as "stale" once the heartbeat is ``STALE_AFTER_S`` old."""
    if rec.get("pid") is None or rec.get("host") is None:
        return "running", "no writer recorded"
    if rec["host"] == this_host():
        if pid_alive(rec["pid"], rec.get("proc_start")):
            return "running", f"written by {_who(rec)}"
        return "dead", f"{_who(rec)} is gone (killed?); last heartbeat {rec.get('heartbeat')}"
    age = _age_s(rec.get("heartbeat") or rec.get("updated"))
    if age is not None and age > STALE_AFTER_S:
        return "stale", f"no heartbeat from {_who(rec)} for {age:.0f} s"
    return "running", f"written by {_who(rec)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if isinstance(exc, DnasError) else f"{type(exc).__name__}: {first}".rstrip(": ")


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Turn SIGTERM (a scheduler's preemption) into KeyboardInterrupt while a run writes; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.getsignal(signal.SIGTERM)
    if old not in (signal.SIG_DFL, None):
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, old)


class _Heartbeat(threading.Thread):
    def __init__(self, store: "RunStore") -> None:
        super().__init__(name=f"heartbeat {store.path.name}", daemon=True)
        self.store, self.done = store, threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEARTBEAT_S):
            self.store._beat()


FORMER_NAMES = {"protocol_dir": "splits_dir"}
"""Config keys that run directories of earlier versions hold, by their current names."""


def current_names(config: dict[str, Any]) -> dict[str, Any]:
    """A stored run config with keys of earlier versions renamed (``FORMER_NAMES``): the one place that reads
    them. A current key given beside its former name wins."""
    return {FORMER_NAMES.get(k, k): v for k, v in config.items()
            if not (k in FORMER_NAMES and FORMER_NAMES[k] in config)}

class RunStore:
    """Read and write one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()
        self._record: dict[str, Any] | None = None  # the status this process writes, while it writes
        self._keep: dict[str, Any] = {}  # fields every status write carries (session start, progress)
        self._clock: tuple[float, float] | None = None  # (wall time of earlier sessions, monotonic start)
        self._heart: _Heartbeat | None = None

    # ---- writing ----------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike, name: str, config: dict[str, Any], env: dict[str, Any], *,
               unique: bool = False) -> "RunStore":
        """Make ``root/name``, lock it and mark it running; ``unique`` adds ``-2``, ``-3`` ... to a taken name."""
        root = writable_dir(root)
        root.mkdir(parents=True, exist_ok=True)
        path, k = root / name, 1
        while True:
            try:
                path.mkdir()  # atomic: two runs never get the same directory
                break
            except FileExistsError:
                if not unique:
                    raise DnasError(_exists_message(path)) from None
                k += 1
                path = root / f"{name}-{k}"
        store = cls(path)
        try:
            store.acquire()
            store.write_config(config)
            write_json(path / "environment.json", env)
            store.start()
        except BaseException:
            store.release()
            shutil.rmtree(path, ignore_errors=True)
            raise
        return store

    def acquire(self) -> None:
        """Become the run's one writer, or fail with one line naming the live writer."""
        file = self.path / LOCK
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                held = _read_owner(fd)
                who = f"{_who(held)} (since {held.get('since')})" if held else "another process"
                raise DnasError(f"run {self.path} is being written by {who}: a run has one writer; wait for it "
                                f"to end or stop that process") from None
            except OSError as exc:  # a file system without flock: the owner record alone decides
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF):
                    raise
                locked = False
            held = _read_owner(fd)
            if held:
                self._check_takeover(held, locked)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({**owner(), "since": _now()}).encode(), 0)
                os.fsync(fd)
            except OSError as exc:  # a full disk: say which file
                raise naming(exc, file) from exc
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _check_takeover(self, held: dict[str, Any], locked: bool) -> None:
        """Refuse to take over from a writer that may live: same host without flock, or another host."""
        if held.get("host") == this_host():
            if locked or held.get("pid") == os.getpid() or not pid_alive(held.get("pid"), held.get("proc_start")):
                return
            raise DnasError(f"run {self.path} is being written by {_who(held)}: a run has one writer; wait for "
                            f"it to end or stop that process")
        rec = self._raw_status()
        age = _age_s(rec.get("heartbeat") or rec.get("updated"))
        if rec.get("status") == "running" and rec.get("host") == held.get("host") and age is not None \
                and age <= STALE_AFTER_S:
            raise DnasError(f"run {self.path} was written {age:.0f} s ago by {_who(held)}, which this host cannot "
                            f"check: stop it there, or resume once its heartbeat is {STALE_AFTER_S:.0f} s old")

    def release(self) -> None:
        """Stop the heartbeat and give the lock up (idempotent)."""
        if self._heart is not None:
            self._heart.done.set()
            self._heart.join(timeout=5)
            self._heart = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)  # no owner record: nobody to check on
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self, wall_time_s: float = 0.0, **extra: Any) -> None:
        """Begin a writing session (lock held): clean a killed writer's temp files, count wall time on
        from what earlier sessions recorded (killed ones included; at least ``wall_time_s``, the
        checkpoint's), mark running and start the heartbeat."""
        clean_temp_files(self.path)
        clean_temp_files(self.path / "checkpoints")
        before = self._raw_status().get("wall_time_s")
        before = float(before) if isinstance(before, (int, float)) and before == before and before >= 0 else 0.0
        self._clock = (max(before, float(wall_time_s)), time.monotonic())
        self._keep = {**owner(), "started": _now(), **extra}
        self.set_status("running")
        self._heart = _Heartbeat(self)
        self._heart.start()

    def wall_time(self) -> float:
        """Seconds this run has been written, over every session (0 when not writing)."""
        if self._clock is None:
            return 0.0
        before, t0 = self._clock
        return before + time.monotonic() - t0

    def progress(self, done: int, epochs: int) -> None:
        """Record how many of the ``epochs`` are finished (and the wall time so far) in status.json."""
        self._keep.update(epochs_done=done, epochs=epochs)
        self.set_status("running")

    def set_status(self, status: str, **extra: Any) -> None:
        with self._mutex:
            rec = {"status": status, "updated": _now()}
            if self._clock is not None:
                rec.update(self._keep)
                rec.update(heartbeat=rec["updated"], wall_time_s=self.wall_time())
            rec.update(extra)
            write_json(self.path / "status.json", rec)
            self._record = rec if self._clock is not None else None

    def _beat(self) -> None:
        """Refresh the heartbeat; a write that fails (a full disk) is skipped: the run's own next write
        meets the same error and ends the run with it, where a dying heartbeat thread would only print."""
        with self._mutex:
            if self._record is None or self._record.get("status") != "running":
                return
            now = _now()
            self._record.update(updated=now, heartbeat=now, wall_time_s=self.wall_time())
            with contextlib.suppress(OSError):
                write_json(self.path / "status.json", self._record)

    @contextlib.contextmanager
    def writing(self) -> Iterator["RunStore"]:
        """While the body writes the run: an exception marks it failed with the reason, Ctrl-C or SIGTERM
        interrupted; either way the heartbeat stops and the lock is released at the end."""
        undo = _sigterm_as_interrupt()
        try:
            yield self
        except KeyboardInterrupt as exc:
            self._record_end("interrupted", str(exc) or "interrupted (Ctrl-C)")
            raise
        except BaseException as exc:
            # a full disk is no fault of the run: recorded with its errno, a sweep resumes it once there is space
            self._record_end("failed", _one_line(exc), **({"errno": exc.errno} if out_of_space(exc) else {}))
            raise
        finally:
            undo()
            self.release()

    def _record_end(self, status: str, reason: str, **extra: Any) -> None:
        """Mark a running run ``status`` with ``reason``. Where even that cannot be written (a full disk),
        the error that stopped the run is the one to report: the lock is released right after, with
        no owner record in it, so readers see the run ``dead`` (see ``status``) and it resumes later."""
        if self._running():
            with contextlib.suppress(OSError):
                self.set_status(status, reason=reason, **extra)

    def _running(self) -> bool:
        return self._record is not None and self._record.get("status") == "running"

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        with atomic_path(self.path / "metrics.parquet") as tmp:
            pd.DataFrame(rows).to_parquet(tmp, index=False)

    def write_final(self, final: dict[str, Any]) -> None:
        write_json(self.path / "final.json", final)

    def write_config(self, config: dict[str, Any]) -> None:
        with atomic_path(self.path / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(config, sort_keys=False))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()  # serialised first, then written as bytes: a full disk raises OSError(ENOSPC),
        torch.save(state, buffer)  # where torch's own file writer raises a RuntimeError that does not say so
        (self.path / "checkpoints").mkdir(exist_ok=True)
        with atomic_path(self.path / CHECKPOINT) as tmp:
            tmp.write_bytes(buffer.getbuffer())

    # ---- reading ----------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """config.yaml, keys of earlier versions under their current names (``current_names``)."""
        file = self.path / "config.yaml"
        if not file.is_file():
            raise MissingFileError(f"{self.path} is not a run directory (no config.yaml)")
        try:
            data = yaml.safe_load(file.read_text())
        except yaml.YAMLError as exc:
            raise FormatError(f"corrupt run config {file}: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise FormatError(f"corrupt run config {file}: not a mapping of config keys")
        return current_names(data)

    def _raw_status(self) -> dict[str, Any]:
        try:
            rec = json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {"status": "unknown"}
        return rec if isinstance(rec, dict) else {"status": "unknown"}

    @property
    def status(self) -> dict[str, Any]:
        """status.json, where a ``running`` run whose writer is gone reads ``dead`` (same host) or ``stale``
        (another host, no heartbeat for ``STALE_AFTER_S``), with ``recorded_status`` and a ``note``."""
        rec = self._raw_status()
        if rec.get("status") == "running" and self._record is None:
            state, note = liveness(rec)
            if state == "running" and self._released() and self._raw_status().get("status") == "running":
                state, note = "dead", (f"{_who(rec)} stopped writing it without recording how (its lock is "
                                       f"released; a full disk?); last heartbeat {rec.get('heartbeat')}")
            rec = {**rec, "note": note} if state == "running" else \
                {**rec, "status": state, "recorded_status": "running", "note": note}
        return rec

    def _released(self) -> bool:
        """Whether the run's lock file holds no owner record: its writer released it (``release`` empties
        it) although status.json still says running, because the end could not be written (a full disk),
        while the writer's process (a sweep worker) lives on. A live writer's lock always names it."""
        try:
            return (self.path / LOCK).stat().st_size == 0
        except OSError:  # no lock file (an older run): the pid and heartbeat decide
            return False

    @property
    def environment(self) -> dict[str, Any]:
        return json.loads((self.path / "environment.json").read_text())

    @property
    def metrics(self) -> pd.DataFrame:
        """Per-epoch metrics so far (an empty frame before the first epoch ends)."""
        file = self.path / "metrics.parquet"
        return pd.read_parquet(file) if file.is_file() else pd.DataFrame()

    @property
    def final(self) -> dict[str, Any] | None:
        file = self.path / "final.json"
        return json.loads(file.read_text()) if file.is_file() else None

    def load_checkpoint(self) -> dict[str, Any] | None:
        import torch

        file = self.path / CHECKPOINT
        if not file.is_file():
            return None
        try:
            return torch.load(file, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises many types for a damaged file
            raise FormatError(f"corrupt checkpoint {file}: {str(exc).splitlines()[0]}; delete it to restart "
                              f"the run from scratch") from None


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _exists_message(path: Path) -> str:
    """Why a run cannot be created at ``path``, and what to do instead."""
    if not (path / "config.yaml").is_file():
        return f"{path} exists and is not a run directory: pick another --name"
    st = RunStore(path).status
    state = st.get("status")
    if state == "running":
        return f"run directory {path} exists and is {st.get('note', 'running')}: pick another --name"
    if state == "completed":
        return f"run directory {path} exists and holds a completed run: pick another --name"
    return f"run directory {path} exists (status {state}): resume it with --resume {path}, or pick another --name"


def resumable(path: str | os.PathLike) -> RunStore:
    """Open a run for resuming: refused when completed or written by a live process, else locked."""
    store = open_run(path)
    if store._raw_status().get("status") == "completed":
        raise DnasError(f"run {store.path} already completed; nothing to resume")
    store.acquire()
    return store


def list_runs(root: str | os.PathLike) -> list[dict[str, Any]]:
    """One summary per run directory in ``root`` (or of ``root`` itself), with killed runs shown ``dead``."""
    root = Path(root).expanduser()
    if (root / "config.yaml").is_file():
        dirs = [root]
    elif root.is_dir():
        dirs = sorted(p for p in root.iterdir() if (p / "config.yaml").is_file())
    else:
        raise MissingFileError(f"no runs at {root}: give the directory passed as --out (default runs/)")
    out = []
    for p in dirs:
        store = RunStore(p)
        try:
            cfg = store.config
        except DnasError:
            cfg = {}
        st = store.status
        kind = "evaluation" if cfg.get("kind") == "evaluation" else "search"
        out.append({"run": str(p), "name": p.name, "kind": kind,
                    "what": cfg.get("protocol") if kind == "evaluation" else cfg.get("method"),
                    "dataset": cfg.get("dataset"), "seed": cfg.get("seed"), "status": st.get("status"),
                    "epochs_done": st.get("epochs_done"), "epochs": st.get("epochs"), "updated": st.get("updated"),
                    "wall_time_s": st.get("wall_time_s"), "host": st.get("host"), "pid": st.get("pid"),
                    "note": st.get("reason") or st.get("note")})
    return out


def open_run(path: str | os.PathLike) -> RunStore:
    """Open a run directory for reading (``.config``, ``.metrics``, ``.status``, ``.final``)."""
    store = RunStore(path)
    store.config  # validates
    return store
