"""The device loader: a whole :class:`ArrayDataset` on the device, shuffled, augmented (crop and
flip) and normalised there, as a pure function of ``(seed, epoch)``."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from suite.errors import InvalidInput

from .arrays import ArrayDataset


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 [B,C,H,W] -> ``(x/255 - mean) / std`` in ``dtype``, on the images' device (math in float32)."""
    shape = (1, len(mean), 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(shape)
    scale = 1.0 / (255.0 * std_t)
    shift = -torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape) / std_t
    return torch.addcmul(shift, images.to(torch.float32), scale).to(dtype)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator whose stream is a pure, well-mixed function of (seed, epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _crop_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Batched random crop (zero padding ``pad``, top-left ``offsets`` [B,2]) and horizontal flip, one gather."""
    b, c, h, w = images.shape
    pw = w + 2 * pad
    padded = images.new_zeros((b, c, h + 2 * pad, pw))
    padded[:, :, pad:pad + h, pad:pad + w] = images
    rows = offsets[:, :1] + torch.arange(h, device=images.device)            # [B,H]
    cols = offsets[:, 1:] + torch.arange(w, device=images.device)            # [B,W]
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    flat = (rows[:, :, None] * pw + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return padded.view(b, c, -1).gather(2, flat).view(b, c, h, w)


class DeviceLoader:
    """Batches of a whole :class:`ArrayDataset` held on ``device``, augmented and normalised there.

    Iterating yields ``(images, labels)``: float ``dtype`` [B,C,H,W] normalised with the
    dataset's mean/std, int64 labels. Each pass uses the current epoch and advances it by
    one; ``set_epoch(e)`` picks the next pass's epoch. Order and augmentation are a pure
    function of ``(seed, epoch)``, so a run resumed at an epoch boundary sees the same batches.
    """

    def __init__(self, dataset: ArrayDataset, batch_size: int, device: str | torch.device, augment: bool,
                 seed: int, drop_last: bool = True, shuffle: bool = True, *, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32, shard: tuple[int, int] = (0, 1)) -> None:
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be >= 1, got {batch_size}")
        if seed < 0:
            raise InvalidInput(f"seed must be >= 0, got {seed}")
        if not dtype.is_floating_point:
            raise InvalidInput(f"dtype must be a floating-point torch dtype, got {dtype}")
        if drop_last and len(dataset) < batch_size:
            raise InvalidInput(f"batch_size {batch_size} exceeds the {len(dataset)} samples of {dataset.name} with "
                               f"drop_last=True, which gives no batch: lower batch_size or pass drop_last=False")
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.augment = augment
        self.seed = seed
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.channels_last = channels_last
        self.dtype = dtype
        self.shard = shard  # (rank, world): each rank yields its slice of every global batch (DDP)
        self.epoch = 0
        self._images = dataset.images.to(self.device)
        self._labels = dataset.labels.to(self.device)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order and augmentation depend only on seed and epoch)."""
        if epoch < 0:
            raise InvalidInput(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        gen = _epoch_generator(self.seed, epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        pad, flip = self.dataset.crop_pad, self.dataset.hflip
        do_aug = self.augment and (pad > 0 or flip)
        if do_aug:
            offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
            flips = torch.rand(n, generator=gen) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
            offsets, flips = offsets.to(self.device), flips.to(self.device)
        order = order.to(self.device)
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            idx = order[sl]
            images = self._images[idx]
            if do_aug:
                images = _crop_flip(images, offsets[sl], flips[sl], pad)
            if self.shard[1] > 1:
                images, idx = images[self.shard[0]::self.shard[1]], idx[self.shard[0]::self.shard[1]]
            x = normalize(images, self.dataset.mean, self.dataset.std, self.dtype)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self._labels[idx]
