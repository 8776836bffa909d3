"""Dataset names, in one place: the four NATS-Bench records, and the suite's small offline set."""
from __future__ import annotations

NATS_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
"""The datasets NATS-Bench records, in its order (``cifar10-valid`` trains on half the train set)."""

DATASETS: tuple[str, ...] = NATS_DATASETS + ("digits",)
"""What searches and training read (``suite.data``): NATS-Bench's datasets, plus scikit-learn's digits."""
