"""Run stores into tidy frames: one row per run, and one row per run and epoch.

``load("runs/*")`` reads search and evaluation run directories (or folders holding them, at any
depth) as they are on disk, finished or not: failed, interrupted and still-running runs are
kept and flagged (``complete`` False, ``flag`` says why), never dropped. An evaluation run made
with ``dnas evaluate --from-run`` adds its trained accuracy and cost to its search run's row.
The benchmark version each run was looked up in is a column, so nothing downstream averages
runs from different benchmark versions together.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from suite.errors import DnasError
from suite.runstore import RunStore

LOOKUP_SEP = "@"
"""Lookup columns read ``{dataset}@{epochs}/{metric}``, as the search runner writes them."""

_VOLATILE_CONFIG = ("seed", "name", "out", "data_dir", "splits_dir", "protocol_dir", "bench", "device", "from_run")
"""Config keys that do not change what a run computes (``config_hash`` leaves them out)."""


@dataclass(frozen=True)
class Results:
    """``runs``: one row per run; ``epochs``: one row per run and finished epoch. Unpacks as a pair."""

    runs: pd.DataFrame
    epochs: pd.DataFrame

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.runs
        yield self.epochs


def is_lookup(column: str) -> bool:
    """True for a per-epoch benchmark lookup column such as ``cifar10@200/test-accuracy``."""
    head, sep, metric = column.partition("/")
    return bool(sep) and LOOKUP_SEP in head and bool(metric)


def find_runs(*paths: str | os.PathLike) -> list[Path]:
    """Run directories named by ``paths``: run directories, folders holding runs (any depth), globs."""
    found: dict[Path, None] = {}
    for raw in paths:
        text = os.path.expanduser(str(raw))
        matches = sorted(glob.glob(text, recursive=True)) if glob.has_magic(text) else [text]
        if not matches:
            raise DnasError(f"no run directories match {text!r}")
        for m in matches:
            p = Path(m)
            if (p / "config.yaml").is_file():
                found[p.resolve()] = None
            elif p.is_dir():
                inner = sorted(c.parent for c in p.rglob("config.yaml") if "checkpoints" not in c.parts)
                if not inner and not glob.has_magic(text):
                    raise DnasError(f"{p} holds no run directories (no config.yaml below it)")
                found.update((c.resolve(), None) for c in inner)
            elif not glob.has_magic(text):
                raise DnasError(f"{p} does not exist: name run directories or folders that hold them")
    return list(found)


def config_hash(config: dict[str, Any]) -> str:
    """12 hex digits identifying a run's settings apart from its seed, name and paths."""
    kept = {k: v for k, v in config.items() if k not in _VOLATILE_CONFIG}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _bench_version(config: dict[str, Any], env: dict[str, Any]) -> str | None:
    """The benchmark version recorded with the run, else that of the store it names (if it opens)."""
    recorded = (env.get("benchmark") or {}).get("version")
    if recorded or not config.get("bench"):
        return recorded
    try:
        import benchmarks

        return benchmarks.open(config["bench"]).version
    except Exception:  # the store moved or is gone: say so rather than guess
        return f"unknown ({config['bench']})"


def _flag(status: dict[str, Any], done: int, planned: int | None, complete: bool) -> str:
    """Why a run is not a complete result ('' when it is)."""
    if complete:
        return ""
    s = status.get("status", "unknown")
    of = f" of {planned}" if planned else ""
    if s == "failed":
        return f"failed: {status.get('reason', 'no reason recorded')}"
    if s == "running":
        return f"running: {done}{of} epochs done"
    if s == "interrupted":
        return f"interrupted after {done}{of} epochs"
    if s == "completed":
        return "completed but final.json is missing"
    why = status.get("note") or status.get("reason")
    return f"{s}{f' ({why})' if why else ''}: {done}{of} epochs done"


def _cost(final: dict[str, Any] | None, last: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Wall time, GPU-days and CPU-hours from final.json, or so far from the last epoch row."""
    cost = (final or {}).get("cost") or {}
    if cost:
        return {f"{prefix}_wall_time_s": cost.get("wall_time_s"), f"{prefix}_gpu_days": cost.get("gpu_days"),
                f"{prefix}_cpu_hours": cost.get("cpu_hours")}
    wall = last.get("wall_time_s")
    device = str(last.get("device", ""))
    gpu = device.startswith("cuda")
    return {f"{prefix}_wall_time_s": wall,
            f"{prefix}_gpu_days": wall / 86400 if wall is not None and gpu else None,
            f"{prefix}_cpu_hours": wall / 3600 if wall is not None and not gpu and device else None}


def _trained(metrics: dict[str, Any], dataset: str) -> dict[str, float | None]:
    """Trained test / valid accuracy under the dataset's official evaluation-set names."""
    from benchmarks.metrics import SPLIT_SETS

    sets = SPLIT_SETS.get(dataset, {"test": "ori-test"})
    out: dict[str, float | None] = {}
    for split in ("test", "valid"):
        name = sets.get(split)
        value = metrics.get(f"{name}-accuracy") if name else None
        if value is None and split == "test":  # ImageNet's single evaluation set is "val"
            value = metrics.get("val-accuracy")
        out[f"trained_{split}_accuracy"] = value
    return out


def _run_row(store: RunStore) -> tuple[dict[str, Any], pd.DataFrame]:
    config = store.config
    env = _read_json(store.path / "environment.json")
    status = store.status
    final = store.final
    try:
        metrics = store.metrics
    except Exception as exc:  # an unreadable file is reported, not fatal
        metrics, status = pd.DataFrame(), {**status, "status": "unreadable", "reason": str(exc).splitlines()[0]}
    kind = config.get("kind", "search")
    last = metrics.iloc[-1].to_dict() if len(metrics) else {}
    planned = (config.get("hparams") or config.get("overrides") or {}).get("epochs")
    complete = status.get("status") == "completed" and final is not None
    cost = (final or {}).get("cost") or {}
    row: dict[str, Any] = {
        "run": store.path.name, "path": str(store.path), "kind": kind,
        "method": config.get("method") if kind == "search" else None,
        "space": config.get("space"), "dataset": config.get("dataset"), "seed": config.get("seed"),
        "status": status.get("status", "unknown"), "complete": complete,
        "flag": _flag(status, len(metrics), planned, complete),
        "epochs_done": len(metrics), "epochs_planned": planned,
        "arch": (final or {}).get("arch") or last.get("arch"), "arch_is_final": bool(final and final.get("arch")),
        "device": cost.get("device") or last.get("device") or config.get("device"), "gpu": cost.get("gpu"),
        "bench": config.get("bench"), "bench_version": _bench_version(config, env),
        "config_hash": config_hash(config), "git_commit": env.get("git_commit"),
        "dnas_suite": env.get("dnas_suite"), "updated": status.get("updated"),
    }
    if kind == "search":
        lookups = (final or {}).get("lookups") or {k: v for k, v in last.items() if is_lookup(k)}
        row.update(lookups)
        row.update(_cost(final, last, "search"))
        row["supernet_params_m"] = cost.get("params_m")
    else:
        row.update({"protocol": config.get("protocol"), "from_run": config.get("from_run"),
                    "params_m": cost.get("params_m"), "flops_m": cost.get("flops_m")})
        row.update(_trained((final or {}).get("metrics") or last, config.get("dataset", "")))
        row.update(_cost(final, last, "eval"))
    return row, metrics


def _link(runs: pd.DataFrame) -> pd.DataFrame:
    """Give each search row the trained accuracy and cost of the evaluations made from it."""
    for col in ("from_run", "protocol", "source_seed", "trained_test_accuracy", "trained_valid_accuracy", "params_m",
                "flops_m", "eval_wall_time_s", "eval_gpu_days", "eval_cpu_hours", "n_evals", "trained_protocol",
                "trained_dataset"):
        if col not in runs:
            runs[col] = None
    runs = runs.astype({c: object for c in ("method", "source_seed", "n_evals", "trained_protocol",
                                            "trained_dataset")})
    searches = runs.index[runs["kind"] == "search"]
    evals = runs[runs["kind"] == "evaluation"]
    by_path = {runs.at[i, "path"]: i for i in searches}
    names = runs.loc[searches, "run"]
    by_name = {n: i for n, i in zip(names, searches) if (names == n).sum() == 1}
    target: dict[Any, Any] = {}
    for j, src in evals["from_run"].items():
        if isinstance(src, str) and src:
            i = by_path.get(str(Path(src).resolve()), by_name.get(Path(src).name))
            if i is not None:
                target[j] = i
                runs.at[j, "method"] = runs.at[i, "method"]
                runs.at[j, "source_seed"] = runs.at[i, "seed"]
    for i in searches:
        js = [j for j, t in target.items() if t == i and runs.at[j, "complete"]]
        runs.at[i, "n_evals"] = len(js)
        if not js:
            continue
        ev = runs.loc[js]
        for col in ("trained_test_accuracy", "trained_valid_accuracy", "params_m", "flops_m"):
            values = pd.to_numeric(ev[col], errors="coerce").dropna()
            runs.at[i, col] = float(values.mean()) if len(values) else None
        for col in ("eval_wall_time_s", "eval_gpu_days", "eval_cpu_hours"):
            values = pd.to_numeric(ev[col], errors="coerce").dropna()
            runs.at[i, col] = float(values.sum()) if len(values) else None
        runs.at[i, "trained_protocol"] = ", ".join(sorted(set(ev["protocol"].dropna())))
        runs.at[i, "trained_dataset"] = ", ".join(sorted(set(ev["dataset"].dropna())))
    return runs


def load(*paths: str | os.PathLike) -> Results:
    """Read run directories (or folders holding them, or globs) into ``Results(runs, epochs)``."""
    if not paths:
        raise DnasError("name at least one run directory, folder of runs or glob")
    rows, per_epoch = [], []
    for path in find_runs(*paths):
        store = RunStore(path)
        try:
            row, metrics = _run_row(store)
        except DnasError:  # a directory whose config is still being written: not a run yet
            continue
        rows.append(row)
        if len(metrics):
            ident = {k: row[k] for k in ("run", "path", "kind", "space", "dataset", "seed", "status",
                                         "bench_version", "config_hash")}
            per_epoch.append(metrics.assign(**ident))
    if not rows:
        raise DnasError(f"no readable run directories in {', '.join(map(str, paths))}")
    runs = _link(pd.DataFrame(rows))
    runs = runs.sort_values(["kind", "space", "dataset", "method", "seed", "run"], na_position="last",
                            key=lambda s: s.astype(str)).reset_index(drop=True)
    epochs = pd.concat(per_epoch, ignore_index=True) if per_epoch else pd.DataFrame(columns=["run", "epoch"])
    method = dict(zip(runs["path"], runs["method"]))
    epochs["method"] = epochs["path"].map(method) if len(epochs) else []
    if len(epochs):
        epochs["source_seed"] = epochs["path"].map(dict(zip(runs["path"], runs["source_seed"])))
    return Results(runs, epochs)
