"""Full-size ImageNet streamed from class folders (the DARTS mobile-setting evaluation)."""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from suite.errors import FormatError, InvalidInput, MissingFileError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


def _random_resized_box(width: int, height: int, u: np.ndarray) -> tuple[float, float, float, float]:
    """torchvision's RandomResizedCrop box (scale 0.08..1, ratio 3/4..4/3) from uniforms ``u`` [10,4]."""
    area = width * height
    log_lo, log_hi = math.log(3 / 4), math.log(4 / 3)
    for a, r, y, x in u:
        target = area * (0.08 + a * (1.0 - 0.08))
        ratio = math.exp(log_lo + r * (log_hi - log_lo))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(y * (height - h + 1))
            left = int(x * (width - w + 1))
            return left, top, left + w, top + h
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, int(round(width / (3 / 4)))
    elif ratio > 4 / 3:
        h, w = height, int(round(height * (4 / 3)))
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class ImageFolderDataset:
    """ImageNet-style folders ``root/{train,val}/<class>/<image>``, decoded lazily with PIL.

    Classes are the sorted folder names of ``train/``. :meth:`batches` streams uint8
    [B,3,size,size] batches: random-resized-crop + flip for ``train``, resize + center crop
    for ``val``; pass them through :func:`normalize` with ``self.mean``/``self.std``.
    """

    mean = IMAGENET_MEAN
    std = IMAGENET_STD

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        train = self.root / "train"
        if not train.is_dir():
            raise MissingFileError(f"ImageNet folder layout not found: expected {train}/<class>/<image> (and "
                                   f"{self.root / 'val'}/<class>/<image>); get ImageNet from https://image-net.org "
                                   f"and sort val/ into class folders")
        self.classes = sorted(d.name for d in train.iterdir() if d.is_dir())
        if not self.classes:
            raise FormatError(f"{train} has no class folders; expected {train}/<class>/<image>")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self._samples: dict[str, list[tuple[Path, int]]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def samples(self, split: str) -> list[tuple[Path, int]]:
        """(path, class index) of every image of ``split`` ('train' or 'val'), sorted; scanned once."""
        if split not in ("train", "val"):
            raise InvalidInput(f"split must be 'train' or 'val', got {split!r}")
        if split not in self._samples:
            base = self.root / split
            if not base.is_dir():
                raise MissingFileError(f"{base} not found: ImageNet needs {base}/<class>/<image> beside train/")
            extra = sorted(d.name for d in base.iterdir() if d.is_dir() and d.name not in self.class_to_idx)
            if extra:
                raise FormatError(f"{base} has class folders absent from train/ (e.g. {extra[0]!r}); "
                                  f"both splits need the same classes")
            found = [(p, self.class_to_idx[c]) for c in self.classes if (base / c).is_dir()
                     for p in sorted((base / c).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
            if not found:
                raise FormatError(f"{base} holds no images in class folders; sort it into {base}/<class>/<image>")
            self._samples[split] = found
        return self._samples[split]

    def batches(self, split: str, batch_size: int, *, seed: int = 0, epoch: int = 0, size: int = 224,
                resize: int = 256, workers: int = 0, drop_last: bool | None = None,
                shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Stream ``(uint8 images [B,3,size,size], int64 labels)``; train order and crops depend on (seed, epoch).

        ``drop_last`` defaults to True for train, False for val; ``workers`` > 0 decodes in threads;
        ``shard=(rank, world)`` decodes only this rank's slice of every global batch.
        """
        from PIL import Image

        samples = self.samples(split)
        train = split == "train"
        drop_last = train if drop_last is None else drop_last
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))
        order = rng.permutation(len(samples)) if train else np.arange(len(samples))

        def decode(job: tuple[Path, np.ndarray, bool]) -> np.ndarray:
            path, u, flip = job
            with Image.open(path) as img:
                img = img.convert("RGB")
                if train:
                    box = _random_resized_box(img.width, img.height, u)
                else:
                    scale = resize / min(img.width, img.height)
                    side = size / scale
                    left, top = (img.width - side) / 2, (img.height - side) / 2
                    box = (left, top, left + side, top + side)
                out = img.resize((size, size), Image.Resampling.BILINEAR, box=box)
                if flip:
                    out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                return np.asarray(out, dtype=np.uint8)

        n_batches = len(order) // batch_size if drop_last else math.ceil(len(order) / batch_size)
        pool = ThreadPoolExecutor(workers) if workers > 0 else None
        try:
            for i in range(n_batches):
                idx = order[i * batch_size:(i + 1) * batch_size]
                u = rng.random((len(idx), 10, 4))
                flips = rng.random(len(idx)) < 0.5 if train else np.zeros(len(idx), dtype=bool)
                mine = range(shard[0], len(idx), shard[1])  # this rank's slice of the global batch (DDP)
                jobs = [(samples[idx[k]][0], u[k], bool(flips[k])) for k in mine]
                idx = idx[shard[0]::shard[1]]
                arrays = list(pool.map(decode, jobs)) if pool else [decode(job) for job in jobs]
                images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
                labels = torch.tensor([samples[j][1] for j in idx], dtype=torch.int64)
                yield images, labels
        finally:
            if pool:
                pool.shutdown(wait=False, cancel_futures=True)
