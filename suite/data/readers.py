"""Readers of the official on-disk formats: CIFAR-10/100 (python version), NATS-Bench's
ImageNet16-120, and scikit-learn's digits, each into :class:`ArrayDataset` halves."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.errors import FormatError, MissingFileError

from .arrays import ArrayDataset
from .safe_pickle import load_pickle

CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)
IMAGENET16_MEAN = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD = (63.22 / 255, 61.26 / 255, 65.09 / 255)

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
AUTODL_URL = "https://github.com/D-X-Y/AutoDL-Projects"

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
IMAGENET16_TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_DIRS = ("ImageNet16", "ImageNet16-120", "imagenet16", "imagenet16-120", "imagenet-16-120")


def _entry(batch: dict, key: str, path: Path) -> Any:
    """``batch[key]`` whether the pickle stored str or bytes keys."""
    for k in (key, key.encode()):
        if k in batch:
            return batch[k]
    keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in batch)
    raise FormatError(f"{path} has no {key!r} entry (it has {keys}); re-download it")


def _read_batch(path: Path, label_key: str, size: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,3,size,size] uint8 and raw labels [N] int64 of one channel-planar batch file."""
    batch = load_pickle(path, layout)
    data = np.asarray(_entry(batch, "data", path))
    labels = np.asarray(_entry(batch, label_key, path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * size * size:
        raise FormatError(f"{path}: 'data' must be uint8 [N, {3 * size * size}], got {data.dtype} "
                          f"{list(data.shape)}; re-download it")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise FormatError(f"{path}: {label_key!r} must be {len(data)} integers, got {labels.dtype} "
                          f"{list(labels.shape)}; re-download it")
    return data.reshape(-1, 3, size, size), labels.astype(np.int64)


def _check_labels(labels: np.ndarray, low: int, high: int, path: Path) -> None:
    """FormatError unless every label lies in ``[low, high]``."""
    if len(labels) and (labels.min() < low or labels.max() > high):
        raise FormatError(f"{path}: labels must lie in {low}..{high}, found {labels.min()}..{labels.max()}; "
                          f"re-download it")


def _find_dataset(data_dir: str | os.PathLike, subdirs: Sequence[str], files: Sequence[str],
                  shown: str, what: str, source: str) -> Path:
    """The folder holding ``files`` (``shown`` in messages): ``data_dir`` itself or one of its ``subdirs``."""
    root = Path(data_dir).expanduser()
    candidates = [root] + [root / s for s in subdirs]
    for cand in candidates:
        if (cand / files[0]).is_file():
            for name in files[1:]:
                if not (cand / name).is_file():
                    raise MissingFileError(f"{what}: {cand / name} is missing (the folder has the other files); "
                                           f"re-extract it from {source}")
            return cand
    also = f" (or {'/, '.join(subdirs[1:])}/)" if len(subdirs) > 1 else ""
    raise MissingFileError(f"{what} not found: looked for {subdirs[0]}/{{{shown}}}{also} in {root} and for "
                           f"those files in {root} itself; get it from {source} and extract it there")


def _array_dataset(images: np.ndarray, labels: np.ndarray, num_classes: int, mean: tuple[float, ...],
                   std: tuple[float, ...], name: str, crop_pad: int, hflip: bool) -> ArrayDataset:
    return ArrayDataset(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)),
                        num_classes, mean, std, name, crop_pad, hflip)


def load_cifar10(data_dir: str | os.PathLike) -> tuple[ArrayDataset, ArrayDataset]:
    """CIFAR-10 (50k train, 10k test) from ``cifar-10-batches-py/``, given it or its parent."""
    files = CIFAR10_TRAIN + ("test_batch",)
    where = _find_dataset(data_dir, ("cifar-10-batches-py",), files, "data_batch_1..5,test_batch",
                          "CIFAR-10 (python version)",
                          f"{CIFAR_URL} ('CIFAR-10 python version')")
    parts = []
    for names in (CIFAR10_TRAIN, ("test_batch",)):
        batches = [_read_batch(where / n, "labels", 32, "CIFAR-10") for n in names]
        for n, (_, lab) in zip(names, batches):
            _check_labels(lab, 0, 9, where / n)
        parts.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
    (xtr, ytr), (xte, yte) = parts
    return (_array_dataset(xtr, ytr, 10, CIFAR10_MEAN, CIFAR10_STD, "cifar10/train", 4, True),
            _array_dataset(xte, yte, 10, CIFAR10_MEAN, CIFAR10_STD, "cifar10/test", 4, True))


def load_cifar100(data_dir: str | os.PathLike) -> tuple[ArrayDataset, ArrayDataset]:
    """CIFAR-100 (fine labels; 50k train, 10k test) from ``cifar-100-python/``, given it or its parent."""
    where = _find_dataset(data_dir, ("cifar-100-python",), ("train", "test"), "train,test",
                          "CIFAR-100 (python version)",
                          f"{CIFAR_URL} ('CIFAR-100 python version')")
    out = []
    for split in ("train", "test"):
        x, y = _read_batch(where / split, "fine_labels", 32, "CIFAR-100")
        _check_labels(y, 0, 99, where / split)
        out.append(_array_dataset(x, y, 100, CIFAR100_MEAN, CIFAR100_STD, f"cifar100/{split}", 4, True))
    return out[0], out[1]


def load_imagenet16(data_dir: str | os.PathLike, num_classes: int = 120) -> tuple[ArrayDataset, ArrayDataset]:
    """ImageNet16-120 (train, val) from NATS-Bench's ImageNet16 folder: classes 1..120, mapped to 0..119."""
    files = IMAGENET16_TRAIN + ("val_data",)
    where = _find_dataset(data_dir, IMAGENET16_DIRS, files, "train_data_batch_1..10,val_data",
                          "ImageNet16-120 (NATS-Bench layout)",
                          f"the NATS-Bench / AutoDL-Projects instructions ({AUTODL_URL})")
    out = []
    for split, names in (("train", IMAGENET16_TRAIN), ("val", ("val_data",))):
        xs, ys = [], []
        for n in names:
            x, y = _read_batch(where / n, "labels", 16, "ImageNet16")
            _check_labels(y, 1, 1000, where / n)
            keep = y <= num_classes
            xs.append(x[keep])
            ys.append(y[keep] - 1)
        out.append(_array_dataset(np.concatenate(xs), np.concatenate(ys), num_classes, IMAGENET16_MEAN,
                                  IMAGENET16_STD, f"ImageNet16-{num_classes}/{split}", 2, True))
    return out[0], out[1]


def load_digits(seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """scikit-learn's 1797 real 8x8 digits as 1-channel uint8 (0..255): a fixed 80/20 train/test split.

    The permutation comes from ``seed`` (0 is the suite's fixed split); mean/std are the
    train part's. No augmentation: digits are neither crop- nor flip-invariant at 8 px.
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from None
    bunch = sk_load_digits()
    images = np.round(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(len(images))
    n_train = int(0.8 * len(images))
    tr, te = perm[:n_train], perm[n_train:]
    mean = (float(images[tr].mean()) / 255.0,)
    std = (float(images[tr].std()) / 255.0,)
    return (_array_dataset(images[tr], labels[tr], 10, mean, std, "digits/train", 0, False),
            _array_dataset(images[te], labels[te], 10, mean, std, "digits/test", 0, False))
