"""Figures from the results frames, one style for all, written as PNG and SVG.

Every function takes the frames ``reports.load`` returns and gives back a matplotlib
``Figure`` built without pyplot (no global state, no display needed); ``save`` writes it.
Methods keep one colour across figures; unfinished runs are drawn, marked as such.
"""
from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from .anytime import TARGETS, search_cost_axis, time_to_target
from .load import is_lookup
from .tables import label

STYLE: dict[str, Any] = {
    "figure.dpi": 100, "savefig.dpi": 110, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "legend.fontsize": 7.5, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
    "axes.spines.right": False, "lines.linewidth": 1.6, "svg.fonttype": "none", "svg.hashsalt": "dnas-suite",
    "font.family": "DejaVu Sans",
}
PALETTE = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB", "#000000",
           "#EE7733", "#009988", "#CC3311", "#33BBEE"]
"""Paul Tol's colour-blind-safe colours, then more; methods take them in sorted order."""
OP_COLORS = {"none": "#BBBBBB", "skip_connect": "#EE6677", "nor_conv_1x1": "#66CCEE", "nor_conv_3x3": "#4477AA",
             "avg_pool_3x3": "#CCBB44", "max_pool_3x3": "#AA3377", "sep_conv_3x3": "#228833",
             "sep_conv_5x5": "#117733", "dil_conv_3x3": "#EE7733", "dil_conv_5x5": "#CC3311"}
_NB201_OP = re.compile(r"\|([a-z0-9_]+)~\d+")
_DARTS_OP = re.compile(r"'([a-z0-9_]+)', \d+")


@contextmanager
def style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def _figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _epoch_axis(ax: Any, name: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def method_colors(methods: Sequence[Any]) -> dict[str, str]:
    names = sorted({str(m) for m in methods if isinstance(m, str)})
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(names)}


def arch_ops(arch: Any) -> list[str]:
    """The op on every edge of an NB201 arch string or DARTS genotype string ([] for widths)."""
    if not isinstance(arch, str):
        return []
    return _NB201_OP.findall(arch) if arch.startswith("|") else _DARTS_OP.findall(arch)


def save(fig: Any, out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    """Write ``name.png`` and ``name.svg`` atomically; returns their paths."""
    from suite.io import atomic_path

    paths = {}
    with style():
        for ext in ("png", "svg"):
            path = Path(out_dir) / f"{name}.{ext}"
            try:
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=ext, metadata={"Date": None} if ext == "svg" else None)
            except OSError as exc:  # a full disk names no file (or a temp one): name the file being written
                raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
            paths[ext] = path
    return paths


def _searches(epochs: pd.DataFrame) -> pd.DataFrame:
    return epochs[epochs["kind"] == "search"] if len(epochs) else epochs


def _band(ax: Any, frame: pd.DataFrame, column: str, colors: dict[str, str], x: str = "epoch") -> None:
    """Per method: the mean over seeds and a min-max band, with n seeds in the legend."""
    for method, g in frame.groupby("method", sort=True):
        values = pd.to_numeric(g[column], errors="coerce")
        stats = values.groupby(g[x]).agg(["mean", "min", "max", "count"]).dropna(subset=["mean"])
        if not len(stats):
            continue
        seeds = g["run"].nunique()
        c = colors.get(method, "#777777")
        ax.plot(stats.index, stats["mean"], color=c, label=f"{method} (n={seeds})", marker="o", markersize=2.5)
        if (stats["count"] > 1).any():
            ax.fill_between(stats.index, stats["min"], stats["max"], color=c, alpha=0.15, linewidth=0)


def accuracy_vs_epoch(epochs: pd.DataFrame, column: str, optimum: float | None = None) -> Any:
    """Looked-up accuracy of each epoch's derived architecture: mean and min-max band over seeds."""
    with style():
        fig, ax = _figure(width=6.8, height=3.8)
        ax = ax[0, 0]
        data = _searches(epochs)
        data = data[data[column].notna()] if column in data else data.iloc[:0]
        _band(ax, data, column, method_colors(data["method"]) if len(data) else {})
        if optimum is not None and math.isfinite(optimum):
            ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"benchmark optimum {optimum:.2f}")
        _epoch_axis(ax, "search epoch")
        ax.set_ylabel(label(column))
        ax.set_title(f"Derived architecture, looked up: {column}")
        ax.legend(loc="best", ncols=2)
    return fig


def op_share_vs_epoch(epochs: pd.DataFrame) -> Any:
    """Share of each op among the derived cells' edges per epoch, one panel per method (mean over seeds)."""
    data = _searches(epochs)
    data = data.assign(ops=data["arch"].map(arch_ops)) if len(data) else data.assign(ops=[])
    data = data[data["ops"].map(len) > 0]
    methods = sorted(data["method"].dropna().unique())
    ops = sorted({o for lst in data["ops"] for o in lst}, key=lambda o: list(OP_COLORS).index(o)
                 if o in OP_COLORS else len(OP_COLORS))
    ncols = min(4, max(1, len(methods)))
    nrows = max(1, math.ceil(len(methods) / ncols))
    with style():
        fig, axes = _figure(ncols, nrows, width=2.6 * ncols + 0.8, height=2.1 * nrows + 0.5)
        for k, ax in enumerate(axes.flat):
            if k >= len(methods):
                ax.set_visible(False)
                continue
            g = data[data["method"] == methods[k]]
            share = pd.DataFrame([{o: lst.count(o) / len(lst) for o in ops} for lst in g["ops"]], index=g.index)
            mean = share.groupby(g["epoch"]).mean()
            colors = [OP_COLORS.get(o, "#777777") for o in ops]
            if len(mean) > 1:
                ax.stackplot(mean.index, mean.T.values, colors=colors, labels=ops, alpha=0.9)
            else:  # one epoch so far: a stacked bar, since an area needs two points
                bottom = 0.0
                for o, c in zip(ops, colors):
                    ax.bar(mean.index, mean[o], bottom=bottom, color=c, label=o, width=0.6, alpha=0.9)
                    bottom += float(mean[o].iloc[0])
            ax.set_ylim(0, 1)
            ax.set_title(f"{methods[k]} (n={g['run'].nunique()})")
            _epoch_axis(ax, "search epoch")
            ax.set_ylabel("share of edges")
        if methods:
            fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(5, len(ops)))
        fig.suptitle("Ops in the derived cells (a rising skip_connect share is the DARTS collapse)")
    return fig


def entropy_and_losses(epochs: pd.DataFrame) -> Any:
    """Mean α entropy and the supernet's train and valid loss per epoch, per method."""
    data = _searches(epochs)
    colors = method_colors(data["method"]) if len(data) else {}
    panels = [("arch_entropy", "mean α entropy per edge (nats)"), ("train_loss", "supernet train loss"),
              ("valid_loss", "supernet valid loss (α step)")]
    with style():
        fig, axes = _figure(3, 1, width=11, height=3.4)
        for ax, (col, name) in zip(axes.flat, panels):
            if col in data:
                _band(ax, data[data[col].notna()], col, colors)
            _epoch_axis(ax, "search epoch")
            ax.set_ylabel(name)
            ax.set_title(name)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right center")
    return fig


def accuracy_vs_cost(runs: pd.DataFrame, column: str) -> Any:
    """Final looked-up accuracy against search cost, one point per run.

    GPU runs are placed by GPU-days; CPU runs have none, so they get their own panel in
    CPU-hours (wall time x processes) rather than a made-up GPU figure. Hollow points are runs
    that are not complete (cost so far)."""
    searches = runs[(runs["kind"] == "search")]
    searches = searches[pd.to_numeric(searches.get(column), errors="coerce").notna()] if column in searches \
        else searches.iloc[:0]
    gpu = searches[pd.to_numeric(searches["search_gpu_days"], errors="coerce").notna()]
    cpu = searches[searches["search_gpu_days"].isna() & pd.to_numeric(searches["search_cpu_hours"],
                                                                        errors="coerce").notna()]
    panels = [(gpu, "search_gpu_days", "search cost (GPU-days)")] if len(gpu) else []
    if len(cpu) or not panels:
        panels.append((cpu, "search_cpu_hours", "search cost (CPU-hours, CPU only: no GPU-days)"))
    colors = method_colors(searches["method"])
    with style():
        fig, axes = _figure(len(panels), 1, width=5.2 * len(panels) + 1.2, height=3.8)
        for ax, (frame, xcol, xlabel) in zip(axes.flat, panels):
            for method, g in frame.groupby("method", sort=True):
                c = colors.get(method, "#777777")
                done = g[g["complete"]]
                ax.scatter(done[xcol].astype(float), done[column].astype(float), color=c, s=28,
                           label=f"{method} (n={len(done)})")
                todo = g[~g["complete"]]
                if len(todo):
                    ax.scatter(todo[xcol].astype(float), todo[column].astype(float), facecolors="none",
                               edgecolors=c, s=28, label=f"{method}, not complete ({len(todo)})")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(label(column))
            ax.set_title("Accuracy vs search cost (one point per run)")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right center")
    return fig


def anytime(epochs: pd.DataFrame, runs: pd.DataFrame, column: str, baselines: Any = None) -> Any:
    """Looked-up value of each epoch's derived architecture against cumulative search cost, per method
    (mean over seeds at each epoch), and, dashed in the method's colour, random search's expected best with
    as many lookups (the distinct architectures the search had looked up by then; ``baselines``: the
    metric's ``RandomArchitecture``, without which that line, the optimum and the random mean are left out)."""
    from .baselines import random_search_best

    data = _searches(epochs)
    data = data[data[column].notna()].sort_values(["path", "epoch"]) if column in data else data.iloc[:0]
    colors = method_colors(data["method"]) if len(data) else {}
    with style():
        fig, ax = _figure(width=7.2, height=4.0)
        ax = ax[0, 0]
        xlabel = "search cost"
        if len(data):
            x, xlabel = search_cost_axis(data, runs)
            seen = data.groupby("path")["arch"].transform(
                lambda a: pd.Series([len(set(a.iloc[:i + 1].dropna())) for i in range(len(a))], index=a.index))
            if "candidates" in data:  # random search looks up every candidate, not only its incumbents
                seen = pd.to_numeric(data["candidates"], errors="coerce").fillna(seen)
            data = data.assign(cost=x, lookups=seen.clip(lower=1))
            for method, g in data.groupby("method", sort=True):
                c = colors.get(method, "#777777")
                mean = g.groupby("epoch")[["cost", column]].mean()
                ax.plot(mean["cost"], mean[column], color=c, marker="o", markersize=2.5,
                        label=f"{method} (n={g['path'].nunique()})")
                if baselines is not None:
                    best = {k: random_search_best(baselines.values, k, higher_is_better=baselines.higher_is_better)
                            for k in g["lookups"].astype(int).unique()}  # one sort of the table per k, not per row
                    g = g.assign(rs=g["lookups"].astype(int).map(best))
                    rs = g.groupby("epoch")[["cost", "rs"]].mean()
                    ax.plot(rs["cost"], rs["rs"], color=c, linestyle="--", linewidth=1,
                            label=f"random search, as many lookups as {method}")
        if baselines is not None:
            ax.axhline(baselines.optimum, color="black", linestyle="--", linewidth=1,
                       label=f"benchmark optimum {baselines.optimum:.2f}")
            mean = baselines.summary("cells")["mean"]
            ax.axhline(mean, color="#777777", linestyle=":", linewidth=1, label=f"random architecture {mean:.2f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label(column))
        ax.set_title("Anytime: derived architecture vs search cost")
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right center")
    return fig


def time_to_target_ecdf(epochs: pd.DataFrame, runs: pd.DataFrame, column: str, optimum: float) -> Any:
    """COCO's runtime view: per method, the share of (seed, target) pairs whose derived architecture has come
    within the target (``anytime.TARGETS`` points below the optimum) by each search cost; a step up per hit."""
    reached, unit = time_to_target(epochs, runs, column, optimum)
    colors = method_colors(reached["method"]) if len(reached) else {}
    with style():
        fig, ax = _figure(width=7.2, height=3.6)
        ax = ax[0, 0]
        for method, g in reached.groupby("method", sort=True):
            cost = np.sort(g["cost"].dropna().to_numpy())
            share = np.arange(1, len(cost) + 1) / len(g)
            end = float(reached["cost"].max()) if reached["cost"].notna().any() else 1.0
            ax.step(np.r_[0.0, cost, end], np.r_[0.0, share, share[-1] if len(share) else 0.0], where="post",
                    color=colors.get(method, "#777777"), label=f"{method} ({g['path'].nunique()} seeds)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(unit)
        ax.set_ylabel("share of (seed, target) pairs reached")
        ax.set_title(f"Time to target: within {', '.join(f'{t:g}' for t in TARGETS)} points of the optimum "
                     f"{optimum:.2f}")
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right center")
    return fig


def accuracy_vs_latency(runs: pd.DataFrame, hardware: Any, accuracy: Any, column: str) -> Any:
    """Every benchmark cell's ``column`` against its latency on the hardware target (grey), the benchmark's
    Pareto front (line), and each search run's found cell (its method's colour; ``runs`` from
    ``hardware.add_hardware``)."""
    from .hardware import pareto_front

    acc = np.asarray(accuracy, dtype=float)
    lat = hardware.latency_ms[:len(acc)]
    front = pareto_front(acc, lat)
    found = runs[(runs["kind"] == "search") & runs.get("latency_ms", pd.Series(dtype=float)).notna()] \
        if "latency_ms" in runs else runs.iloc[:0]
    colors = method_colors(found["method"]) if len(found) else {}
    with style():
        fig, ax = _figure(width=7.2, height=4.2)
        ax = ax[0, 0]
        ax.scatter(lat, acc, s=2, color="#CCCCCC", alpha=0.5, linewidths=0, label=f"every cell ({np.isfinite(lat).sum():,})",
                   rasterized=True)
        ax.plot(lat[front], acc[front], color="black", linewidth=1.2, drawstyle="steps-post",
                label=f"Pareto front ({len(front)} cells)")
        for method, g in found.groupby("method", sort=True):
            ax.scatter(g["latency_ms"].astype(float), pd.to_numeric(g[column], errors="coerce"), s=36,
                       color=colors.get(method, "#777777"), edgecolors="black", linewidths=0.5, zorder=3,
                       label=f"{method} ({len(g)} runs)")
        ax.set_xscale("log")
        ax.set_xlabel(f"latency on {hardware.target} (ms, log scale)")
        ax.set_ylabel(label(column))
        ax.set_title("Accuracy vs latency: the found cells against the benchmark's Pareto front")
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center")
    return fig


def _eval_accuracy_column(frame: pd.DataFrame) -> str | None:
    for c in ("ori-test-accuracy", "x-test-accuracy", "val-accuracy", "x-valid-accuracy"):
        if c in frame and frame[c].notna().any():
            return c
    return None


def training_curves(epochs: pd.DataFrame) -> Any:
    """Evaluation runs: training loss and held-out accuracy per epoch, one line per run."""
    data = epochs[epochs["kind"] == "evaluation"] if len(epochs) else epochs
    acc = _eval_accuracy_column(data) if len(data) else None
    colors = method_colors(data["method"]) if len(data) else {}
    with style():
        fig, axes = _figure(2, 1, width=10, height=3.5)
        for run, g in data.groupby("run", sort=True):
            m = g["method"].iloc[0]
            seed = g["source_seed"].iloc[0]
            name = f"{m if isinstance(m, str) else 'arch'}" + ("" if pd.isna(seed) else f" s{int(seed)}")
            c = colors.get(m, "#777777")
            axes[0, 0].plot(g["epoch"], g["train-loss"], color=c, label=name, marker="o", markersize=2.5)
            if acc:
                ok = g[acc].notna()
                axes[0, 1].plot(g["epoch"][ok], g[acc][ok], color=c, label=name, marker="o", markersize=2.5)
        _epoch_axis(axes[0, 0], "training epoch")
        axes[0, 0].set_ylabel("training loss")
        axes[0, 0].set_title("Training from scratch: loss")
        _epoch_axis(axes[0, 1], "training epoch")
        axes[0, 1].set_ylabel(f"{acc or 'test-accuracy'} (%)")
        axes[0, 1].set_title("Training from scratch: held-out accuracy")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right center", ncols=1 if len(handles) <= 16 else 2)
    return fig


def figures(runs: pd.DataFrame, epochs: pd.DataFrame, optimum: pd.DataFrame | None = None,
            columns: Sequence[str] | None = None, baselines: Any = None) -> dict[str, Any]:
    """Every figure the data supports, by file name (``accuracy-<column>``, ``ops``, ``anytime-<column>``...);
    ``baselines`` (``tables.random_baselines``) adds random search and the random architecture to the
    anytime figure."""
    out: dict[str, Any] = {}
    searches = _searches(epochs)
    lookups = [c for c in (columns or [c for c in epochs.columns if is_lookup(c)]) if c in searches
               and searches[c].notna().any()]
    for col in lookups:
        out[f"accuracy-{_slug(col)}"] = accuracy_vs_epoch(epochs, col, _optimum(optimum, col))
    if len(searches) and searches["arch"].map(arch_ops).map(len).gt(0).any():
        out["ops"] = op_share_vs_epoch(epochs)
    if len(searches):
        out["entropy-losses"] = entropy_and_losses(epochs)
    if lookups:
        primary = next((c for c in lookups if c.startswith("cifar10@") and c.endswith("test-accuracy")), lookups[0])
        out[f"cost-{_slug(primary)}"] = accuracy_vs_cost(runs, primary)
        dist = None
        if baselines:
            versions = searches.loc[searches[primary].notna(), "bench_version"].dropna().unique()
            dist = baselines.get((versions[0], primary)) if len(versions) == 1 else None
        out[f"anytime-{_slug(primary)}"] = anytime(epochs, runs, primary, dist)
        target = dist.optimum if dist is not None else _optimum(optimum, primary)
        if target is not None:
            out[f"targets-{_slug(primary)}"] = time_to_target_ecdf(epochs, runs, primary, target)
    if len(epochs) and (epochs["kind"] == "evaluation").any():
        out["training"] = training_curves(epochs)
    return out


def _optimum(optimum: pd.DataFrame | None, column: str) -> float | None:
    """The benchmark's best value of ``column`` when the optimum frame holds exactly one."""
    if optimum is None or not len(optimum):
        return None
    hit = optimum[optimum["metric"] == column]["value"]
    return float(hit.iloc[0]) if len(hit) == 1 else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
