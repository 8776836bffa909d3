"""Tables shipped inside the package, opened by name (``benchmarks.open("nb201")``).

``nb201``: all 15,625 NATS-Bench topology-space (= NAS-Bench-201) cells in official index
order with their seed-mean final accuracies, built from published tables by ``build_nb201.py``
(see that file for every column's source). It needs no download; per-epoch curves, seeds and
costs need the full NATS-Bench files, converted with ``dnas bench convert``.
"""
from __future__ import annotations

from pathlib import Path

from suite.errors import NotFound

HERE = Path(__file__).resolve().parent
BUILTIN: dict[str, str] = {"nb201": "tss"}
"""Built-in table name -> the benchmark space it holds."""
DEFAULT_FOR_SEARCH_SPACE: dict[str, str] = {"nb201": "nb201"}
"""Space (``suite.spaces.REGISTRY`` name) -> the built-in table its architectures are looked up in when no
--bench is given."""
NO_BENCH = "none"
"""Pass ``--bench none`` to look nothing up."""


def builtin_path(name: str) -> Path:
    """The directory of built-in table ``name``; KeyError naming the built-in tables otherwise."""
    if name not in BUILTIN:
        raise NotFound(f"{name!r} is not a built-in table; built-in: {', '.join(BUILTIN)}")
    return HERE / name


def resolve_bench(bench: str | None, search_space: str | None) -> str | None:
    """The benchmark a command uses: ``bench`` as given, the space's built-in table when none is
    given, and nothing for ``"none"`` or a space without one."""
    if bench is None:
        from suite.spaces import space_entry

        entry = space_entry(str(search_space))
        return DEFAULT_FOR_SEARCH_SPACE.get(entry.name) if entry is not None else None
    return None if bench == NO_BENCH else bench


__all__ = ["BUILTIN", "DEFAULT_FOR_SEARCH_SPACE", "NO_BENCH", "builtin_path", "resolve_bench"]
