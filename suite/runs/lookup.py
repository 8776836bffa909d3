"""The per-epoch lookup of a search: a derived architecture on every dataset and epochs a benchmark holds."""
from __future__ import annotations

import math
from typing import Any

from suite.errors import DnasError


class Lookup:
    """Look a derived architecture up on every dataset and epochs setting a benchmark holds."""

    METRICS = ("valid-accuracy", "test-accuracy")

    def __init__(self, bench_path: str | None, search_space: Any) -> None:
        from benchmarks.builtin import NO_BENCH

        self.bench = None
        if bench_path and bench_path != NO_BENCH:
            import benchmarks

            self.bench = benchmarks.open(bench_path)
            if search_space.benchmark_space != self.bench.space.name:
                raise DnasError(f"benchmark {bench_path} holds the {self.bench.space.name} space; a "
                                f"{search_space.name} search can only be looked up in a "
                                f"{search_space.benchmark_space or 'no'} benchmark")
            self.columns = [(d, e, m) for d in self.bench.datasets() for e in self.bench.epochs_settings(d)
                            for m in self.METRICS if m in self.bench.metric_names(d, e)]

    def __call__(self, arch: Any) -> dict[str, float]:
        """Every column for one arch: exactly ``query(arch, ...)``, NaN where the benchmark has no value."""
        if self.bench is None:
            return {}
        index = self.bench.index(arch)  # resolve the arch once, not once per column
        out = {}
        for d, e, m in self.columns:
            try:
                out[f"{d}@{e}/{m}"] = self.bench.query(index, d, m, e)
            except KeyError:  # no record of this arch (or of this split) in the benchmark
                out[f"{d}@{e}/{m}"] = math.nan
        return out

    def describe(self) -> dict[str, Any] | None:
        """The benchmark's name and version for the final record (None without one)."""
        return {"name": self.bench.name, "version": self.bench.version} if self.bench is not None else None
