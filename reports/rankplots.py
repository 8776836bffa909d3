"""Plots of rank-correlation studies: a scatter per pair (hexbin when large) and a Kendall-tau heatmap.

Matplotlib with the Agg backend: files only, no display needed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .ranks import RankCorr

HEXBIN_ABOVE = 2000
"""Above this many points a scatter becomes a hexbin (density reads better than overplotting)."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", text).strip("_")[:80] or "series"


def _fmt(result: RankCorr) -> str:
    lines = [f"n = {result.n}" + (f" (dropped {result.n_dropped})" if result.n_dropped else "")]
    for s in result.stats.values():
        ci = f" [{s.ci_low:.3f}, {s.ci_high:.3f}]" if np.isfinite(s.ci_low) else ""
        lines.append(f"{s.name}: {s.value:.3f}{ci}")
    return "\n".join(lines)


def _save(plt, fig, path: str | Path) -> Path:
    """Write the figure atomically (readers never see half a PNG) and close it."""
    from suite.io import atomic_path

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def scatter(result: RankCorr, x: np.ndarray, y: np.ndarray, path: str | Path) -> Path:
    """x against y with the statistics written on the plot; a hexbin when there are many points."""
    plt = _plt()
    ok = np.isfinite(x) & np.isfinite(y)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    if ok.sum() > HEXBIN_ABOVE:
        hb = ax.hexbin(x[ok], y[ok], gridsize=60, bins="log", mincnt=1, cmap="viridis")
        fig.colorbar(hb, ax=ax, label="architectures (log)")
    else:
        ax.scatter(x[ok], y[ok], s=8, alpha=0.6, linewidths=0)
    ax.set_xlabel(result.x)
    ax.set_ylabel(result.y)
    ax.text(0.02, 0.98, _fmt(result), transform=ax.transAxes, va="top", ha="left", fontsize=7,
            family="monospace", bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.set_title(f"{result.level:.0%} bootstrap intervals, {result.bootstrap} resamples", fontsize=8)
    return _save(plt, fig, path)


def tau_heatmap(labels: Sequence[str], matrix: np.ndarray, path: str | Path) -> Path:
    """Pairwise Kendall tau-b of every score column."""
    plt = _plt()
    k = len(labels)
    room = 0.065 * max(len(lab) for lab in labels)  # inches for the longest tick label
    fig, ax = plt.subplots(figsize=(2.2 + 0.9 * k + room, 1.6 + 0.8 * k + room))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    for i in range(k):
        for j in range(k):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(matrix[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Kendall tau-b")
    return _save(plt, fig, path)


__all__ = ["HEXBIN_ABOVE", "scatter", "slug", "tau_heatmap"]
