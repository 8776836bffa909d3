"""Metric, dataset and architecture-format names, in one place.

Metric names are NATS-Bench's own ``get_more_info`` keys (``test-accuracy``,
``valid-loss``, ``train-all-time`` ...), so a number here reads the same as in the paper's API.
Which raw evaluation set stands behind ``valid``/``test``/``valtest`` depends on the dataset,
exactly as in the official API:

==============  ========  ========  =========
dataset         valid     test      valtest
==============  ========  ========  =========
cifar10-valid   x-valid   ori-test  --
cifar10         --        ori-test  --
cifar100        x-valid   x-test    ori-test
ImageNet16-120  x-valid   x-test    ori-test
==============  ========  ========  =========

``cifar10`` is trained on train+valid, so it has no validation split: ask ``cifar10-valid``.
"""
from __future__ import annotations

from suite.errors import InvalidInput

SPLIT_SETS: dict[str, dict[str, str]] = {
    "cifar10-valid": {"train": "train", "valid": "x-valid", "test": "ori-test"},
    "cifar10": {"train": "train", "test": "ori-test"},
    "cifar100": {"train": "train", "valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
    "ImageNet16-120": {"train": "train", "valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
}
"""dataset -> split name -> the official evaluation-set name that holds it."""

FIELDS: tuple[str, ...] = ("loss", "accuracy", "per-time", "all-time")

TEST_ACCURACY = "test-accuracy"
VALID_ACCURACY = "valid-accuracy"
TRAIN_ACCURACY = "train-accuracy"
VALTEST_ACCURACY = "valtest-accuracy"
TEST_LOSS = "test-loss"
VALID_LOSS = "valid-loss"
TRAIN_LOSS = "train-loss"
TRAIN_TOP5 = "train-accuracy-top5"

COST_KEYS: tuple[str, ...] = ("flops", "params", "latency")
"""Cost entries; FLOPs in millions, params in MB (millions), latency in seconds (batch 256)."""

ARCH_FORMATS: tuple[str, ...] = ("auto", "string", "index", "ops", "naslib")
"""How an imported table names architectures (``dnas bench import --arch-format``)."""


def dataset_hint(dataset: str, metric: str | None = None) -> str:
    """An extra sentence for the classic confusions; empty when there is none."""
    if dataset == "cifar10" and metric is not None and metric.startswith("valid"):
        return (" cifar10 is trained on train+valid and has no validation split: "
                "use dataset='cifar10-valid' for validation metrics")
    if dataset.lower() in ("cifar-10", "c10", "cifar10valid", "cifar10_valid"):
        return " did you mean 'cifar10' (train+valid, test on ori-test) or 'cifar10-valid' (train only)?"
    if dataset.lower() in ("imagenet", "imagenet16", "imagenet16-120", "imagenet-16-120"):
        return " the NATS-Bench name is 'ImageNet16-120'"
    return ""


def default_mode(metric: str) -> str:
    """'max' for accuracies, 'min' for losses and times; otherwise the caller must say."""
    if metric.endswith("accuracy") or metric.endswith("top5"):
        return "max"
    if metric.endswith("loss") or metric.endswith("time") or metric in ("flops", "params", "latency"):
        return "min"
    raise InvalidInput(f"cannot tell whether larger or smaller {metric!r} is better: pass mode='max' or 'min'")
