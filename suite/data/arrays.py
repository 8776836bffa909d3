"""In-memory image sets: :class:`ArrayDataset` (uint8 NCHW tensors) and :class:`TrainTest`."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from suite.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class ArrayDataset:
    """A labelled image set held in memory: uint8 ``images`` [N,C,H,W], int64 ``labels`` [N].

    ``crop_pad`` and ``hflip`` are the dataset's standard training augmentation (random crop
    with that zero padding, random horizontal flip); :class:`DeviceLoader` applies them.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    crop_pad: int = 0
    hflip: bool = False

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise InvalidInput(f"ArrayDataset {self.name!r}: images must be uint8 [N,C,H,W], got "
                               f"{self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (len(self.images),):
            raise InvalidInput(f"ArrayDataset {self.name!r}: labels must be int64 [{len(self.images)}], got "
                               f"{self.labels.dtype} {tuple(self.labels.shape)}")
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise InvalidInput(f"ArrayDataset {self.name!r}: mean/std need {channels} entries (one per channel), "
                               f"got {len(self.mean)}/{len(self.std)}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor, name: str) -> ArrayDataset:
        """The samples at ``indices`` (in that order) as a new dataset called ``name``."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ArrayDataset(self.images[idx], self.labels[idx], self.num_classes, self.mean, self.std,
                            name, self.crop_pad, self.hflip)


@dataclass(frozen=True)
class TrainTest:
    """Data for final training: fit on ``train``, report on ``test``.

    ``evals`` holds every official evaluation set by its NATS-Bench name (``ori-test``,
    ``x-valid``, ``x-test``), as in ``benchmarks.metrics.SPLIT_SETS``.
    """

    train: ArrayDataset
    test: ArrayDataset
    evals: dict[str, ArrayDataset] = field(default_factory=dict)

    def eval_set(self, name: str) -> ArrayDataset:
        """The evaluation set ``name``; a one-line KeyError lists the ones this dataset has."""
        if name not in self.evals:
            hint = " (x-valid/x-test need splits_dir, --splits-dir)" if name in ("x-valid", "x-test") else ""
            raise NotFound(f"{self.train.name} has no evaluation set {name!r}{hint}; it has {sorted(self.evals)}")
        return self.evals[name]
