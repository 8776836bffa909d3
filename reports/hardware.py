"""Hardware cost of what a search found: an HW-NAS-Bench-style table (NB201 index -> latency and energy
per device, runtime and task), read from the user's copy, joined to the runs by the found cell's index.

The layout is HW-NAS-Bench-360's ``results/dataset.parquet`` (columns ``arch_idx``, ``device``,
``framework``, ``task``, ``lat_ms_median``, ``energy_mj``; one row per cell and target); CSV with the
same columns reads too. A file holding several targets needs one named (``device/framework/task``):
latencies of two runtimes are never mixed, and none is picked silently.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from suite.errors import DnasError

TARGET = ("device", "framework", "task")
"""The columns that name one measurement target."""
REQUIRED = ("arch_idx", "lat_ms_median")
COLUMNS = {"latency_ms": "lat_ms_median", "energy_mj": "energy_mj"}
"""The runs frame's hardware columns and the table's columns they read."""
N_CELLS = 15_625


@dataclasses.dataclass(frozen=True)
class HardwareTable:
    """Latency (ms) and energy (mJ, NaN where not measured) of every NB201 cell on one target."""

    path: str
    target: str
    latency_ms: np.ndarray
    energy_mj: np.ndarray

    def of(self, index: int) -> dict[str, float]:
        return {"latency_ms": float(self.latency_ms[index]), "energy_mj": float(self.energy_mj[index])}


def _read(path: Path) -> pd.DataFrame:
    """The table, through the importer's reader (CSV, parquet or JSON), its errors said as --hardware's."""
    from benchmarks.importer import read_table
    from suite.errors import FormatError, MissingFileError

    try:
        return read_table(path)
    except MissingFileError:
        raise DnasError(f"--hardware {path}: no such file; give an HW-NAS-Bench-style table (parquet or CSV)") from None
    except FormatError as exc:
        kind = "CSV" if path.suffix.lower() == ".csv" else "parquet"
        raise DnasError(f"--hardware {path}: cannot be read as {kind} ({exc}); give an HW-NAS-Bench-style table") \
            from None


def read_hardware(path: str | os.PathLike, target: str | None = None) -> HardwareTable:
    """One target's latency and energy per NB201 cell from ``path``; ``target`` (``device/framework/task``,
    or fewer parts when they already decide it) is needed when the file holds several."""
    path = Path(path)
    frame = _read(path)
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise DnasError(f"--hardware {path}: no column {missing[0]!r}; an HW-NAS-Bench-style table has "
                        f"{', '.join(REQUIRED)} (and {', '.join(TARGET)}, energy_mj)")
    keys = [c for c in TARGET if c in frame]
    targets = sorted({"/".join(map(str, t)) for t in frame[keys].drop_duplicates().itertuples(index=False)}) \
        if keys else [""]
    if target:
        want = target.split("/")
        chosen = [t for t in targets if t.split("/")[:len(want)] == want]
        if len(chosen) != 1:
            raise DnasError(f"--hardware-target {target} {'matches no' if not chosen else 'matches several'} target(s) "
                            f"of {path}; choose one of: {', '.join(targets)}")
    elif len(targets) > 1:
        raise DnasError(f"{path} holds {len(targets)} hardware targets; choose one with --hardware-target "
                        f"(device/framework/task): {', '.join(targets)}")
    else:
        chosen = targets
    if keys:
        name = frame[keys[0]].astype(str)
        for k in keys[1:]:  # column-wise: a row-wise join takes seconds on 187,500 rows
            name = name + "/" + frame[k].astype(str)
        rows = frame[name == chosen[0]]
    else:
        rows = frame
    index = pd.to_numeric(rows["arch_idx"], errors="coerce")
    bad = rows[index.isna() | (index < 0) | (index >= N_CELLS) | (index != index.round())]
    if len(bad):
        raise DnasError(f"--hardware {path}: arch_idx {bad['arch_idx'].iloc[0]!r} is not an NB201 index (0-{N_CELLS - 1})")
    if index.duplicated().any():
        raise DnasError(f"--hardware {path}: cell {int(index[index.duplicated()].iloc[0])} appears twice for target "
                        f"{chosen[0]}; one row per cell and target")
    out = {}
    for name, col in COLUMNS.items():
        values = np.full(N_CELLS, np.nan)
        if col in rows:
            values[index.astype(int).to_numpy()] = pd.to_numeric(rows[col], errors="coerce").to_numpy(float)
        out[name] = values
    return HardwareTable(str(path), chosen[0] or path.name, out["latency_ms"], out["energy_mj"])


def add_hardware(runs: pd.DataFrame, table: HardwareTable) -> pd.DataFrame:
    """``runs`` with ``latency_ms`` and ``energy_mj`` of each NB201 search run's final cell (NaN for other
    spaces and runs without a final cell), and ``hardware_target``."""
    import benchmarks

    nb201 = benchmarks.open("nb201")
    values: dict[str, list[float]] = {c: [] for c in COLUMNS}
    for _, r in runs.iterrows():
        found: dict[str, Any] = {}
        arch = r.get("arch")
        if r.get("kind") == "search" and r.get("space") == "nb201" and isinstance(arch, str) and arch:
            try:
                found = table.of(int(nb201.index(arch)))
            except (KeyError, ValueError):
                found = {}
        for c in COLUMNS:
            values[c].append(found.get(c, np.nan))
    return runs.assign(**values, hardware_target=table.target)


def pareto_front(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Indices of the cells no other cell beats on both (higher accuracy, lower latency), by latency."""
    ok = np.nonzero(np.isfinite(accuracy) & np.isfinite(latency))[0]
    order = ok[np.lexsort((-accuracy[ok], latency[ok]))]  # latency up, accuracy down among equal latencies
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.array(front, dtype=int)
