"""Benchmarks: turn an architecture into metrics and cost.

``benchmarks.open(path)`` opens a tabular store made by ``dnas bench convert`` or
``dnas bench import``, or a table shipped with the package by name (``benchmarks.open("nb201")``:
seed-mean final accuracies of every NB201 cell, no download needed); training-based
benchmarks share the same ``Benchmark`` interface.

The tabular classes load on first use, so importing a light submodule (``benchmarks.builtin``,
``benchmarks.metrics``) for a command-line parser does not load numpy and the store.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .base import Benchmark, Evaluation
from .builtin import BUILTIN, builtin_path

if TYPE_CHECKING:
    from .clock import SimulatedClock
    from .store import Best, TabularBenchmark

__all__ = ["BUILTIN", "Benchmark", "Best", "Evaluation", "SimulatedClock", "TabularBenchmark", "open"]

_LAZY = {"Best": "store", "TabularBenchmark": "store", "SimulatedClock": "clock"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open(path: str | os.PathLike) -> TabularBenchmark:  # noqa: A001 - the documented name
    """Open a converted or imported tabular store, or a built-in table by name (``"nb201"``).

    Cheap: arrays are memory-mapped lazily. A built-in name wins over a directory of that name
    in the working directory; write ``./nb201`` for the directory.
    """
    from .store import TabularBenchmark

    if isinstance(path, str) and path in BUILTIN:
        return TabularBenchmark(builtin_path(path), name=path)
    return TabularBenchmark(path)
