"""Learning-rate schedules: the cosine anneal every recipe here uses, and a protocol's schedule."""
from __future__ import annotations

import math
from typing import Any


def cosine(high: float, low: float, step: float, total: float) -> float:
    """Cosine anneal from ``high`` (step 0) to ``low`` (step ``total``), as SGDR without restarts."""
    return low + (high - low) * (1 + math.cos(math.pi * step / total)) / 2


def learning_rate(hp: dict[str, Any], epoch: float) -> float:
    """A protocol's learning rate at (fractional) ``epoch``: cosine per epoch or per step, or exponential."""
    if hp["schedule"] == "exp":
        return hp["lr"] * hp["lr_gamma"] ** math.floor(epoch)
    e = epoch if hp["schedule"] == "cosine-step" else math.floor(epoch)
    return cosine(hp["lr"], hp["lr_min"], e, hp["epochs"])
