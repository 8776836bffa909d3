"""TensorBoard event streams of runs (optional extra ``[tensorboard]``): one stream per run, written live
by ``--tensorboard DIR`` on ``search``, ``evaluate`` and ``sweep``, or afterwards from finished run stores
by ``dnas report --tensorboard DIR``; both write the same scalars from the same epoch rows.

Scalars per epoch: ``loss/*`` and ``accuracy/*`` (supernet or training), ``lookup/<dataset@epochs/metric>``
(the derived architecture's looked-up values), ``arch/entropy``, ``ops/<op>`` (the share of the derived
cell's edges each op holds), ``lr`` and ``throughput/images_per_s``.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

from suite.errors import DnasError

LOSS = re.compile(r"^(train|valid)[_-]loss$|^[a-z-]*test-loss$|^x-valid-loss$")
ACCURACY = re.compile(r"^(train|valid)_acc$|accuracy$")
GENOTYPE_OP = re.compile(r"\('(\w+)',\s*\d+\)")


def op_shares(arch: Any) -> dict[str, float]:
    """Share of the derived cell's edges per op: NB201 strings ``|op~0|+...`` and DARTS genotypes (both cells
    pooled); none for other encodings (the size space has no ops)."""
    text = str(arch or "")
    ops = [t.split("~")[0] for t in re.split(r"[|+]", text) if "~" in t] if text.startswith("|") \
        else GENOTYPE_OP.findall(text)
    counts = Counter(ops)
    return {op: n / len(ops) for op, n in sorted(counts.items())} if ops else {}


def scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of one epoch row of a run's metrics (finite numbers only)."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or key == "epoch":
            continue
        if "@" in key:
            out[f"lookup/{key}"] = float(value)
        elif LOSS.search(key):
            out[f"loss/{key}"] = float(value)
        elif ACCURACY.search(key):
            out[f"accuracy/{key}"] = float(value)
        elif key == "arch_entropy":
            out["arch/entropy"] = float(value)
        elif key == "lr":
            out["lr"] = float(value)
        elif key == "images_per_s":
            out["throughput/images_per_s"] = float(value)
        elif key == "tau":
            out["arch/tau"] = float(value)
    out.update({f"ops/{op}": share for op, share in op_shares(row.get("arch")).items()})
    return out


class EventStream:
    """The event stream of one run under ``log_dir/<run name>`` (one TensorBoard "run" per run directory)."""

    def __init__(self, log_dir: str | os.PathLike, run_name: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DnasError("--tensorboard needs the tensorboard package: pip install 'dnas-suite[tensorboard]'") \
                from None
        self.path = Path(log_dir).expanduser() / run_name
        self.writer = SummaryWriter(str(self.path))

    def epoch(self, row: Mapping[str, Any]) -> None:
        """Write one epoch row's scalars at step ``row['epoch']`` and flush (live curves)."""
        step = int(row["epoch"])
        for tag, value in scalars(row).items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_stream(log_dir: str | os.PathLike | None, run_dir: str | os.PathLike) -> EventStream | None:
    """The event stream of the run in ``run_dir`` when ``log_dir`` is given (None otherwise)."""
    return EventStream(log_dir, Path(run_dir).name) if log_dir else None


def export_run(run_dir: str | os.PathLike, log_dir: str | os.PathLike) -> Path:
    """Write a run store's epochs so far as its event stream (the scalars live streaming writes)."""
    from suite.runstore import open_run

    store = open_run(run_dir)
    for old in (Path(log_dir).expanduser() / store.path.name).glob("events.out.tfevents.*"):
        old.unlink()  # an earlier export of this run: replaced, not shown twice
    stream = EventStream(log_dir, store.path.name)
    try:
        for row in store.metrics.to_dict("records"):
            stream.epoch(row)
    finally:
        stream.close()
    return stream.path
