"""Declared, validated hyperparameters: plain keyword arguments checked once, then recorded.

Every failure reads "The 'lr' parameter of darts-v1 must be > 0. Got -1 instead." and an
unknown key is an error that lists the known ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from suite.errors import InvalidInput


@dataclass(frozen=True)
class Param:
    """A hyperparameter: its default, its type, a constraint and one line of documentation."""

    default: Any
    doc: str
    kind: type | tuple[type, ...] | None = None
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    choices: tuple[Any, ...] | None = None


def positive(doc: str, default: Any, kind: type | tuple[type, ...] = (int, float)) -> Param:
    return Param(default, doc, kind, lambda v: v > 0, "> 0")


def non_negative(doc: str, default: Any, kind: type | tuple[type, ...] = (int, float)) -> Param:
    return Param(default, doc, kind, lambda v: v >= 0, ">= 0")


def probability(doc: str, default: float) -> Param:
    """A probability that must leave something: in [0, 1) (drop-path, dropout)."""
    return Param(default, doc, float, lambda v: 0 <= v < 1, "in [0, 1)")


def fraction(doc: str, default: float) -> Param:
    """A share of something, in [0, 1]."""
    return Param(default, doc, float, lambda v: 0 <= v <= 1, "in [0, 1]")


def choice(doc: str, default: Any, *choices: Any) -> Param:
    return Param(default, doc, None, None, "", tuple(choices))


def _coerce(value: Any, kind: type | tuple[type, ...] | None) -> Any:
    """Accept ints for floats and strings from the command line / YAML."""
    if kind is None:
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return value
    if isinstance(value, kinds):
        return value
    if isinstance(value, str):
        for k in kinds:
            try:
                if k is bool:
                    if value.lower() in ("true", "1", "yes", "false", "0", "no"):
                        return value.lower() in ("true", "1", "yes")
                    continue
                return k(value)
            except ValueError:
                continue
    if float in kinds and isinstance(value, int):
        return float(value)
    return value


def resolve(owner: str, spec: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each value coerced and checked."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0]!r} for {owner}; known: {', '.join(sorted(spec))}")
    out: dict[str, Any] = {}
    for name, p in spec.items():
        value = _coerce(given[name], p.kind) if name in given else p.default
        if p.choices is not None and value not in p.choices:
            raise InvalidInput(f"The {name!r} parameter of {owner} must be one of {list(p.choices)}. Got {value!r} instead.")
        if p.kind is not None and value is not None:
            kinds = p.kind if isinstance(p.kind, tuple) else (p.kind,)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                names = " or ".join(k.__name__ for k in kinds)
                raise InvalidInput(f"The {name!r} parameter of {owner} must be {names}. Got {value!r} instead.")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"The {name!r} parameter of {owner} must be a finite number. Got {value!r} instead.")
        if p.check is not None and value is not None and not p.check(value):
            raise InvalidInput(f"The {name!r} parameter of {owner} must be {p.rule}. Got {value!r} instead.")
        out[name] = value
    return out
