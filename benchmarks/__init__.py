"""Benchmarks: turn an architecture into metrics and cost.

``benchmarks.open(path)`` opens a tabular store made by ``dnas bench convert`` or
``dnas bench import``; training-based benchmarks share the same ``Benchmark`` interface.
"""
from __future__ import annotations

import os

from .base import Benchmark, Evaluation
from .store import Best, SimulatedClock, TabularBenchmark

__all__ = ["Benchmark", "Best", "Evaluation", "SimulatedClock", "TabularBenchmark", "open"]


def open(path: str | os.PathLike) -> TabularBenchmark:  # noqa: A001 - the documented name
    """Open a converted or imported tabular store (cheap: arrays are memory-mapped lazily)."""
    return TabularBenchmark(path)
