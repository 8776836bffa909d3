"""Write a tabular store: into a temporary sibling directory, moved into place whole at the end.

``StoreBuilder`` is the one writer (``dnas bench convert``, ``dnas bench import``, the built-in
table); ``store_target`` says whether an ``--out`` may be written, and never lets a write replace
something the suite did not make.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from suite.checks import writable_dir
from suite.errors import DnasError
from suite.io import replace_dir, work_sibling, write_json
from suite.spaces import TabularSpace

from .layout import ARCHS, FORMAT, FORMAT_VERSION, GROUP_DIR, METADATA, SLOTS, STORE_FILES, Source, group_dir


def _foreign_entry(path: Path) -> str | None:
    """Why ``path`` is not a store of ours (what it holds that a store does not), or None."""
    meta = path / METADATA
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return "no readable metadata.json"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "its metadata.json is not a dnas-suite store's"
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        ok = (p.is_file() and not p.is_symlink() and len(rel.parts) == 1 and rel.name in STORE_FILES) or \
            (GROUP_DIR.fullmatch(rel.parts[0]) is not None and not p.is_symlink()
             and (p.is_dir() or (len(rel.parts) > 1 and p.suffix == ".npy")))
        if not ok:
            return f"it holds {rel}"
    return None


def store_target(out: str | os.PathLike, flag: str = "--out") -> bool:
    """Whether ``out`` holds a store of ours (True) or is free to create (False: missing or empty).

    Anything else (a file, a link, a directory with other content) is refused with one line: a
    store write never replaces what the suite did not make."""
    out = Path(out).expanduser()
    if out.is_symlink():
        raise DnasError(f"{flag} {out} is a symbolic link: give the directory it points to")
    if out.exists() and not out.is_dir():
        raise DnasError(f"{flag} {out} is a file, not a store: only a dnas-suite store is ever replaced; "
                        f"choose another {flag}")
    if not out.exists() or not any(out.iterdir()):
        writable_dir(out, flag)
        return False
    why = _foreign_entry(out)
    if why is not None:
        raise DnasError(f"{flag} {out} is not a dnas-suite store ({why}): only a store is ever replaced; "
                        f"choose another {flag}")
    writable_dir(out.parent, flag)
    return True


class StoreBuilder:
    """Writes a store into a temporary sibling directory and moves it into place at ``finish``."""

    def __init__(self, out: str | os.PathLike, space: TabularSpace, benchmark_version: str, archs: Sequence[str],
                 slot_indices: np.ndarray, source: dict[str, Any]) -> None:
        self.out = Path(out)
        self.tmp = work_sibling(self.out, "tmp")  # .NAME.tmp-PID@HOST: a killed writer's is cleaned next time
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.space, self.version, self.source = space, benchmark_version, source
        self.archs = list(archs)
        self.slot_indices = np.asarray(slot_indices, dtype=np.int64)
        slots = np.full(len(self.archs), -1, dtype=np.int32)
        slots[self.slot_indices] = np.arange(len(self.slot_indices), dtype=np.int32)
        np.save(self.tmp / SLOTS, slots)
        (self.tmp / ARCHS).write_text("\n".join(self.archs))
        self.groups: list[dict[str, Any]] = []

    @property
    def n_slots(self) -> int:
        return len(self.slot_indices)

    def array(self, rel: str, shape: tuple[int, ...], dtype: Any = np.float64, fill: Any = np.nan) -> np.ndarray:
        """A writable memory-mapped array at ``rel`` inside the store being built."""
        file = self.tmp / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        arr = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)
        arr[...] = fill
        return arr

    def add_group(self, epochs: int, dataset: str, n_epochs: int, seeds: list[int | None],
                  metrics: dict[str, Source], costs: dict[str, str], time_sets: list[str],
                  config: dict[str, Any] | None = None) -> None:
        self.groups.append({"epochs": int(epochs), "dataset": dataset, "n_epochs": int(n_epochs), "seeds": seeds,
                            "metrics": {k: {"file": v.file, "kind": v.kind} for k, v in metrics.items()},
                            "costs": costs, "time_sets": time_sets, "config": config or {}})

    def keep_group(self, store: str | os.PathLike, group: dict[str, Any]) -> None:
        """Carry one group of an existing store (its arrays and its metadata entry) into this one unchanged."""
        rel = group_dir(group["epochs"], group["dataset"])
        shutil.copytree(Path(store) / rel, self.tmp / rel)
        self.groups.append(group)

    def finish(self) -> Path:
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "space": self.space.name,
                "benchmark_version": self.version, "n_archs": len(self.archs), "groups": self.groups,
                "source": self.source}
        write_json(self.tmp / METADATA, meta)
        replace_dir(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def building(out: str | os.PathLike, space: TabularSpace, benchmark_version: str, archs: Sequence[str],
             slot_indices: np.ndarray, source: dict[str, Any]) -> Iterator[StoreBuilder]:
    """A ``StoreBuilder`` whose store is moved into place when the body ends, and removed when it raises
    (an interrupt included): the one finish-or-abort of every writer."""
    builder = StoreBuilder(out, space, benchmark_version, archs, slot_indices, source)
    try:
        yield builder
        builder.finish()
    except BaseException:  # the body or the move into place failed: nothing of this build is left
        builder.abort()
        raise
