"""Architecture spaces: encodings, op tables and (later) supernets.

``get_space("tss")`` returns a small descriptor that the benchmarks and the CLI use to parse,
encode and enumerate architectures without knowing which space they hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import nb201, sss
from .nb201 import Arch
from .sss import SizeArch

__all__ = ["Arch", "SizeArch", "Space", "get_space", "SPACES"]


@dataclass(frozen=True)
class Space:
    """What the tabular layer needs to know about a space."""

    name: str
    num_archs: int
    arch_type: type
    parse: Callable[[str], Any]
    from_code: Callable[[int], Any]
    coerce: Callable[[Any], Any]
    official_prefix: str
    """Base name of the official NATS-Bench files, e.g. ``NATS-tss-v1_0-3ffb9``."""


SPACES: dict[str, Space] = {
    "tss": Space("tss", nb201.NUM_ARCHS, Arch, Arch.parse, Arch.from_code, nb201.as_arch,
                 "NATS-tss-v1_0-3ffb9"),
    "sss": Space("sss", sss.NUM_ARCHS, SizeArch, SizeArch.parse, SizeArch.from_code, sss.as_size_arch,
                 "NATS-sss-v1_0-50262"),
}
_ALIASES = {"tss": "tss", "topology": "tss", "nb201": "tss", "nas-bench-201": "tss",
            "sss": "sss", "size": "sss"}


def get_space(name: str) -> Space:
    """Look a space up by name or alias (tss/topology/nb201, sss/size)."""
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown space {name!r}; choose one of: tss (= nb201, topology), sss (= size)")
    return SPACES[key]
