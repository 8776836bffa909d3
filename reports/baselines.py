"""What a search is set against: the random architecture, computed over the whole table, and the
normalised scores of a found cell.

A reviewer's first question is how a method compares with picking an architecture at random (Yang et
al., ICLR 2020; Lindauer & Hutter, JMLR 2020). On a tabular benchmark that needs no sampling: the
expected value of a uniformly random cell is the table's mean, over all cells or over one cell per
isomorphism class (NB201: 15,625 cells, 6,466 classes).

Normalised scores of a value v (higher is better; lower-is-better metrics are mirrored):

- ``regret``: optimum - v (0 at the benchmark's best cell);
- ``scaled``: (optimum - v) / (optimum - random mean): 0 at the optimum, 1 at the random-architecture
  mean (Bayesmark's convention), above 1 worse than random;
- ``percentile``: the share of the unique cells that v beats, ties counting half, in % (100: the best).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from suite.errors import InvalidInput

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles of the random-architecture distribution a table shows."""


def parse_key(key: str) -> tuple[str, int, str]:
    """``cifar10@200/test-accuracy`` -> (dataset, epochs, metric)."""
    head, _, metric = key.partition("/")
    dataset, _, epochs = head.partition("@")
    if not metric or not dataset or not epochs.isdigit():
        raise InvalidInput(f"{key!r} is not a lookup column such as cifar10@200/test-accuracy")
    return dataset, int(epochs), metric


def higher_is_better(metric: str) -> bool:
    """Accuracies up, losses and times down (the benchmark's own default mode)."""
    return not (metric.endswith("loss") or metric.endswith("time") or "latency" in metric)


@dataclasses.dataclass(frozen=True)
class RandomArchitecture:
    """The distribution of a metric over a table's cells (``values``: every cell; ``unique``: one per class)."""

    key: str
    values: np.ndarray
    unique: np.ndarray
    higher_is_better: bool
    bench: Any = dataclasses.field(default=None, repr=False, compare=False)
    """The benchmark the values come from (random search at equal simulated time reads it)."""

    @property
    def optimum(self) -> float:
        return float(np.nanmax(self.values) if self.higher_is_better else np.nanmin(self.values))

    def summary(self, over: str = "cells") -> dict[str, Any]:
        """n, mean, std and ``QUANTILES`` over all cells (``over="cells"``) or the classes (``"classes"``)."""
        x = self.values if over == "cells" else self.unique
        x = x[np.isfinite(x)]
        out = {"over": over, "n": int(len(x)), "mean": float(x.mean()), "std": float(x.std(ddof=0))}
        out.update({f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES))})
        return out

    def scores(self, value: float) -> dict[str, float]:
        """``regret``, ``scaled`` and ``percentile`` of ``value`` (NaN in, NaN out)."""
        if value is None or not math.isfinite(value):
            return {"regret": math.nan, "scaled": math.nan, "percentile": math.nan}
        sign = 1.0 if self.higher_is_better else -1.0
        opt, mean = self.optimum, float(np.nanmean(self.values))
        u = self.unique[np.isfinite(self.unique)]
        beats = float(np.sum(sign * (value - u) > 0) + 0.5 * np.sum(value == u))
        return {"regret": sign * (opt - value), "scaled": (opt - value) / (opt - mean) if opt != mean else math.nan,
                "percentile": 100.0 * beats / len(u)}


def class_representatives(bench: Any) -> np.ndarray | None:
    """Official indices of one cell per isomorphism class (the lowest index of each; NATS-Bench's
    ``to_unique_str``), or None for a space without isomorphic cells. Parses every cell: compute once
    per benchmark and pass it to ``random_architecture``."""
    space = getattr(bench, "space", None)
    if space is None or space.name != "tss":
        return None
    first: dict[str, int] = {}
    for i, a in enumerate(bench.archs):
        first.setdefault(space.parse(a).unique_str(), i)
    return np.array(sorted(first.values()))


def random_architecture(bench: Any, key: str, representatives: np.ndarray | None | str = "compute"
                        ) -> RandomArchitecture:
    """The random-architecture distribution of lookup column ``key`` in ``bench`` (a tabular benchmark;
    classes: one cell per isomorphism class, ``class_representatives``, computed here unless given)."""
    dataset, epochs, metric = parse_key(key)
    values = np.asarray(bench.query_many("all", dataset, metric, epochs), dtype=float)
    reps = class_representatives(bench) if isinstance(representatives, str) else representatives
    return RandomArchitecture(key, values, values if reps is None else values[reps], higher_is_better(metric), bench)


def random_search_best(values: np.ndarray, samples: int, *, higher_is_better: bool = True) -> float:
    """The expected best of ``samples`` cells drawn uniformly with replacement, exactly: E[max] from the
    sorted values' order statistics (no sampling)."""
    x = np.sort(values[np.isfinite(values)])
    if not higher_is_better:
        x = -x[::-1]
    n = len(x)
    cdf = (np.arange(1, n + 1) / n) ** samples - (np.arange(0, n) / n) ** samples  # P(max is the i-th smallest)
    best = float(np.dot(cdf, x))
    return best if higher_is_better else -best


def random_search_beaten(values: np.ndarray, value: float, samples: int, *, higher_is_better: bool = True) -> float:
    """P(``value`` beats the best of ``samples`` cells drawn uniformly with replacement), ties counting half,
    exactly: F(<v)^k + (F(<=v)^k - F(<v)^k) / 2. The probability of improvement of one found cell over
    random search given the same number of lookups (NaN for a NaN value)."""
    if value is None or not math.isfinite(value):
        return math.nan
    x = values[np.isfinite(values)]
    if not higher_is_better:
        x, value = -x, -value
    below, at_most = float(np.mean(x < value)), float(np.mean(x <= value))
    return below ** samples + 0.5 * (at_most ** samples - below ** samples)


def scores_frame(bench: Any, key: str, values: Sequence[float]) -> list[dict[str, float]]:
    """The normalised scores of each value in ``values`` on ``key``."""
    dist = random_architecture(bench, key)
    return [dist.scores(v) for v in values]


def simulated_random_search(bench: Any, dataset: str, budget_s: float, *, repeats: int = 100, seed: int = 0,
                            epochs: int = 12) -> np.ndarray | None:
    """The incumbents (official indices) of ``repeats`` random searches that each spend ``budget_s`` simulated
    seconds under NATS-Bench's rule (``exps/NATS-algos/random_wo_share.py``): while the time so far is below
    the budget, draw a cell uniformly and "train" it with ``simulate_train_eval`` at ``epochs`` epochs (its
    time and valid accuracy, one seed drawn as the official API draws it); keep the best valid accuracy. The
    first cell is always drawn. None when ``bench`` has no per-seed times to simulate with."""
    import random as _random

    from benchmarks.clock import SimulatedClock

    rng = np.random.default_rng(seed)
    out = np.zeros(repeats, dtype=int)
    for r in range(repeats):
        clock, draw, best, best_acc, misses = SimulatedClock(), _random.Random(seed * 100_003 + r), None, -math.inf, 0
        while clock.elapsed < budget_s or best is None:
            if misses > 10_000:
                return None  # the store holds almost no records: nothing to draw from
            index = int(rng.integers(bench.n_archs))
            try:
                acc, _, _, _ = bench.simulate_train_eval(index, dataset, epochs, rng=draw, clock=clock)
            except (ValueError, AttributeError):  # a table without per-seed times (or not a NATS store)
                return None
            except KeyError:  # a cell the store holds no record of: it cannot be trained, draw another
                misses += 1
                continue
            if best is None or acc > best_acc:
                best, best_acc = index, acc
        out[r] = best
    return out


def simulation_dataset(dataset: str) -> str:
    """The dataset ``simulate_train_eval`` trains on for a lookup column's dataset (cifar10-valid: cifar10)."""
    return "cifar10" if dataset == "cifar10-valid" else dataset
