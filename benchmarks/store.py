"""Read a tabular store (``layout.py`` says what is on disk): vectorised, validating queries.

``query()`` checks its arguments and ``_query()`` looks up; internal callers that checked
already (``best``, and the official-API emulation ``record``, ``cost``, ``simulate_train_eval`` that
``nats_api.NatsApi`` mixes in) call the lookup directly.
"""
from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable as _Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np

from suite.checks import check_int, check_real, check_str
from suite.errors import FormatError, InvalidInput, MissingFileError, NotFound, WrongType
from suite.spaces import TabularSpace, get_tabular_space
from suite.names import NATS_DATASETS

from .metrics import dataset_hint, default_mode
from .base import Benchmark, Evaluation
from .layout import ARCHS, FORMAT, FORMAT_VERSION, METADATA, PRESENT, SLOTS, Source, group_dir
from .nats_api import NatsApi

_ANY: Any = object()  # "not given" for ``_check_args``


class Best(NamedTuple):
    index: int
    arch: str
    value: float


@dataclass
class _Group:
    """One (epochs, dataset) slice of a store."""

    epochs: int
    dataset: str
    n_epochs: int
    seeds: list[int | None]
    metrics: dict[str, Source]
    costs: dict[str, str]
    time_sets: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    evaluated: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Time metric -> the files of its split's loss and accuracy: where those are NaN the split
    was not evaluated, and the time does not exist either (as in the official ``get_more_info``)."""


def _evaluation_files(metrics: dict[str, Source]) -> dict[str, tuple[str, ...]]:
    """For each ``{split}-per-time``/``{split}-all-time``, the loss and accuracy files of its split."""
    out = {}
    for name in metrics:
        split, _, field_name = name.partition("-")
        if field_name in ("per-time", "all-time"):
            files = tuple(metrics[f"{split}-{f}"].file for f in ("loss", "accuracy") if f"{split}-{f}" in metrics)
            if files:
                out[name] = files
    return out


class TabularBenchmark(NatsApi, Benchmark):
    """Vectorised, validating queries over one store. Open it with ``benchmarks.open(path)``."""

    kind = "tabular"

    def __init__(self, path: str | os.PathLike, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = name or str(self.path)
        """How the store is named in messages and run configs: the built-in name, else its path."""
        meta_file = self.path / METADATA
        if not meta_file.is_file():
            raise MissingFileError(f"{self.path} is not a dnas-suite store (no metadata.json): "
                                   f"create one with 'dnas bench convert' or 'dnas bench import'")
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FormatError(f"corrupt store metadata {meta_file}: {exc}; convert the benchmark again") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise FormatError(f"{meta_file} is not a dnas-suite tabular store (format={meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{meta_file} is not a dnas-suite store")
        if meta.get("format_version") != FORMAT_VERSION:
            raise FormatError(f"store {self.path} has format version {meta.get('format_version')}, this "
                              f"dnas-suite reads version {FORMAT_VERSION}: convert the benchmark again")
        self.meta = meta
        self.space: TabularSpace = get_tabular_space(meta["space"])
        self.version: str = meta["benchmark_version"]
        self.n_archs: int = int(meta["n_archs"])
        self._groups: dict[tuple[str, int], _Group] = {}
        for g in meta["groups"]:
            metrics = {k: Source(**v) for k, v in g["metrics"].items()}
            grp = _Group(int(g["epochs"]), g["dataset"], int(g["n_epochs"]), list(g["seeds"]), metrics,
                         dict(g.get("costs", {})), list(g.get("time_sets", [])), dict(g.get("config", {})),
                         _evaluation_files(metrics))
            self._groups[(grp.dataset, grp.epochs)] = grp
        self._arrays: dict[str, np.ndarray] = {}
        self._index_of: dict[str, int] | None = None
        self._archs: list[str] | None = None
        self._slots: np.ndarray | None = None
        self._identity: bool | None = None

    # ---- low level ----------------------------------------------------------------------
    def _array(self, rel: str) -> np.ndarray:
        arr = self._arrays.get(rel)
        if arr is None:
            file = self.path / rel
            try:
                arr = np.load(file, mmap_mode="r", allow_pickle=False).view(np.ndarray)
            except FileNotFoundError:
                raise MissingFileError(f"store {self.path} is missing {rel}: convert the benchmark again") from None
            except ValueError as exc:
                raise FormatError(f"corrupt store array {file}: {exc}; convert the benchmark again") from None
            self._arrays[rel] = arr
        return arr

    @property
    def slots(self) -> np.ndarray:
        if self._slots is None:
            self._slots = self._array(SLOTS)
        return self._slots

    @property
    def _identity_slots(self) -> bool:
        """Whether column i holds arch i for every arch (a complete store)."""
        if self._identity is None:
            self._identity = bool(np.array_equal(self.slots, np.arange(self.n_archs)))
        return self._identity

    @property
    def archs(self) -> list[str]:
        """Arch strings in official index order."""
        if self._archs is None:
            self._archs = (self.path / ARCHS).read_text().split("\n")[: self.n_archs]
        return self._archs

    def index(self, arch: Any) -> int:
        """Official index of an arch given as index, string or arch object; KeyError if not in the space."""
        self._check_args(arch=arch)
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            if 0 <= arch < self.n_archs:
                return int(arch)
            raise NotFound(f"arch index {arch} is outside [0, {self.n_archs}) of the {self.space.name} space")
        if self._index_of is None:
            self._index_of = {a: i for i, a in enumerate(self.archs)}
        key = arch if isinstance(arch, str) else None
        if key is not None and key in self._index_of:
            return self._index_of[key]
        canonical = self.space.coerce(arch).to_str()  # ValueError for malformed input
        if canonical not in self._index_of:
            raise NotFound(f"arch {arch!s} is not in this {self.space.name} store ({self.path})")
        return self._index_of[canonical]

    def arch_at(self, index: int) -> str:
        return self.archs[index]

    def datasets(self, epochs: int | None = None) -> list[str]:
        return sorted({d for (d, e) in self._groups if epochs is None or e == epochs},
                      key=lambda d: (NATS_DATASETS.index(d) if d in NATS_DATASETS else 99, d))

    def epochs_settings(self, dataset: str | None = None) -> list[int]:
        return sorted({e for (d, e) in self._groups if dataset is None or d == dataset})

    def metric_names(self, dataset: str, epochs: int) -> list[str]:
        return list(self._group(dataset, epochs).metrics)

    def seeds(self, dataset: str, epochs: int) -> list[int | None]:
        return list(self._group(dataset, epochs).seeds)

    def _group(self, dataset: str, epochs: int) -> _Group:
        if epochs is None:
            raise InvalidInput(f"epochs is required (NATS-Bench hp): this store has {self.epochs_settings()}; "
                               f"the official API's silent default hp='12' is not copied here")
        try:
            return self._groups[(dataset, int(epochs))]
        except (KeyError, ValueError, TypeError):
            pass
        if dataset not in {d for d, _ in self._groups}:
            raise InvalidInput(f"dataset {dataset!r} is not in this store; it has: {', '.join(self.datasets())}."
                               + dataset_hint(dataset))
        raise InvalidInput(f"epochs={epochs!r} is not recorded for {dataset}; choose one of "
                           f"{self.epochs_settings(dataset)} (the official hp settings of this store)")

    def _source(self, grp: _Group, metric: str) -> Source:
        src = grp.metrics.get(metric)
        if src is None:
            raise InvalidInput(f"metric {metric!r} is not recorded for {grp.dataset} (epochs={grp.epochs}); "
                               f"it has: {', '.join(grp.metrics)}." + dataset_hint(grp.dataset, metric))
        return src

    def _epoch(self, grp: _Group, iepoch: int | None) -> int:
        if iepoch is None:
            return grp.n_epochs - 1
        if self._is_table(grp):
            if iepoch == grp.epochs - 1:
                return 0
            raise InvalidInput(self._table_limit(grp, f"iepoch={iepoch!r}", "it holds only the last epoch"))
        if not isinstance(iepoch, (int, np.integer)) or not 0 <= iepoch < grp.n_epochs:
            raise InvalidInput(f"iepoch must be an int in [0, {grp.n_epochs}) for epochs={grp.epochs}, got {iepoch!r}")
        return int(iepoch)

    def _seed_row(self, grp: _Group, seed: Any) -> int | None:
        """None for the seed mean, else the row of that seed."""
        if isinstance(seed, str) and seed == "mean":
            return None
        if grp.seeds == [None]:
            raise InvalidInput(self._table_limit(grp, f"seed {seed!r}", "it has no per-seed values: use seed='mean'"))
        if isinstance(seed, (int, np.integer)) and int(seed) in grp.seeds:
            return grp.seeds.index(int(seed))
        raise InvalidInput(f"seed must be 'mean' or one of {grp.seeds} for {grp.dataset} epochs={grp.epochs}, "
                           f"got {seed!r}")

    @staticmethod
    def _is_table(grp: _Group) -> bool:
        """True for a group of final seed-mean values only (an imported or built-in table)."""
        return "imported" in grp.config or "builtin" in grp.config

    def _table_limit(self, grp: _Group, asked: str, why: str) -> str:
        """The one-line error for what a table of final values cannot answer, with the way out."""
        from .nats import download_hint

        holds = "; ".join(f"{g.dataset}@{g.epochs}: {', '.join(g.metrics)}" for g in self._groups.values())
        return (f"{self.name} ({self.version}) cannot answer {asked} for {grp.dataset} (epochs={grp.epochs}): "
                f"{why}. It holds seed-mean final values only ({holds}). Per-epoch curves, seeds, iepoch and costs "
                f"need the full NATS-Bench files: {download_hint(self.space)}, then run 'dnas bench convert --nats "
                f"DIR --space {self.space.name} --out STORE' and open STORE instead")

    def _present(self, grp: _Group) -> np.ndarray:
        """bool [n_seeds, n_slots]: which runs of the group exist."""
        return self._array(group_dir(grp.epochs, grp.dataset) + PRESENT)

    def _slot(self, index: int) -> int:
        slot = int(self.slots[index])
        if slot < 0:
            raise NotFound(f"arch {self.archs[index]} (index {index}) has no record in {self.path}")
        return slot

    def _take(self, file: str, epoch: int | slice, cols: Any) -> np.ndarray:
        arr = self._array(file)
        if cols is None:
            return arr[epoch]
        if isinstance(cols, np.ndarray):  # in two steps, so that the seed axis stays before the arch axis
            return arr[epoch][..., cols]
        return arr[epoch, ..., cols]

    def _read(self, grp: _Group, metric: str, epoch: int | slice, cols: Any = None) -> np.ndarray:
        """Raw values of ``metric`` at ``epoch`` for the slots ``cols`` (None: every slot), seeds on
        the second-last axis; NaN where the metric's split was not evaluated at that epoch."""
        values = self._take(grp.metrics[metric].file, epoch, cols)
        for file in grp.evaluated.get(metric, ()):
            values = np.where(np.isnan(self._take(file, epoch, cols)), np.nan, values)
        return values

    @staticmethod
    def _reduce(values: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Mean over seeds (axis 0) of the present ones, summed in seed order like the official API."""
        total = np.zeros(values.shape[1:])
        count = np.zeros(values.shape[1:])
        for k in range(values.shape[0]):
            total = total + np.where(present[k], values[k], 0.0)
            count = count + present[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def _check_args(self, *, arch: Any = _ANY, archs: Any = _ANY, dataset: Any = _ANY, metric: Any = _ANY,
                    epochs: Any = _ANY, seed: Any = _ANY, iepoch: Any = _ANY, as_frame: Any = _ANY) -> None:
        """Types of public arguments, before any lookup: ``TypeError`` naming the argument (values that
        are well typed but absent from the store are the lookups' ``ValueError`` / ``KeyError``).
        The common types are accepted by ``type(...) is`` first: this runs on every query."""
        if arch is not _ANY and type(arch) is not str and type(arch) is not int and (isinstance(arch, bool) or not
                isinstance(arch, (numbers.Integral, self.space.arch_type, list, tuple, np.ndarray))):
            raise WrongType(f"arch must be an index (int), an arch string, a {self.space.arch_type.__name__} or a "
                            f"sequence of ops, got {arch!r} ({type(arch).__name__})")
        if archs is not _ANY:
            if isinstance(archs, str) and archs != "all":
                raise InvalidInput(f"archs must be 'all' or a sequence of archs, got {archs!r} (one arch: query())")
            if isinstance(archs, (bytes, dict)) or not isinstance(archs, _Iterable):
                raise WrongType(f"archs must be 'all' or a sequence of archs, got {archs!r} ({type(archs).__name__})")
        if as_frame is not _ANY and not isinstance(as_frame, (bool, np.bool_)):
            raise WrongType(f"as_frame must be True or False, got {as_frame!r}")
        if dataset is not _ANY and type(dataset) is not str:
            check_str("dataset", dataset)
        if metric is not _ANY and type(metric) is not str:
            check_str("metric", metric)
        if epochs is not _ANY and epochs is not None and type(epochs) is not int:  # None: the lookup explains
            check_int("epochs", epochs)
        if seed is not _ANY and type(seed) is not str and type(seed) is not int:
            check_int("seed", seed)
        if iepoch is not _ANY and iepoch is not None and type(iepoch) is not int:
            check_int("iepoch", iepoch)

    # ---- public queries ------------------------------------------------------------------
    def query(self, arch: Any, dataset: str, metric: str, epochs: int, seed: Any = "mean",
              iepoch: int | None = None) -> float:
        """One metric of one arch after ``iepoch`` (default: the last epoch) of the ``epochs`` schedule."""
        self._check_args(dataset=dataset, metric=metric, epochs=epochs, seed=seed, iepoch=iepoch)
        return self._query(arch, dataset, metric, epochs, seed, iepoch)

    def _resolve(self, dataset: str, metric: str, epochs: int, seed: Any,
                 iepoch: int | None) -> tuple[_Group, Source, int | None, int]:
        """The group, the metric's source, the seed row (None: mean) and the epoch a lookup reads."""
        grp = self._group(dataset, epochs)
        return grp, self._source(grp, metric), self._seed_row(grp, seed), self._epoch(grp, iepoch)

    def _query(self, arch: Any, dataset: str, metric: str, epochs: int, seed: Any = "mean",
               iepoch: int | None = None) -> float:
        """``query`` without its argument checks, for callers that made them."""
        grp, src, row, e = self._resolve(dataset, metric, epochs, seed, iepoch)
        index = self.index(arch)
        slot = self._slot(index)
        present = self._present(grp)[:, slot]
        col = self._read(grp, metric, e, slot)
        if row is None:
            total, count = 0.0, 0
            for k in range(len(present)):
                if present[k]:
                    total += float(col[k])
                    count += 1
            if count == 0:
                raise NotFound(f"arch {self.archs[index]} (index {index}) has no {dataset} record for epochs={epochs}")
            value = total / count
        else:
            if not present[row]:
                raise NotFound(f"arch {self.archs[index]} (index {index}) has no run with seed {seed} on {dataset}")
            value = float(col[row])
        if value != value:  # NaN: NATS-Bench evaluated some splits only at the final epoch
            raise NotFound(f"{metric} of arch {self.archs[index]} on {dataset} (epochs={epochs}) is not recorded "
                           f"at iepoch={e} in {self.version} (NATS-Bench evaluates some splits only at the last "
                           f"epoch: try iepoch=None)")
        return value / (e + 1) if src.kind == "per-time" else value

    def query_many(self, archs: "Iterable[Any] | str", dataset: str, metric: str, epochs: int,
                   seed: Any = "mean", iepoch: int | None = None, as_frame: bool = False):
        """One metric for many archs (``"all"`` = every index); NaN where an arch has no record.

        Returns a float64 array in the order given, or with ``as_frame=True`` a DataFrame with
        columns ``index``, ``arch`` and the metric.
        """
        self._check_args(archs=archs, dataset=dataset, metric=metric, epochs=epochs, seed=seed, iepoch=iepoch,
                         as_frame=as_frame)
        return self._query_many(archs, dataset, metric, epochs, seed, iepoch, as_frame)

    def _query_many(self, archs: "Iterable[Any] | str", dataset: str, metric: str, epochs: int,
                    seed: Any = "mean", iepoch: int | None = None, as_frame: bool = False):
        """``query_many`` without its argument checks, for callers that made them."""
        grp, src, row, e = self._resolve(dataset, metric, epochs, seed, iepoch)
        if isinstance(archs, str) and archs == "all":
            idx = np.arange(self.n_archs)
        elif isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            idx = archs.astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_archs):
                raise NotFound(f"arch indices must be in [0, {self.n_archs})")
        else:
            idx = np.fromiter((self.index(a) for a in archs), dtype=np.int64)
        slots = self.slots[idx]
        present = self._present(grp)
        missing = slots < 0
        in_order = (isinstance(archs, str) and archs == "all") or np.array_equal(idx, np.arange(self.n_archs))
        if in_order and self._identity_slots:
            pv, vv = present, self._read(grp, metric, e)  # every arch, in official order: no gather
        else:
            s = np.where(missing, 0, slots)
            pv, vv = present[:, s] & ~missing, self._read(grp, metric, e, s)
        if row is None:
            out = self._reduce(vv, pv)
        else:
            out = np.where(pv[row], vv[row], np.nan)
        if src.kind == "per-time":
            out = out / (e + 1)
        if not as_frame:
            return out
        import pandas as pd

        archs_list = self.archs
        return pd.DataFrame({"index": idx, "arch": [archs_list[i] for i in idx], metric: out})

    def curve(self, arch: Any, dataset: str, metric: str, epochs: int, seed: Any = "mean") -> np.ndarray:
        """A metric at every epoch of the schedule (for convergence plots)."""
        self._check_args(dataset=dataset, metric=metric, epochs=epochs, seed=seed)
        grp = self._group(dataset, epochs)
        src = self._source(grp, metric)
        if self._is_table(grp):
            raise InvalidInput(self._table_limit(grp, f"a per-epoch curve of {metric}", "it holds only the last epoch"))
        row = self._seed_row(grp, seed)
        slot = self._slot(self.index(arch))
        present = self._present(grp)[:, slot]
        vals = self._read(grp, metric, slice(None), slot).T  # [seeds, epochs]
        if row is None:
            if not present.any():
                raise NotFound(f"arch {arch} has no {dataset} record for epochs={epochs}")
            out = self._reduce(vals, np.repeat(present[:, None], grp.n_epochs, axis=1))
        else:
            if not present[row]:
                raise NotFound(f"arch {arch} has no run with seed {seed} on {dataset}")
            out = vals[row].copy()
        if src.kind == "per-time":
            out = out / np.arange(1, grp.n_epochs + 1)
        return out

    def best(self, dataset: str, metric: str, epochs: int, *, seed: Any = "mean", iepoch: int | None = None,
             mode: str | None = None, flop_max: float | None = None, param_max: float | None = None) -> Best:
        """The arch with the best value (first index on ties), optionally under FLOP/param caps."""
        self._check_args(dataset=dataset, metric=metric, epochs=epochs, seed=seed, iepoch=iepoch)
        for name, cap in (("flop_max", flop_max), ("param_max", param_max)):
            if cap is not None:
                check_real(name, cap)
        mode = mode or default_mode(metric)
        if mode not in ("max", "min"):
            raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}")
        values = self._query_many("all", dataset, metric, epochs, seed, iepoch)
        ok = ~np.isnan(values)
        for key, cap in (("flops", flop_max), ("params", param_max)):
            if cap is not None:
                ok &= self._cost_vector(dataset, epochs, key) <= cap
        if not ok.any():
            raise NotFound(f"no arch in {self.path} has {metric} on {dataset} (epochs={epochs}) under the given caps")
        masked = np.where(ok, values, -np.inf if mode == "max" else np.inf)
        i = int(np.argmax(masked) if mode == "max" else np.argmin(masked))
        return Best(i, self.archs[i], float(values[i]))

    # ---- Benchmark interface ---------------------------------------------------------------
    def evaluate(self, arch: Any, dataset: str, *, epochs: int, seed: Any = "mean") -> Evaluation:
        return Evaluation(arch=self.archs[self.index(arch)], dataset=dataset,
                          metrics=self.record(arch, dataset, epochs, seed), cost=self.cost(arch, dataset, epochs),
                          source=f"{self.version} (tabular, epochs={epochs})")

    def describe(self) -> dict[str, Any]:
        """A JSON-safe summary of what the store holds."""
        n_present = int((self.slots >= 0).sum())
        return {"name": self.name, "path": str(self.path), "space": self.space.name, "version": self.version,
                "n_archs": self.n_archs, "n_with_records": n_present,
                "groups": [{"dataset": g.dataset, "epochs": g.epochs, "seeds": g.seeds,
                            "metrics": list(g.metrics)} for g in self._groups.values()],
                "source": self.meta.get("source")}

    def __repr__(self) -> str:
        return f"TabularBenchmark({self.version}, space={self.space.name}, name={self.name!r})"
