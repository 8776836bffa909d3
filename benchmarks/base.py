"""The one interface every benchmark implements: an architecture in, metrics and cost out."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """What a benchmark says about one architecture on one dataset."""

    arch: str
    dataset: str
    metrics: dict[str, float]
    cost: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    run: str | None = None
    """The run directory a training benchmark wrote (None for a lookup)."""


class Benchmark(abc.ABC):
    """Turns an architecture into metrics and cost: by table lookup or by training it."""

    kind: str = "abstract"

    @abc.abstractmethod
    def evaluate(self, arch: Any, dataset: str, *, epochs: int, seed: Any = "mean") -> Evaluation:
        """Metrics and cost of ``arch`` trained ``epochs`` epochs on ``dataset``."""

    @abc.abstractmethod
    def datasets(self, epochs: int | None = None) -> list[str]:
        """Datasets this benchmark can evaluate on."""
