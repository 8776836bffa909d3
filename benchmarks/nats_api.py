"""The official NATS-Bench API, emulated over a store: ``get_more_info`` (``record``), ``get_cost_info``
(``cost``) and ``simulate_train_eval``, with the official rules (splits evaluated only at the last epoch, the
seed-888 params fix, the valtest fallback, ``random.choice`` of a seed).

``NatsApi`` is a mixin of the reader ``TabularBenchmark`` (``store.py``): it calls the reader's lookups
(``_group``, ``_query``, ``_present``, ...) and adds no state of its own.
"""
from __future__ import annotations

import random as _random
from typing import TYPE_CHECKING, Any

import numpy as np

from suite.errors import InvalidInput, NotFound, WrongType

from .metrics import COST_KEYS, FIELDS, VALID_ACCURACY, VALTEST_ACCURACY
from .layout import group_dir

if TYPE_CHECKING:
    from .clock import SimulatedClock


class NatsApi:
    """The NATS-compatible queries of ``TabularBenchmark``; only meaningful mixed into it."""

    def record(self, arch: Any, dataset: str, epochs: int, seed: Any = "mean",
               iepoch: int | None = None) -> dict[str, float]:
        """Every metric of one arch, keyed like the official ``get_more_info`` (without its comment).

        As there, a split whose loss or accuracy was not evaluated at ``iepoch`` is left out whole.
        """
        self._check_args(dataset=dataset, epochs=epochs, seed=seed, iepoch=iepoch)
        grp = self._group(dataset, epochs)
        index = self.index(arch)
        present = self._present(grp)[:, self._slot(index)]
        row = self._seed_row(grp, seed)
        if not (present.any() if row is None else present[row]):
            raise NotFound(f"arch {self.archs[index]} (index {index}) has no {dataset} run for epochs={epochs}, "
                           f"seed={seed}")
        out: dict[str, float] = {}
        for m in grp.metrics:
            try:
                out[m] = self._query(index, dataset, m, epochs, seed, iepoch)
            except KeyError:  # not evaluated at this epoch
                pass
        for split in {m.split("-", 1)[0] for m in grp.metrics}:
            if f"{split}-loss" in grp.metrics and (f"{split}-loss" not in out or f"{split}-accuracy" not in out):
                for f in FIELDS:
                    out.pop(f"{split}-{f}", None)
        return out

    def has_cost(self, dataset: str, epochs: int) -> bool:
        """Whether ``cost`` can answer for this dataset and schedule (a table of accuracies cannot)."""
        grp = self._group(dataset, epochs)
        return bool(grp.costs) or any(k in grp.metrics for k in COST_KEYS)

    def cost(self, arch: Any, dataset: str, epochs: int) -> dict[str, float | None]:
        """FLOPs (M), params (MB), latency (s) and time totals, as the official ``get_cost_info``."""
        self._check_args(dataset=dataset, epochs=epochs)
        grp = self._group(dataset, epochs)
        index = self.index(arch)
        if not grp.costs:  # an imported table: whatever cost columns it has
            if not any(k in grp.metrics for k in COST_KEYS):
                raise InvalidInput(self._table_limit(grp, "the cost (FLOPs, params, latency, times)",
                                                   "it has no cost columns"))
            return {k: self._query(index, dataset, k, epochs) for k in COST_KEYS if k in grp.metrics}
        slot = self._slot(index)
        present = self._present(grp)[:, slot]
        rows = [k for k in range(len(present)) if present[k]]
        if not rows:
            raise NotFound(f"arch {self.archs[index]} (index {index}) has no {dataset} record for epochs={epochs}")
        seeds = [grp.seeds[k] for k in rows]
        info: dict[str, float | None] = {}
        for key in ("flops", "params", "latency"):
            if key not in grp.costs:
                continue
            vals = [float(v) for v in self._array(grp.costs[key])[rows, slot]]
            if key == "latency":
                vals = [v for v in vals if v > 0]
                info[key] = sum(vals) / len(vals) if vals else None
                continue
            if len(vals) > 1 and len({f"{v:.5f}" for v in vals}) > 1 and 888 in seeds:
                vals = [vals[seeds.index(888)]]  # the official fix for legacy weight migration
            info[key] = sum(vals) / len(vals)
        for name in grp.time_sets:
            arr = self._array(f"{group_dir(grp.epochs, grp.dataset)}{name}.alltime.npy")
            totals = [float(arr[grp.n_epochs - 1, k, slot]) for k in rows]
            label = "train" if name == "train" else name
            if np.isnan(totals[0]):
                info[f"T-{label}@epoch"] = info[f"T-{label}@total"] = None
                continue
            info[f"T-{label}@epoch"] = sum(t / grp.n_epochs for t in totals) / len(totals)
            info[f"T-{label}@total"] = sum(totals) / len(totals)
        return info

    def _cost_vector(self, dataset: str, epochs: int, key: str) -> np.ndarray:
        """Per-arch FLOPs or params as ``cost`` computes them (NaN where an arch has no record)."""
        grp = self._group(dataset, epochs)
        if key not in grp.costs:
            if key in grp.metrics:
                return self._query_many("all", dataset, key, epochs)
            if self._is_table(grp):
                raise InvalidInput(self._table_limit(grp, f"a {key} cap", f"it has no {key} column"))
            raise InvalidInput(f"this store has no {key} for {dataset}; cannot apply a {key} cap")
        vals = self._array(grp.costs[key])
        present = self._present(grp)
        has = np.nonzero(self.slots >= 0)[0]
        s = self.slots[has]
        out = np.full(self.n_archs, np.nan)
        out[has] = self._reduce(vals[:, s], present[:, s])
        pv = np.where(present[:, s], vals[:, s], np.nan)
        differ = np.fmax.reduce(pv, axis=0) != np.fmin.reduce(pv, axis=0)
        for i in has[differ & ~np.isnan(out[has])]:  # rare: seeds disagree, apply the official rule exactly
            out[i] = self.cost(int(i), dataset, epochs)[key]
        return out

    def simulate_train_eval(self, arch: Any, dataset: str, epochs: int, iepoch: int | None = None,
                            rng: "_random.Random | int | None" = None,
                            clock: "SimulatedClock | None" = None) -> tuple[float, float | None, float, float]:
        """The official ``simulate_train_eval``: (valid accuracy, latency, time cost, total time so far).

        One seed is drawn with ``rng.choice`` as the official API draws with ``random.choice``
        (pass ``random.Random(s)`` to reproduce it); ``cifar10`` reads ``cifar10-valid``.
        The cost is added to ``clock`` when given, so a search reports the time it stands for.
        """
        self._check_args(dataset=dataset, epochs=epochs, iepoch=iepoch)
        if rng is not None and (isinstance(rng, bool) or not isinstance(rng, (_random.Random, int))):
            raise WrongType(f"rng must be a random.Random, an int seed or None, got {rng!r}")
        if dataset not in ("cifar10", "cifar100", "ImageNet16-120"):
            raise InvalidInput(f"simulate_train_eval takes cifar10, cifar100 or ImageNet16-120, got {dataset!r}")
        rng = rng if isinstance(rng, _random.Random) else _random.Random(rng)
        source = "cifar10-valid" if dataset == "cifar10" else dataset
        grp = self._group(source, epochs)
        if self._is_table(grp):
            raise InvalidInput(self._table_limit(grp, "simulate_train_eval", "it needs per-seed values and times"))
        index = self.index(arch)
        slot = self._slot(index)
        present = self._present(grp)[:, slot]
        seeds = [s for k, s in enumerate(grp.seeds) if present[k]]
        seed = rng.choice(seeds)
        try:
            acc = self._query(index, source, VALID_ACCURACY, epochs, seed, iepoch)
            per_time = self._query(index, source, "valid-per-time", epochs, seed, iepoch)
        except KeyError:  # valid not evaluated at iepoch: the official API falls back to valtest
            acc = self._query(index, source, VALTEST_ACCURACY, epochs, seed, iepoch)
            per_time = self._query(index, dataset, "valid-per-time", epochs, rng.choice(seeds), None)
        cost = self._query(index, source, "train-all-time", epochs, seed, iepoch) + per_time
        latency = self.cost(index, dataset, epochs).get("latency")
        total = clock.advance(cost) if clock is not None else cost
        return acc, latency, cost, total
