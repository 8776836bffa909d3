"""Time to target (COCO's runtime view): the first search cost at which each seed came within t points of
the optimum, computed on trajectories built to hit (and miss) known targets."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports import plots
from reports.anytime import target_summary, time_to_target

COL = "cifar10@200/test-accuracy"


def _frames(device: str = "cpu"):
    traj = {"a0": [80.0, 92.0, 93.5, 94.0], "a1": [90.0, 90.0, 91.0, 91.0], "b0": [94.37, 94.37, 94.37, 94.37]}
    rows = [{"kind": "search", "path": p, "run": p, "method": p[0], "seed": int(p[1]), "epoch": e, COL: v,
             "wall_time_s": 3600.0 * (e + 1), "device": device, "arch": f"x{e}"}
            for p, vs in traj.items() for e, v in enumerate(vs)]
    runs = pd.DataFrame({"path": list(traj), "search_wall_time_s": 4 * 3600.0, "search_cpu_hours": 4.0})
    return pd.DataFrame(rows), runs


def test_first_cost_within_each_target():
    epochs, runs = _frames()
    reached, unit = time_to_target(epochs, runs, COL, 94.37, targets=(0.5, 1.0, 5.0))
    assert unit == "search cost (CPU-hours, no GPU)"
    got = {(r.path, r.target): r.cost for r in reached.itertuples()}
    assert got[("a0", 0.5)] == 4.0 and got[("a0", 1.0)] == 3.0 and got[("a0", 5.0)] == 2.0
    assert math.isnan(got[("a1", 0.5)]) and math.isnan(got[("a1", 1.0)]) and got[("a1", 5.0)] == 1.0
    assert {got[("b0", t)] for t in (0.5, 1.0, 5.0)} == {1.0}
    summary = target_summary(reached, unit).set_index(["method", "target (points below optimum)"])
    assert summary.loc[("a", 1.0), "seeds within target"] == "1/2"
    assert summary.loc[("a", 1.0), f"median {unit} to reach"] == 3.0
    assert summary.loc[("a", 5.0), f"median {unit} to reach"] == 1.5


def test_gpu_runs_count_gpu_hours_and_lower_is_better_mirrors():
    epochs, runs = _frames("cuda:0")
    reached, unit = time_to_target(epochs, runs, COL, 94.37, targets=(1.0,))
    assert unit == "search cost (GPU-hours)" and reached.set_index("path").loc["a0", "cost"] == 3.0
    flipped = epochs.assign(**{COL: -epochs[COL]})
    mirrored, _ = time_to_target(flipped, runs, COL, -94.37, targets=(1.0,), higher_is_better=False)
    pd.testing.assert_frame_equal(mirrored, reached)


def test_ecdf_figure_steps_to_the_share_reached():
    epochs, runs = _frames()
    fig = plots.time_to_target_ecdf(epochs, runs, COL, 94.37)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    b = np.asarray(lines["b (1 seeds)"].get_ydata())
    a = np.asarray(lines["a (2 seeds)"].get_ydata())
    assert b.max() == 1.0 and a.max() == 5 / 8  # a: 5 of its 8 (seed, target) pairs are reached
