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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from suite.errors import DnasError
from suite.runstore import RunStore, current_names

LOOKUP_SEP = "@"
"""Lookup columns read ``{dataset}@{epochs}/{metric}``, as the search runner writes them."""

_VOLATILE_CONFIG = ("seed", "name", "out", "data_dir", "splits_dir", "bench", "device", "from_run")
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


def _run_dirs(root: Path) -> list[Path]:
    """Directories at or below ``root`` that hold an entry named config.yaml (a damaged or dangling one
    too, so that ``load`` names it), checkpoints and symlinked directories not entered (no loops)."""
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "checkpoints")
        if "config.yaml" in files or "config.yaml" in dirs:
            found.append(Path(here))
    return sorted(found)


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
            if os.path.lexists(p / "config.yaml"):
                found[Path(os.path.realpath(p))] = None
            elif p.is_dir():
                inner = _run_dirs(p)
                if not inner and not glob.has_magic(text):
                    raise DnasError(f"{p} holds no run directories (no config.yaml below it)")
                found.update((Path(os.path.realpath(c)), None) for c in inner)
            elif not glob.has_magic(text):
                if p.is_symlink():
                    raise DnasError(f"{p} is a symbolic link to {os.readlink(p)}, which does not resolve to a "
                                    f"directory (missing, or a loop): name run directories or folders that hold them")
                if os.path.lexists(p):
                    raise DnasError(f"{p} is a file, not a run directory: name run directories or folders that "
                                    f"hold them")
                raise DnasError(f"{p} does not exist: name run directories or folders that hold them")
    return list(found)


def config_hash(config: dict[str, Any]) -> str:
    """12 hex digits identifying a run's settings apart from its seed, name and paths."""
    kept = {k: v for k, v in config.items() if k not in _VOLATILE_CONFIG}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Unreadable(DnasError):
    """One file of a run store cannot be used; the message names the file (and key) and the fix.

    ``load`` keeps such a run as a row flagged ``unreadable`` instead of failing the whole report."""


RUN_KEYS = {"search": ("method", "space", "dataset", "seed"), "evaluation": ("arch", "protocol", "dataset", "seed")}
"""The keys every run config of a kind records: without them a run cannot be placed in a comparison."""

_IS = {
    "a string": lambda v: isinstance(v, str),
    "an integer >= 0": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "a mapping": lambda v: isinstance(v, dict),
}
_CONFIG_TYPES = {"method": "a string", "space": "a string", "dataset": "a string", "arch": "a string",
                 "protocol": "a string", "kind": "a string", "seed": "an integer >= 0", "bench": "a string",
                 "device": "a string", "from_run": "a string", "hparams": "a mapping", "overrides": "a mapping"}
_STATUS_TYPES = {"status": "a string", "reason": "a string", "note": "a string", "updated": "a string",
                 "heartbeat": "a string", "started": "a string", "host": "a string", "proc_start": "a string",
                 "pid": "an integer >= 0", "epochs_done": "an integer >= 0", "epochs": "an integer >= 0",
                 "wall_time_s": "a number"}
_FINAL_TYPES = {"arch": "a string", "lookups": "a mapping", "cost": "a mapping", "metrics": "a mapping"}
_COST_TYPES = {"wall_time_s": "a number", "gpu_days": "a number", "cpu_hours": "a number", "params_m": "a number",
               "flops_m": "a number", "device": "a string", "gpu": "a string"}
_ENV_TYPES = {"benchmark": "a mapping", "git_commit": "a string", "dnas_suite": "a string"}


_NUMERIC_COLUMN = re.compile(r"(?:[_-]loss|accuracy|_acc|wall_time_s|_entropy)$")
"""Per-epoch columns the report averages and plots: they must hold numbers."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_keys(file: Path, data: dict[str, Any], types: dict[str, str], fix: str, within: str = "") -> None:
    """Raise ``Unreadable`` naming the first key of ``types`` whose value (when set) has the wrong type."""
    for key, kind in types.items():
        value = data.get(key)
        if value is not None and not _IS[kind](value):
            raise Unreadable(f"{file}: key '{within}{key}' must be {kind}, got {_short(value)} "
                             f"({type(value).__name__}); {fix}")


def _check_numbers(file: Path, data: dict[str, Any], within: str, fix: str) -> None:
    """Every value of the mapping ``data`` (lookups, metrics) must be a number or null."""
    for key, value in data.items():
        if value is not None and not _IS["a number"](value):
            raise Unreadable(f"{file}: key '{within}{key}' must be a number, got {_short(value)} "
                             f"({type(value).__name__}); {fix}")


def _read_object(file: Path, what: str, fix: str, *, missing: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """A JSON file of the run store as a mapping; ``missing`` when it does not exist; ``Unreadable`` when
    it cannot be read, is not JSON (truncated?) or holds something other than a JSON object."""
    if not os.path.lexists(file):
        return missing
    try:
        data = json.loads(file.read_bytes())
    except OSError as exc:
        raise Unreadable(f"cannot read {what} {file}: {exc.strerror or exc}; {fix}") from None
    except ValueError as exc:  # JSONDecodeError, or bytes that are not text
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unreadable(f"{what} {file} is not valid JSON ({reason}; truncated or damaged?); {fix}") from None
    if not isinstance(data, dict):
        raise Unreadable(f"{what} {file} holds a JSON {type(data).__name__}, not an object; {fix}")
    return data


def _read_config(path: Path) -> dict[str, Any]:
    """The run's config.yaml, checked: a mapping holding the keys its kind needs, each of the right type."""
    from suite.io import read_yaml

    file = path / "config.yaml"
    fix = f"restore it or delete the run directory {path}"
    if file.is_symlink() and not file.exists():
        raise Unreadable(f"run config {file} is a symbolic link to {os.readlink(file)}, which does not resolve "
                         f"(missing, or a loop); {fix}")
    if file.exists() and not file.is_file():
        raise Unreadable(f"run config {file} is not a regular file (a directory?); {fix}")
    try:
        data = read_yaml(file, "run config")
    except DnasError as exc:
        raise Unreadable(f"{exc}; {fix}") from None
    except OSError as exc:  # unreadable, a symlink loop, a directory
        raise Unreadable(f"cannot read run config {file}: {exc.strerror or exc}; {fix}") from None
    except ValueError as exc:  # a NUL byte and the like, refused by the YAML reader
        raise Unreadable(f"run config {file} is not valid YAML ({str(exc).splitlines()[0]}); {fix}") from None
    if not isinstance(data, dict):
        got = "nothing" if data is None else f"a YAML {type(data).__name__}"
        raise Unreadable(f"run config {file} holds {got}, not a mapping of config keys; {fix}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise Unreadable(f"run config {file}: key {_short(bad[0])} is not a name; {fix}")
    data = current_names(data)
    _check_keys(file, data, _CONFIG_TYPES, fix)
    kind = _kind(data)
    if kind not in RUN_KEYS:
        raise Unreadable(f"run config {file}: key 'kind' must be search or evaluation, got {_short(kind)}; {fix}")
    for settings in ("hparams", "overrides"):
        _check_keys(file, data.get(settings) or {}, {"epochs": "an integer >= 0"}, fix, f"{settings}.")
    lacking = [k for k in RUN_KEYS[kind] if data.get(k) is None]
    if lacking:
        raise Unreadable(f"run config {file} lacks {', '.join(lacking)} (a {kind} run records "
                         f"{', '.join(RUN_KEYS[kind])}): an incomplete config; {fix}")
    return data


def _kind(config: dict[str, Any]) -> Any:
    """search or evaluation; configs written before ``kind`` was recorded tell evaluations by ``protocol``."""
    if "kind" in config:
        return config["kind"]
    return "evaluation" if "protocol" in config and "method" not in config else "search"


def _resume_fix(path: Path, kind: str, status: dict[str, Any] | None) -> str:
    """What to do about a damaged file the run rewrites: resume it, or (completed) run it again."""
    if (status or {}).get("status") == "completed":
        return f"delete the run directory {path} and run it again"
    command = "search" if kind == "search" else "evaluate"
    return f"resume the run (dnas {command} --resume {path}) or delete it"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's content, or {} where it is missing or not JSON (for readers that can do without it)."""
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


def _read_metrics(store: RunStore, fix: str) -> pd.DataFrame:
    """metrics.parquet, checked: readable, with a numeric ``epoch`` and numeric lookup columns."""
    file = store.path / "metrics.parquet"
    try:
        metrics = store.metrics
    except Exception as exc:  # pyarrow raises many types for a damaged file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unreadable(f"metrics {file} cannot be read ({reason}); {fix}") from None
    if not len(metrics):
        return metrics
    from pandas.api.types import is_numeric_dtype

    if "epoch" not in metrics:
        raise Unreadable(f"metrics {file} has no column 'epoch'; {fix}")
    for col in [c for c in metrics.columns if c == "epoch" or _NUMERIC_COLUMN.search(str(c)) or is_lookup(str(c))]:
        if not is_numeric_dtype(metrics[col]) or metrics[col].dtype == bool:
            raise Unreadable(f"metrics {file}: column {col!r} holds {metrics[col].dtype} values, not numbers; {fix}")
    if "arch" in metrics and not all(isinstance(a, str) or a is None for a in metrics["arch"]):
        raise Unreadable(f"metrics {file}: column 'arch' holds values that are not strings; {fix}")
    return metrics


def _read_store(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any] | None,
                                     pd.DataFrame]:
    """A run's config, environment, status, final result and metrics, each checked for the keys and types
    the report uses; ``Unreadable`` names the first file (and key) that is not what the suite writes."""
    config = _read_config(path)
    kind = _kind(config)
    restore = f"restore it or delete the run directory {path}"
    env_file = path / "environment.json"
    env = _read_object(env_file, "environment record", restore, missing={}) or {}
    _check_keys(env_file, env, _ENV_TYPES, restore)
    _check_keys(env_file, env.get("benchmark") or {}, {"version": "a string"}, restore, "benchmark.")
    status_file = path / "status.json"
    raw = _read_object(status_file, "status", _resume_fix(path, kind, None), missing={"status": "unknown"}) or {}
    _check_keys(status_file, raw, _STATUS_TYPES, _resume_fix(path, kind, None))
    store = RunStore(path)
    status = store.status if raw.get("status") == "running" else raw  # a killed writer reads dead or stale
    fix = _resume_fix(path, kind, raw)
    final_file = path / "final.json"
    final = _read_object(final_file, "final result", fix)
    if final is not None:
        _check_keys(final_file, final, _FINAL_TYPES, fix)
        _check_keys(final_file, final.get("cost") or {}, _COST_TYPES, fix, "cost.")
        _check_numbers(final_file, final.get("lookups") or {}, "lookups.", fix)
        _check_numbers(final_file, final.get("metrics") or {}, "metrics.", fix)
    metrics = _read_metrics(store, f"delete the run directory {path} and run it again")
    return config, env, status, final, metrics


LOSSES = ("train_loss", "valid_loss")
"""The per-epoch supernet losses the diagnostics read."""


def _diagnostics(config: dict[str, Any], metrics: pd.DataFrame, planned: int | None) -> dict[str, Any]:
    """A search run's flags (``reports.diagnostics``) as table cells: ``diagnostics`` the codes
    ("static, collapse"; "" when none), ``diagnostics_text`` each flag's line, "; "-joined, and
    ``archs_looked_up`` the number of distinct derived architectures its epochs looked up (the search's
    cost in lookups, which random search at equal cost is given; random search's own: its candidates)."""
    from .diagnostics import codes, diagnose

    ordered = metrics.sort_values("epoch") if "epoch" in metrics else metrics
    archs = list(ordered["arch"]) if "arch" in ordered else []
    losses = {c: list(pd.to_numeric(ordered[c], errors="coerce")) for c in LOSSES if c in ordered}
    flags = diagnose(archs, config, str(config.get("space") or ""), losses, planned)
    return {"diagnostics": codes(flags), "diagnostics_text": "; ".join(f"{f.code}: {f.text}" for f in flags),
            "archs_looked_up": (int(pd.to_numeric(ordered["candidates"], errors="coerce").max())
                                if "candidates" in ordered  # random search looks each candidate up
                                else len({a for a in archs if isinstance(a, str) and a}))}


def _run_row(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    config, env, status, final, metrics = _read_store(path)
    kind = _kind(config)
    last = metrics.iloc[-1].to_dict() if len(metrics) else {}
    planned = (config.get("hparams") or config.get("overrides") or {}).get("epochs")
    complete = status.get("status") == "completed" and final is not None
    cost = (final or {}).get("cost") or {}
    row: dict[str, Any] = {
        "run": path.name, "path": str(path), "kind": kind,
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
        row.update(_diagnostics(config, metrics, planned))
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
    for col in ("diagnostics", "diagnostics_text"):  # evaluations and unreadable runs carry no flags
        runs[col] = runs[col].fillna("") if col in runs else ""
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


def _unreadable_row(path: Path, reason: str) -> dict[str, Any]:
    """The row of a run that cannot be read: named, flagged with the reason, never counted as a result.

    With a sound config it keeps its kind, method and group (and counts as not complete beside its
    method); otherwise it has no kind and stays out of every comparison group, shown with what its
    config still says."""
    try:
        config, sound = _read_config(path), True
    except Unreadable:
        sound = False
        try:  # what the damaged config still says, for the run's line in the table
            import yaml

            config = yaml.safe_load((path / "config.yaml").read_text())
        except Exception:  # anything: the reason already says what is wrong with the file
            config = None
        config = config if isinstance(config, dict) else {}

    def known(key: str, kind_of: str) -> Any:
        value = config.get(key)
        return value if value is not None and _IS[kind_of](value) else None

    kind = _kind(config) if sound else None
    version = None
    if sound:  # its benchmark version places it in its comparison group
        try:
            env = _read_object(path / "environment.json", "environment record", "", missing={}) or {}
            _check_keys(path / "environment.json", env, _ENV_TYPES, "")
            _check_keys(path / "environment.json", env.get("benchmark") or {}, {"version": "a string"}, "")
        except Unreadable:
            env = {}
        version = _bench_version(config, env)
    return {"run": path.name, "path": str(path), "kind": kind,
            "method": known("method", "a string") if kind != "evaluation" else None,
            "space": known("space", "a string"), "dataset": known("dataset", "a string"),
            "seed": known("seed", "an integer >= 0"), "status": "unreadable", "complete": False,
            "flag": f"unreadable: {reason}", "epochs_done": 0, "epochs_planned": None, "arch": None,
            "arch_is_final": False, "device": None, "gpu": None, "bench": known("bench", "a string"),
            "bench_version": version, "config_hash": config_hash(config) if sound else None, "git_commit": None,
            "dnas_suite": None, "updated": None}


def unreadable(runs: pd.DataFrame) -> list[str]:
    """Why each run of ``runs`` that could not be read is left out: one line each, naming file and fix."""
    if not len(runs):
        return []
    return [flag.removeprefix("unreadable: ") for flag in runs.loc[runs["status"] == "unreadable", "flag"]]


def load(*paths: str | os.PathLike) -> Results:
    """Read run directories (or folders holding them, or globs) into ``Results(runs, epochs)``.

    A run whose files are damaged, of the wrong type or incomplete is kept as a row with status
    ``unreadable`` and a flag naming the file, key and fix (``unreadable(runs)`` lists them); only
    when no run can be read at all is that an error."""
    if not paths:
        raise DnasError("name at least one run directory, folder of runs or glob")
    rows, per_epoch, problems = [], [], []
    for path in find_runs(*paths):
        try:
            row, metrics = _run_row(path)
        except Unreadable as exc:
            rows.append(_unreadable_row(path, str(exc)))
            problems.append(str(exc))
            continue
        rows.append(row)
        if len(metrics):
            ident = {k: row[k] for k in ("run", "path", "kind", "space", "dataset", "seed", "status",
                                         "bench_version", "config_hash")}
            per_epoch.append(metrics.assign(**ident))
    if len(problems) == len(rows):
        more = f" (and {len(problems) - 1} more unreadable runs)" if len(problems) > 1 else ""
        raise DnasError(f"no readable run directories in {', '.join(map(str, paths))}: {problems[0]}{more}")
    runs = _link(pd.DataFrame(rows))
    runs = runs.sort_values(["kind", "space", "dataset", "method", "seed", "run"], na_position="last",
                            key=lambda s: s.astype(str)).reset_index(drop=True)
    epochs = pd.concat(per_epoch, ignore_index=True) if per_epoch else pd.DataFrame(columns=["run", "epoch"])
    method = dict(zip(runs["path"], runs["method"]))
    epochs["method"] = epochs["path"].map(method) if len(epochs) else []
    if len(epochs):
        epochs["source_seed"] = epochs["path"].map(dict(zip(runs["path"], runs["source_seed"])))
    return Results(runs, epochs)
