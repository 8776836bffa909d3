"""Sweep specs: a YAML grid (or list of grids) of searches, and the evaluations of what they find,
expanded into runs whose ids come from their resolved configuration.

    out: runs/study                    # run directories and sweep.json go here
    search:                            # a grid: list values are crossed; or a list of grids
      method: [darts-v1, gdas]
      space: nb201
      dataset: digits
      seed: [0, 1, 2]
      bench: ~/.torch/dnas-tss
      hparams: {epochs: 50}            # every run of this grid
      grid: {arch_lr: [3e-4, 6e-4]}    # hyperparameters to cross
    evaluate:                          # optional: train each search's final architecture
      protocol: nats-200
      dataset: [cifar10, cifar100]
      seed: [777, 888]                 # default: the search's seed
      overrides: {epochs: 200}
    executor: {kind: local, cpus_per_run: 1, retries: 2}   # optional; command-line flags win

A run id is ``{method}-{space}-{dataset}-seed{seed}-{hash}`` (evaluations
``eval-{method}-{protocol}-{dataset}-seed{seed}-{hash}``), the hash taken over everything that
defines what the run computes: method, space, dataset, seed and every resolved hyperparameter
(defaults included), and for an evaluation its search's id, protocol, dataset, seed and every
resolved protocol setting. Where files live (``data_dir``, ``bench``, ``out``), the device and
the thread count are not part of it, so the same sweep on another machine finds its runs.
Everything is checked before anything runs; a bad entry is one line that names it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from suite.checks import existing_file
from suite.errors import DnasError
from suite.io import read_yaml

SEARCH_KEYS = ("method", "space", "dataset", "seed", "bench", "data_dir", "splits_dir", "device", "hparams", "grid")
EVAL_KEYS = ("protocol", "dataset", "seed", "bench", "data_dir", "splits_dir", "device", "overrides", "grid")
CROSSED = {"method", "space", "dataset", "seed", "protocol"}
"""Keys whose list values are crossed into a grid (other keys take one value)."""
INHERITED = ("bench", "data_dir", "splits_dir", "device")
"""Evaluation settings that default to their search's."""
EXECUTOR_KEYS = ("kind", "address", "workers", "cpus_per_run", "gpus_per_run", "retries")
TOP_KEYS = ("out", "search", "evaluate", "executor")
DEVICES = ("auto", "cpu", "cuda")
"""Devices a sweep run may ask for: a GPU index is the executor's to give (one per run)."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its id (= its directory name), what it is and what it waits for."""

    id: str
    kind: str                    # "search" or "evaluation"
    config: dict[str, Any]       # SearchConfig / EvalConfig fields, less out, name and (evaluation) arch
    epochs: int                  # epochs the run has in all (for progress)
    label: str                   # e.g. "gdas nb201 digits seed 0"
    after: str | None = None     # evaluation: the id of the search whose final architecture it trains

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A parsed, checked and expanded sweep: searches first, then evaluations."""

    out: Path
    runs: tuple[RunSpec, ...]
    source: str
    executor: dict[str, Any]


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def run_hash(identity: Mapping[str, Any]) -> str:
    """Ten hex digits of SHA-256 over the canonical JSON of what defines a run."""
    return hashlib.sha256(canonical(identity).encode()).hexdigest()[:10]


# ---- reading -----------------------------------------------------------------------------------

def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML file as a mapping; a missing file, a directory, bad YAML or a key given twice is one line."""
    file = existing_file(path, "sweep spec", f"give the sweep's YAML file (to see what a sweep wrote there: dnas "
                         f"sweep status {path})", "give the path of the sweep's YAML file")
    data = read_yaml(file, "sweep spec", unique_keys=True)
    if not isinstance(data, dict):
        raise DnasError(f"{file}: a sweep spec is a mapping with 'search:' (and optionally 'evaluate:', 'out:')")
    return data


def load_sweep(path: str | os.PathLike, *, out: str | os.PathLike | None = None, hparams: Mapping[str, Any] = (),
               overrides: Mapping[str, Any] = ()) -> Sweep:
    """Read, check and expand a sweep spec; ``hparams`` / ``overrides`` (``--set`` / ``--eval-set``) apply to
    every search / evaluation. ``out`` replaces the spec's ``out`` (default ``runs/<spec name>``)."""
    data = read_spec(path)
    where = str(path)
    default_out = Path("runs") / Path(path).stem
    return expand(data, where, out=out, default_out=default_out, hparams=dict(hparams), overrides=dict(overrides))


def expand(data: Mapping[str, Any], where: str, *, out: str | os.PathLike | None = None,
           default_out: str | os.PathLike = "runs/sweep", hparams: dict[str, Any] | None = None,
           overrides: dict[str, Any] | None = None) -> Sweep:
    """Check a spec mapping and expand it into runs (``where`` names it in errors)."""
    _known(data, TOP_KEYS, where, "")
    if "search" not in data:
        raise DnasError(f"{where}: a sweep needs 'search:' (a grid of method, space, dataset, seed, ...)")
    target = out if out is not None else data.get("out", default_out)
    if not isinstance(target, (str, os.PathLike)) or not str(target) or "\0" in str(target):
        what = "--out" if out is not None else f"{where}: out"
        raise DnasError(f"{what} must be a directory path, got {target!r}")
    if overrides and data.get("evaluate") is None:
        raise DnasError(f"--eval-set {next(iter(overrides))} sets a protocol setting of evaluations, and {where} has "
                        f"no 'evaluate:': drop --eval-set, or add evaluate: to the spec")
    searches = _expand_searches(data["search"], where, hparams or {})
    evals = _expand_evaluations(data.get("evaluate"), searches, where, overrides or {})
    return Sweep(Path(os.path.expanduser(str(target))).absolute(), tuple(_unique([*searches, *evals])), where,
                 _executor(data.get("executor"), where))


def _unique(runs: Iterable[RunSpec]) -> list[RunSpec]:
    """Runs in order, each id once: grids that overlap name the same run, which runs once."""
    seen: dict[str, RunSpec] = {}
    for r in runs:
        seen.setdefault(r.id, r)
    return list(seen.values())


def _known(entry: Mapping[str, Any], keys: tuple[str, ...], where: str, name: str) -> None:
    if not isinstance(entry, Mapping):
        raise DnasError(f"{where}: {name or 'the spec'} must be a mapping of keys ({', '.join(keys)}), "
                        f"got {type(entry).__name__}")
    bad = [k for k in entry if k not in keys]
    if bad:
        hint = " (list values are crossed: write 'method: [a, b]')" if str(bad[0]).rstrip("s") in keys else ""
        raise DnasError(f"{where}: {name + ': ' if name else ''}unknown key {bad[0]!r}; known: {', '.join(keys)}{hint}")


def _entries(section: Any, where: str, name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """A section is one grid or a list of grids: ``[(label, grid), ...]`` (keys under their current names)."""
    if isinstance(section, Mapping):
        return [(name, section)]
    if isinstance(section, list) and section:
        return [(f"{name}[{i}]", e) for i, e in enumerate(section)]
    raise DnasError(f"{where}: {name} must be a mapping (one grid) or a non-empty list of them")


def _values(entry: Mapping[str, Any], key: str, where: str, name: str) -> list[Any]:
    value = entry[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise DnasError(f"{where}: {name}: {key} is an empty list")
    return values


def _grid(entry: Mapping[str, Any], key: str, where: str, name: str) -> list[dict[str, Any]]:
    """``grid: {lr: [a, b], ...}`` (or ``hparams``-style scalars) as the list of its combinations."""
    grid = entry.get(key) or {}
    if not isinstance(grid, Mapping):
        raise DnasError(f"{where}: {name}: {key} must map names to lists of values, e.g. {{arch_lr: [3e-4, 6e-4]}}")
    empty = [k for k, v in grid.items() if isinstance(v, list) and not v]
    if empty:
        raise DnasError(f"{where}: {name}: {key}.{empty[0]} is an empty list: give it at least one value, or "
                        f"leave it out")
    names = list(grid)
    lists = [v if isinstance(v, list) else [v] for v in grid.values()]
    return [dict(zip(names, combo)) for combo in itertools.product(*lists)]


def _no_clash(entry: Mapping[str, Any], extra: Mapping[str, Any], flag: str, where: str, name: str) -> None:
    """Refuse a command-line setting (``--set`` / ``--eval-set``) of a key the entry's ``grid:`` crosses:
    one of the two would be silently lost, and which one is no guess to leave to the reader."""
    grid = entry.get("grid") or {}
    clash = [k for k in extra if isinstance(grid, Mapping) and k in grid]
    if clash:
        raise DnasError(f"{flag} {clash[0]}={extra[clash[0]]} clashes with {where}: {name}: grid.{clash[0]}, which "
                        f"crosses values of it: drop {flag} {clash[0]}, or edit the grid")


def _settings(entry: Mapping[str, Any], key: str, where: str, name: str) -> dict[str, Any]:
    value = entry.get(key) or {}
    if not isinstance(value, Mapping):
        raise DnasError(f"{where}: {name}: {key} must be a mapping of names to values")
    lists = [k for k, v in value.items() if isinstance(v, list)]
    if lists:
        raise DnasError(f"{where}: {name}: {key}.{lists[0]} is a list; to sweep over values put it under 'grid:'")
    return dict(value)


def _path(entry: Mapping[str, Any], key: str, where: str, name: str) -> str | None:
    """A path made absolute (workers may run elsewhere); a built-in table's name (or "none") stays a name."""
    from benchmarks.builtin import BUILTIN, NO_BENCH

    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DnasError(f"{where}: {name}: {key} must be a path, got {value!r}")
    if key == "bench" and (value in BUILTIN or value == NO_BENCH):
        return value
    return str(Path(os.path.expanduser(value)).absolute())


def _seed(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise DnasError(f"{where}: {name}: seed must be an int in [0, 2**31), got {value!r}")
    return value


def _need_data(dataset: str, data_dir: str | None, where: str, name: str) -> None:
    """Every dataset but digits is read from ``data_dir``, which must be a folder."""
    if dataset == "digits":
        return
    if data_dir is None:
        raise DnasError(f"{where}: {name}: dataset {dataset} needs data_dir (the folder holding its files)")
    if not Path(data_dir).is_dir():
        raise DnasError(f"{where}: {name}: data_dir {data_dir} is not a folder")


def _device(entry: Mapping[str, Any], where: str, name: str, default: str = "auto") -> str:
    device = entry.get("device", default)
    if device not in DEVICES:
        raise DnasError(f"{where}: {name}: device must be one of {', '.join(DEVICES)} (the executor gives each run "
                        f"its GPU), got {device!r}")
    return device


# ---- searches ------------------------------------------------------------------------------------

def _expand_searches(section: Any, where: str, extra: dict[str, Any]) -> list[RunSpec]:
    from suite.names import DATASETS

    runs: list[RunSpec] = []
    resolved: dict[str, tuple[str, dict[str, Any]]] = {}  # (method, space, given hparams) -> (space, hp)
    for name, entry in _entries(section, where, "search"):
        _known(entry, SEARCH_KEYS, where, name)
        if "method" not in entry:
            raise DnasError(f"{where}: {name}: needs 'method' (see 'dnas list methods')")
        paths = {k: _path(entry, k, where, name) for k in ("bench", "data_dir", "splits_dir")}
        device = _device(entry, where, name)
        _no_clash(entry, extra, "--set", where, name)
        base = {**_settings(entry, "hparams", where, name), **extra}
        axes = {k: _values(entry, k, where, name) if k in entry else [d]
                for k, d in (("method", None), ("space", "nb201"), ("dataset", "cifar10"), ("seed", 0))}
        for method, space, dataset, seed, combo in itertools.product(*axes.values(), _grid(entry, "grid", where, name)):
            seed = _seed(seed, where, name)
            if dataset not in DATASETS:
                raise DnasError(f"{where}: {name}: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
            _need_data(dataset, paths["data_dir"], where, name)
            given = {**base, **combo}
            key = canonical([method, space, given])
            if key not in resolved:
                resolved[key] = _resolve_search(method, space, given, paths["bench"], where, name)
            space_name, hp = resolved[key]
            identity = {"kind": "search", "method": method, "space": space_name, "dataset": dataset, "seed": seed,
                        "hparams": hp}
            config = {"method": method, "space": space_name, "dataset": dataset, "seed": seed, "device": device,
                      **paths, "hparams": given}
            runs.append(RunSpec(f"{method}-{space_name}-{dataset}-seed{seed}-{run_hash(identity)}", "search", config,
                                int(hp["epochs"]), f"{method} {space_name} {dataset} seed {seed}"))
    return runs


def _resolve_search(method: str, space: str, hparams: dict[str, Any], bench: str | None, where: str,
                    name: str) -> tuple[str, dict[str, Any]]:
    """(canonical space name, every hyperparameter) as the run will record them, checked by building the
    method once (and opening the benchmark it looks up in)."""
    from methods import create_method
    from suite.runs import Lookup

    try:
        m = create_method(str(method), str(space), 10, 3, seed=0, device="cpu", **hparams)
        if bench is not None:
            Lookup(bench, m.space)
    except (DnasError, ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise DnasError(f"{where}: {name}: {method} on {space}: {msg}") from None
    return m.space.name, dict(m.hp)


# ---- evaluations ----------------------------------------------------------------------------------

def _expand_evaluations(section: Any, searches: list[RunSpec], where: str, extra: dict[str, Any]) -> list[RunSpec]:
    from suite.train.protocols import get_protocol

    if section is None:
        return []
    runs: list[RunSpec] = []
    for name, entry in _entries(section, where, "evaluate"):
        _known(entry, EVAL_KEYS, where, name)
        if "protocol" not in entry or "dataset" not in entry:
            raise DnasError(f"{where}: {name}: needs 'protocol' (e.g. nats-200) and 'dataset'")
        paths = {k: _path(entry, k, where, name) for k in ("bench", "data_dir", "splits_dir")}
        _no_clash(entry, extra, "--eval-set", where, name)
        base = {**_settings(entry, "overrides", where, name), **extra}
        seeds = [_seed(s, where, name) for s in _values(entry, "seed", where, name)] if "seed" in entry else [None]
        for proto_name, dataset, combo in itertools.product(_values(entry, "protocol", where, name),
                                                            _values(entry, "dataset", where, name),
                                                            _grid(entry, "grid", where, name)):
            try:
                protocol = get_protocol(str(proto_name), {**base, **combo})
            except ValueError as exc:
                raise DnasError(f"{where}: {name}: {exc}") from None
            if dataset not in protocol.datasets and not (protocol.space == "nb201" and dataset == "digits"):
                raise DnasError(f"{where}: {name}: protocol {protocol.name} trains on {', '.join(protocol.datasets)}"
                                f"{' or digits' if protocol.space == 'nb201' else ''}, not {dataset!r}")
            for s in searches:
                _need_data(str(dataset), paths["data_dir"] or s.config.get("data_dir"), where, name)
            matching = [s for s in searches if s.config["space"] == protocol.space]
            if not matching:
                raise DnasError(f"{where}: {name}: protocol {protocol.name} trains {protocol.space} networks, and no "
                                f"search of this sweep is in the {protocol.space} space")
            for s in matching:
                for seed in seeds:
                    runs.append(_evaluation(s, protocol, str(dataset), s.config["seed"] if seed is None else seed,
                                            {**base, **combo}, paths, _device(entry, where, name, s.config["device"])))
    return runs


def _evaluation(search: RunSpec, protocol: Any, dataset: str, seed: int, given: dict[str, Any],
                paths: dict[str, str | None], device: str) -> RunSpec:
    identity = {"kind": "evaluation", "search": search.id, "protocol": protocol.name, "dataset": dataset,
                "seed": seed, "overrides": protocol.hp}
    inherited = {k: paths.get(k) or search.config.get(k) for k in INHERITED if k != "device"}
    config = {"protocol": protocol.name, "dataset": dataset, "seed": seed, "device": device, **inherited,
              "overrides": given}
    method = search.config["method"]
    return RunSpec(f"eval-{method}-{protocol.name}-{dataset}-seed{seed}-{run_hash(identity)}", "evaluation", config,
                   int(protocol.hp["epochs"]), f"{protocol.name} {dataset} seed {seed} of {search.label}", search.id)


# ---- executor settings ----------------------------------------------------------------------------

EXECUTORS = ("local", "ray")


def check_executor(settings: Mapping[str, Any], where: str) -> None:
    """Check executor settings (the spec's ``executor:``, or it merged with the command line); ``where``
    starts each one-line error ("study.yaml: executor", or "executor")."""
    import math

    kind = settings.get("kind", "local")
    if kind not in EXECUTORS:
        raise DnasError(f"{where}: kind must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    for key, low in (("workers", 1), ("cpus_per_run", 1), ("retries", 0)):
        v = settings.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise DnasError(f"{where}: {key} must be an int >= {low}, got {v!r}")
    g = settings.get("gpus_per_run")
    if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0):
        raise DnasError(f"{where}: gpus_per_run must be a finite number >= 0, got {g!r}")
    address = settings.get("address")
    if address is not None and (not isinstance(address, str) or not address):
        raise DnasError(f"{where}: address must be 'auto' or HOST:PORT, got {address!r}")


def _executor(section: Any, where: str) -> dict[str, Any]:
    """The spec's ``executor:`` settings, checked here so that a bad one names the spec."""
    if section is None:
        return {}
    _known(section, EXECUTOR_KEYS, where, "executor")
    check_executor(section, f"{where}: executor")
    return dict(section)
