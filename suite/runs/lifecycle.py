"""The life of a run, written once for searches and evaluations alike.

create (after every input is checked) → per epoch: stop if asked, stop on a non-finite loss,
record the row, progress and checkpoint → final record → completed. ``reopen`` takes a run
back up for resuming, with paths that moved since it started. Failures and interruptions are
states of the same run (``RunStore.writing`` marks them).
"""
from __future__ import annotations

import datetime as _dt
import os
import time
from typing import Any, NoReturn

from suite.device import peak_memory_mb
from suite.errors import DnasError, NonFiniteLoss
from suite.runstore import RunStore, open_run, resumable

MOVABLE = ("data_dir", "splits_dir", "bench", "threads")
"""What resuming may replace: paths that moved since the run started, and the CPU thread count."""


def name_stamp() -> str:
    """The time stamp a run's default name ends with."""
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def reopen(run_dir: str | os.PathLike, kind: str, moved: dict[str, Any], *, writer: bool = True
           ) -> tuple[RunStore, dict[str, Any], dict[str, Any]]:
    """A run to resume (locked when ``writer``), its config with ``moved`` values in, and what changed.

    Refused when completed, written by a live process, or of the other kind ("search" / "evaluation")."""
    store = resumable(run_dir) if writer else open_run(run_dir)
    try:
        config = store.config
        is_eval = config.get("kind") == "evaluation"
        if kind == "search" and is_eval:
            raise DnasError(f"{store.path} is an evaluation run: resume it with 'dnas evaluate --resume'")
        if kind == "evaluation" and not is_eval:
            raise DnasError(f"{store.path} is a search run: resume it with 'dnas search --resume'")
    except BaseException:
        store.release()
        raise
    changed = {k: v for k, v in moved.items() if k in MOVABLE and v is not None}
    return store, {**config, **changed}, changed


def record_moved(store: RunStore, config: dict[str, Any], changed: dict[str, Any], threads: int) -> None:
    """Write the resumed run's config again when a path moved or the thread count differs (as used from now on)."""
    if changed or config.get("threads") != threads:
        store.write_config({**config, "threads": threads})


def stop_requested(store: RunStore, epoch: int, stop_after: int | None, main: bool = True) -> bool:
    """True (and the run marked interrupted) once ``stop_after`` epochs are done: how tests end a run early."""
    if stop_after is None or epoch < stop_after:
        return False
    if main:
        store.set_status("interrupted", after_epoch=epoch - 1)
    return True


def fail_non_finite(store: RunStore, rows: list[dict[str, Any]], reason: str, hint: str = "", main: bool = True,
                    **where: Any) -> NoReturn:
    """Keep the finished epochs' rows, mark the run failed with ``reason`` and stop it."""
    if main:
        store.write_metrics(rows)
        store.set_status("failed", reason=reason, **where)
    raise NonFiniteLoss(f"run {store.path} stopped: {reason}{hint}")


def epoch_cost(store: RunStore, device: str, started: float, images: int | None = None) -> dict[str, Any]:
    """The cost columns of one epoch's row: its time, the run's wall time so far (every session's,
    killed ones included), the device, the peak memory and, given the ``images`` the epoch processed,
    its throughput."""
    seconds = time.time() - started
    out = {"epoch_time_s": seconds, "wall_time_s": store.wall_time(), "device": device,
           "peak_memory_mb": peak_memory_mb(device)}
    if images and seconds > 0:
        out["images_per_s"] = images / seconds
    return out


def record_epoch(store: RunStore, rows: list[dict[str, Any]], epoch: int, epochs: int, checkpoint: dict[str, Any],
                 events: Any = None) -> None:
    """Write the rows so far, the progress, then the checkpoint (so status.json never counts less time); and
    the epoch's scalars to its TensorBoard stream (``events``, ``suite.tensorboard.EventStream``) if any."""
    store.write_metrics(rows)
    store.progress(epoch + 1, epochs)
    store.save_checkpoint(checkpoint)
    if events is not None:
        events.epoch(rows[-1])


def finish(store: RunStore, final: dict[str, Any]) -> RunStore:
    store.write_final(final)
    store.set_status("completed")
    return store
