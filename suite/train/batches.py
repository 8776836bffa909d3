"""The data of a training run on its device: shuffled, augmented train batches and named evaluation sets."""
from __future__ import annotations

from typing import Any, Iterator

import torch

from suite.errors import DnasError

from .protocols import Protocol

Batch = tuple[torch.Tensor, torch.Tensor]


class TrainData:
    """Train batches (this rank's shard) and named evaluation sets of a dataset, on the device.

    CIFAR-style datasets load whole onto the device (``suite.data.DeviceLoader``); ImageNet streams
    from class folders. ``evals`` names the evaluation sets (the split files' names, else ``ori-test``)."""

    def __init__(self, dataset: str, protocol: Protocol, data_dir: Any, splits_dir: Any, device: str, seed: int,
                 channels_last: bool, shard: tuple[int, int] = (0, 1)) -> None:
        from suite.data import DeviceLoader, ImageFolderDataset, train_test

        self.imagenet = dataset == "imagenet"
        bs = protocol.hp["batch_size"]
        if self.imagenet:
            if data_dir is None:
                raise DnasError("imagenet needs --data-dir: a folder with train/ and val/ class folders")
            self.folder = ImageFolderDataset(data_dir)
            self.num_classes, self.in_channels = self.folder.num_classes, 3
            self.shape = (3, protocol.hp["image_size"], protocol.hp["image_size"])
            self.evals: dict[str, Any] = {"val": None}
            self.seed, self.bs, self.device, self.cl, self.shard = seed, bs, device, channels_last, shard
            return
        tt = train_test(dataset, data_dir, splits_dir)
        self.num_classes, self.in_channels = tt.train.num_classes, tt.train.images.shape[1]
        self.shape = tuple(tt.train.images.shape[1:])
        self.train = DeviceLoader(tt.train, min(bs, len(tt.train)), device, augment=True, seed=seed,
                                  channels_last=channels_last, shard=shard)
        sets = tt.evals or {"ori-test": tt.test}
        self.evals = {name: DeviceLoader(ds, min(bs, len(ds)), device, augment=False, seed=seed, drop_last=False,
                                         shuffle=False, channels_last=channels_last) for name, ds in sets.items()}

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        if self.imagenet:
            from suite.data import normalize

            for x, y in self.folder.batches("train", self.bs, seed=self.seed, epoch=epoch, size=self.shape[1],
                                            shard=self.shard):
                x = normalize(x.to(self.device), self.folder.mean, self.folder.std)
                yield (x.contiguous(memory_format=torch.channels_last) if self.cl else x), y.to(self.device)
            return
        self.train.set_epoch(epoch)
        yield from self.train

    def train_steps(self) -> int | None:
        """Train batches per epoch (None when streamed from folders)."""
        return None if self.imagenet else len(self.train)

    def eval_batches(self, name: str) -> Iterator[Batch]:
        if self.imagenet:
            from suite.data import normalize

            for x, y in self.folder.batches("val", self.bs, size=self.shape[1]):
                yield normalize(x.to(self.device), self.folder.mean, self.folder.std), y.to(self.device)
            return
        loader = self.evals[name]
        loader.set_epoch(0)
        yield from loader
