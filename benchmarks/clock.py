"""Simulated time: what a table-lookup search stands for, as the official ``simulate_train_eval`` counts it."""
from __future__ import annotations


class SimulatedClock:
    """Time that a table-lookup search stands for, without waiting it (seconds)."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def advance(self, seconds: float) -> float:
        self.elapsed += seconds
        return self.elapsed
