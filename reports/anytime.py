"""Search quality against search cost: each epoch's cumulative cost, and the time to reach a target
(COCO's runtime-to-target view: Hansen et al., "COCO: a platform for comparing continuous optimizers")."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

TARGETS = (0.5, 1.0, 2.0, 5.0)
"""Targets of the time-to-target summary: points (of a looked-up accuracy) below the benchmark optimum."""


def search_cost_axis(epochs: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each search epoch row's cumulative search cost and the axis's name: GPU-hours when every run ran on
    a GPU, else CPU-hours (wall time x the run's processes, from its recorded CPU-hours) when every run ran
    on CPUs, else (mixed devices or no wall time) epochs done."""
    wall = pd.to_numeric(epochs.get("wall_time_s"), errors="coerce") if "wall_time_s" in epochs else None
    device = epochs["device"].astype(str) if "device" in epochs else pd.Series("", index=epochs.index)
    if wall is not None and len(epochs) and wall.notna().all():
        if device.str.startswith("cuda").all():
            return wall / 3600, "search cost (GPU-hours)"
        if device.eq("cpu").all():
            r = runs.set_index("path")
            procs = (pd.to_numeric(r.get("search_cpu_hours"), errors="coerce") * 3600
                     / pd.to_numeric(r.get("search_wall_time_s"), errors="coerce"))
            factor = epochs["path"].map(procs.where(procs > 0)).fillna(1.0)
            return wall * factor / 3600, "search cost (CPU-hours, no GPU)"
    return epochs["epoch"].astype(float) + 1, "search cost (epochs)"


def time_to_target(epochs: pd.DataFrame, runs: pd.DataFrame, column: str, optimum: float,
                   targets: Sequence[float] = TARGETS, higher_is_better: bool = True) -> tuple[pd.DataFrame, str]:
    """For each search run (seed) and target t: the cumulative search cost at which the looked-up ``column``
    of the derived architecture first came within t points of ``optimum`` (NaN: never). Returns one row per
    (method, seed, target) and the cost axis's name (``search_cost_axis``)."""
    data = epochs[(epochs["kind"] == "search") & epochs[column].notna()].sort_values(["path", "epoch"]) \
        if column in epochs and len(epochs) else epochs.iloc[:0]
    rows = []
    if len(data):
        cost, unit = search_cost_axis(data, runs)
        data = data.assign(cost=cost.to_numpy())
        for path, g in data.groupby("path", sort=True):
            value = pd.to_numeric(g[column], errors="coerce").to_numpy()
            gap = (optimum - value) if higher_is_better else (value - optimum)
            for t in targets:
                hit = np.nonzero(gap <= t + 1e-9)[0]
                rows.append({"method": g["method"].iloc[0], "seed": g["seed"].iloc[0] if "seed" in g else None,
                             "path": path, "target": t, "cost": float(g["cost"].iloc[hit[0]]) if len(hit) else np.nan})
    else:
        unit = "search cost"
    return pd.DataFrame(rows, columns=["method", "seed", "path", "target", "cost"]), unit


def target_summary(reached: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Per method and target: the share of seeds that came within the target, and the median cost at which
    they did (over those seeds)."""
    rows = []
    for (method, t), g in reached.groupby(["method", "target"], sort=True):
        hit = g["cost"].dropna()
        rows.append({"method": method, "target (points below optimum)": t,
                     "seeds within target": f"{len(hit)}/{len(g)}",
                     f"median {unit} to reach": float(hit.median()) if len(hit) else np.nan})
    return pd.DataFrame(rows)
