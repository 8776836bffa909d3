"""Injected regressions: break a registered method on purpose, to prove a regression gate catches it.

``inject(name, method)`` patches the method's class in this process (and returns the undo):

- ``arch-lr-0``: the architecture optimizer's learning rate is 0 (α stays at its initial values);
- ``freeze-arch``: the architecture optimizer never steps (the same effect, another way in);
- ``random-derive``: the derivation rule picks a random op per edge (seeded by run seed and epoch)
  instead of reading the architecture weights.

A gate that passes one of these as "not worse" cannot tell that method's search from a broken one.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from suite.errors import InvalidInput

REGRESSIONS = ("arch-lr-0", "freeze-arch", "random-derive")


def _random_derive(self: Any) -> Any:
    """The space's own derivation rule applied to random weights: a random architecture per (seed, epoch)."""
    g = torch.Generator().manual_seed(1_000_003 * (self.seed + 1) + self.epoch)
    return self.space.derive_argmax({k: torch.rand(v.shape, generator=g) for k, v in self.arch_weights().items()})


def inject(name: str, method: str) -> Callable[[], None]:
    """Break ``method`` (a registered name) with regression ``name`` in this process; returns the undo."""
    from methods import method_class

    if name not in REGRESSIONS:
        raise InvalidInput(f"unknown injected regression {name!r}; choose from {', '.join(REGRESSIONS)}")
    cls = method_class(method)[0]
    if name == "random-derive":
        old = cls.__dict__.get("derive")
        cls.derive = _random_derive
    else:
        old = cls.__dict__.get("__init__")
        init = cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            if name == "arch-lr-0":
                for group in self.a_opt.param_groups:
                    group["lr"] = 0.0
            else:
                self.a_opt.step = lambda *a, **k: None

        cls.__init__ = __init__
    attr = "derive" if name == "random-derive" else "__init__"

    def undo() -> None:
        if old is None:
            delattr(cls, attr)
        else:
            setattr(cls, attr, old)

    return undo
