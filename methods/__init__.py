"""Search methods, one file each, behind one registry: ``@register_method("darts-v1")``.

Every module in this package is imported on first use, so adding a method is adding a file;
nothing outside this package knows method names.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, TypeVar

from suite.errors import InvalidInput

T = TypeVar("T")
_REGISTRY: dict[str, tuple[type, dict[str, Any]]] = {}


def register_method(name: str, **fixed: Any) -> Callable[[T], T]:
    """Register a ``Method`` subclass under ``name``; ``fixed`` hyperparameters define the variant."""

    def deco(cls: T) -> T:
        if name in _REGISTRY:
            raise InvalidInput(f"method {name!r} is registered twice")
        _REGISTRY[name] = (cls, dict(fixed))  # type: ignore[assignment]
        return cls

    return deco


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


def list_methods() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def method_class(name: str) -> tuple[type, dict[str, Any]]:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInput(f"unknown method {name!r}; registered: {', '.join(sorted(_REGISTRY)) or 'none'}") from None


def create_method(name: str, space: str, num_classes: int, in_channels: int = 3, **kwargs: Any):
    """Instantiate a registered method for a space and dataset shape (``seed``, ``device``, hyperparameters)."""
    cls, fixed = method_class(name)
    return cls(name, space, num_classes, in_channels, fixed=fixed, **kwargs)
