"""Search methods, one file each, behind one registry: ``@register_method("darts-v1")``.

Nothing outside this package knows method names; the runner asks ``get_method(name)``.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")
_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_method(name: str, **defaults: Any) -> Callable[[T], T]:
    """Register a method class (or factory) under ``name``, with hyperparameter defaults of that variant."""

    def deco(obj: T) -> T:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        _REGISTRY[name] = (lambda **kw: obj(**{**defaults, **kw})) if defaults else obj  # type: ignore[operator]
        return obj

    return deco


def list_methods() -> list[str]:
    return sorted(_REGISTRY)


def get_method(name: str) -> Callable[..., Any]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(list_methods()) or 'none yet'}") from None
