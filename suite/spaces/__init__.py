"""Architecture spaces: one registry of every space and its names, and their encodings.

``REGISTRY`` holds one entry per space (``nb201``, ``darts``, ``sss``) with every name it
answers to and, for a space a tabular benchmark can hold, its encoding (``TabularSpace``: parse,
encode and enumerate architectures, under the benchmark's name ``tss`` / ``sss``).
``get_tabular_space("tss")`` returns that encoding; ``suite.spaces.search.get_search_space`` the
searchable view (supernet, α groups, derivation) of the same entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from suite.errors import InvalidInput

from . import nb201, sss
from .nb201 import Arch
from .sss import SizeArch

__all__ = ["Arch", "REGISTRY", "SizeArch", "SPACES", "SpaceEntry", "TabularSpace", "get_tabular_space", "space_entry"]


@dataclass(frozen=True)
class TabularSpace:
    """What the tabular layer needs to know about a space."""

    name: str
    num_archs: int
    arch_type: type
    parse: Callable[[str], Any]
    from_code: Callable[[int], Any]
    coerce: Callable[[Any], Any]
    official_prefix: str
    """Base name of the official NATS-Bench files, e.g. ``NATS-tss-v1_0-3ffb9``."""


@dataclass(frozen=True)
class SpaceEntry:
    """One space: its name, the other names it answers to, and its tabular encoding (None: no table holds it)."""

    name: str
    aliases: tuple[str, ...]
    table: TabularSpace | None


REGISTRY: dict[str, SpaceEntry] = {e.name: e for e in (
    SpaceEntry("nb201", ("tss", "topology", "nas-bench-201"),
               TabularSpace("tss", nb201.NUM_ARCHS, Arch, Arch.parse, Arch.from_code, nb201.as_arch, "NATS-tss-v1_0-3ffb9")),
    SpaceEntry("darts", ("darts-cnn",), None),
    SpaceEntry("sss", ("size",),
               TabularSpace("sss", sss.NUM_ARCHS, SizeArch, SizeArch.parse, SizeArch.from_code, sss.as_size_arch,
                            "NATS-sss-v1_0-50262")),
)}
_BY_NAME = {n: e for e in REGISTRY.values() for n in (e.name, *e.aliases)}
SPACES: dict[str, TabularSpace] = {e.table.name: e.table for e in REGISTRY.values() if e.table is not None}
"""The spaces a tabular benchmark can hold, under the benchmark's names (tss, sss)."""


def space_entry(name: str) -> SpaceEntry | None:
    """The registry entry a space name or alias (any case) names, None for no space."""
    return _BY_NAME.get(str(name).lower())


def get_tabular_space(name: str) -> TabularSpace:
    """The tabular encoding of a space, by name or alias (tss/topology/nb201, sss/size)."""
    entry = space_entry(name)
    if entry is None or entry.table is None:
        raise InvalidInput(f"unknown space {name!r}; choose one of: tss (= nb201, topology), sss (= size)")
    return entry.table
