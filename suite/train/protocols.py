"""Named training protocols: the published settings for training an architecture from scratch.

``nats-200`` / ``nats-12``: NATS-Bench's own training of an NB201 network (AutoDL-Projects
``configs/nas-benchmark/hyper-opts/{200,12}E.config``: SGD nesterov, lr 0.1 cosine to 0 per
iteration, wd 5e-4, batch 256, C=16, N=5), so a trained result sits beside the recorded one.
``darts-cifar``: DARTS's CIFAR evaluation (quark0/darts ``train.py``: 20 cells, 36 channels,
600 epochs, batch 96, lr 0.025 cosine per epoch, wd 3e-4, cutout 16, drop-path 0.2, auxiliary
0.4, gradient clip 5). ``darts-imagenet``: the mobile setting (``train_imagenet.py``: 14 cells,
48 channels, 250 epochs, batch 128, lr 0.1 decayed x0.97 per epoch, wd 3e-5, label smoothing
0.1, auxiliary 0.4, clip 5). Every field can be overridden.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from suite.errors import InvalidInput
from suite.names import NATS_DATASETS
from suite.params import Param, choice, non_negative, positive, probability, resolve


@dataclass(frozen=True)
class Protocol:
    """A named set of published training settings; ``hp`` holds the (overridable) numbers."""

    name: str
    space: str          # "nb201" or "darts"
    datasets: tuple[str, ...]
    hp: dict[str, Any]
    doc: str

    def with_overrides(self, overrides: dict[str, Any]) -> "Protocol":
        return dataclasses.replace(self, hp=resolve(f"protocol {self.name}", _spec(self.hp), overrides))


def _spec(defaults: dict[str, Any]) -> dict[str, Param]:
    spec = {
        "epochs": positive("training epochs", 1, int),
        "batch_size": positive("images per batch", 1, int),
        "lr": positive("initial learning rate", 0.1, float),
        "lr_min": non_negative("final learning rate of the cosine schedule", 0.0, float),
        "schedule": choice("cosine (per epoch or per step) or exponential decay per epoch", "cosine",
                           "cosine", "cosine-step", "exp"),
        "lr_gamma": positive("per-epoch decay factor of the exponential schedule", 0.97, float),
        "momentum": probability("SGD momentum", 0.9),
        "nesterov": Param(False, "Nesterov momentum", bool),
        "weight_decay": non_negative("SGD weight decay", 5e-4, float),
        "label_smoothing": non_negative("label smoothing of the loss", 0.0, float),
        "cutout": non_negative("cutout square side in pixels (0 = off)", 0, int),
        "drop_path": probability("final drop-path probability (linear ramp from 0)", 0.0),
        "auxiliary": non_negative("weight of the auxiliary head's loss (0 = no head)", 0.0, float),
        "grad_clip": non_negative("max gradient norm (0 = off)", 0.0, float),
        "channels": positive("initial channels", 16, int),
        "depth": positive("cells per stage (nb201) or cells in all (darts)", 5, int),
        "image_size": positive("training crop size (ImageNet)", 224, int),
        "amp": Param(False, "bf16 autocast on the device (CUDA; CPU too for testing)", bool),
        "channels_last": Param(False, "channels-last memory format", bool),
        "compile": Param(False, "torch.compile the network", bool),
        "eval_every": positive("evaluate every this many epochs (and after the last)", 1, int),
    }
    return {k: dataclasses.replace(p, default=defaults.get(k, p.default)) for k, p in spec.items()}


_NATS = {"batch_size": 256, "lr": 0.1, "lr_min": 0.0, "schedule": "cosine-step", "momentum": 0.9, "nesterov": True,
         "weight_decay": 5e-4, "channels": 16, "depth": 5}

PROTOCOLS: dict[str, Protocol] = {
    "nats-200": Protocol("nats-200", "nb201", NATS_DATASETS, resolve("nats-200", _spec({**_NATS, "epochs": 200}), {}),
                         "NATS-Bench 200-epoch training of an NB201 network"),
    "nats-12": Protocol("nats-12", "nb201", NATS_DATASETS, resolve("nats-12", _spec({**_NATS, "epochs": 12}), {}),
                        "NATS-Bench 12-epoch training of an NB201 network"),
    "darts-cifar": Protocol("darts-cifar", "darts", ("cifar10", "cifar100"), resolve("darts-cifar", _spec({
        "epochs": 600, "batch_size": 96, "lr": 0.025, "lr_min": 0.0, "schedule": "cosine", "momentum": 0.9,
        "weight_decay": 3e-4, "cutout": 16, "drop_path": 0.2, "auxiliary": 0.4, "grad_clip": 5.0, "channels": 36,
        "depth": 20}), {}), "DARTS CIFAR evaluation network (quark0/darts train.py)"),
    "darts-imagenet": Protocol("darts-imagenet", "darts", ("imagenet",), resolve("darts-imagenet", _spec({
        "epochs": 250, "batch_size": 128, "lr": 0.1, "schedule": "exp", "lr_gamma": 0.97, "momentum": 0.9,
        "weight_decay": 3e-5, "label_smoothing": 0.1, "auxiliary": 0.4, "grad_clip": 5.0, "channels": 48,
        "depth": 14}), {}), "DARTS ImageNet mobile setting (quark0/darts train_imagenet.py)"),
}


def get_protocol(name: str, overrides: dict[str, Any] | None = None) -> Protocol:
    if name not in PROTOCOLS:
        raise InvalidInput(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name].with_overrides(overrides or {})
