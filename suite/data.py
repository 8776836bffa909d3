"""Datasets for search and final training, read from their official on-disk layouts.

CIFAR-10/100 (python version), NATS-Bench's ImageNet16-120 and scikit-learn's digits load
into an :class:`ArrayDataset` (uint8 NCHW tensors); the NATS-Bench split files pick the
halves a search or a ``cifar10-valid`` run uses, exactly as AutoDL-Projects does; a
:class:`DeviceLoader` keeps the whole set on the device and shuffles, augments and
normalises there, as a pure function of ``(seed, epoch)``. :class:`ImageFolderDataset`
streams full-size ImageNet from class folders.

Pickled dataset files are read with an unpickler that only accepts the few numpy globals
such batches hold, so a tampered file is a :class:`FormatError`, never code execution.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.errors import FormatError, MissingFileError

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DeviceLoader",
    "ImageFolderDataset",
    "TrainTest",
    "load_cifar10",
    "load_cifar100",
    "load_digits",
    "load_imagenet16",
    "normalize",
    "read_split",
    "search_split",
    "train_test",
]

DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120", "digits")
"""Dataset names :func:`search_split` and :func:`train_test` accept (NATS-Bench's, plus digits)."""

CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)
IMAGENET16_MEAN = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD = (63.22 / 255, 61.26 / 255, 65.09 / 255)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
AUTODL_URL = "https://github.com/D-X-Y/AutoDL-Projects"
SPLITS_WHERE = "it is published in D-X-Y/AutoDL-Projects configs/nas-benchmark/ (" + AUTODL_URL + ")"

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
IMAGENET16_TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_DIRS = ("ImageNet16", "ImageNet16-120", "imagenet16", "imagenet16-120", "imagenet-16-120")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


# ----------------------------------------------------------------------------- data holder


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
            raise ValueError(f"ArrayDataset {self.name!r}: images must be uint8 [N,C,H,W], got "
                             f"{self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (len(self.images),):
            raise ValueError(f"ArrayDataset {self.name!r}: labels must be int64 [{len(self.images)}], got "
                             f"{self.labels.dtype} {tuple(self.labels.shape)}")
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"ArrayDataset {self.name!r}: mean/std need {channels} entries (one per channel), "
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
            hint = " (x-valid/x-test need protocol_dir)" if name in ("x-valid", "x-test") else ""
            raise KeyError(f"{self.train.name} has no evaluation set {name!r}{hint}; it has {sorted(self.evals)}")
        return self.evals[name]


# ----------------------------------------------------------------------------- file reading


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals a dataset batch holds."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which no dataset batch holds")
        return super().find_class(module, name)


def _load_pickle(path: Path, layout: str) -> dict:
    """Read one dataset pickle (Python 2 or 3); any damage is a one-line FormatError naming it."""
    try:
        with open(path, "rb") as fh:
            obj = _BatchUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, ImportError, UnicodeDecodeError, MemoryError) as exc:
        msg = " ".join(str(exc).split())
        raise FormatError(f"{path} is not a readable {layout} pickle ({type(exc).__name__}: {msg}); "
                          f"re-download or re-extract it") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{path} holds a {type(obj).__name__}, not the dict of a {layout} batch; re-download it")
    return obj


def _entry(batch: dict, key: str, path: Path) -> Any:
    """``batch[key]`` whether the pickle stored str or bytes keys."""
    for k in (key, key.encode()):
        if k in batch:
            return batch[k]
    keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in batch)
    raise FormatError(f"{path} has no {key!r} entry (it has {keys}); re-download it")


def _read_batch(path: Path, label_key: str, size: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,3,size,size] uint8 and raw labels [N] int64 of one channel-planar batch file."""
    batch = _load_pickle(path, layout)
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


# ----------------------------------------------------------------------------- loaders


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


# ----------------------------------------------------------------------------- NATS-Bench splits


def read_split(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A NATS-Bench split file (``{"train": ["int", ["0", ...]], ...}``) as name -> int64 indices.

    Halves must be non-negative, free of duplicates and disjoint; otherwise a FormatError.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingFileError(f"split file {path} not found; {SPLITS_WHERE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path} is not a NATS-Bench split file (bad JSON: {exc}); re-download it") from None
    if not isinstance(raw, dict) or not raw:
        raise FormatError(f"{path} is not a NATS-Bench split file (expected a JSON object of splits); re-download it")
    out: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            kind, value = value
            if kind != "int":
                raise FormatError(f"{path}: split {name!r} has type {kind!r}, expected 'int'; re-download it")
        try:
            idx = np.array([int(v) for v in value], dtype=np.int64)
        except (TypeError, ValueError):
            raise FormatError(f"{path}: split {name!r} is not a list of integer indices; re-download it") from None
        if len(idx) and idx.min() < 0:
            raise FormatError(f"{path}: split {name!r} holds a negative index; re-download it")
        if len(np.unique(idx)) != len(idx):
            raise FormatError(f"{path}: split {name!r} lists an index twice; re-download it")
        out[name] = idx
    names = list(out)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.intersect1d(out[a], out[b]).size:
                raise FormatError(f"{path}: splits {a!r} and {b!r} overlap; re-download it")
    return out


def _protocol_split(protocol_dir: str | os.PathLike | None, filename: str, keys: tuple[str, ...],
                    dataset: str) -> dict[str, np.ndarray]:
    """Read ``filename`` from ``protocol_dir`` (or its ``configs/nas-benchmark``) and check its keys."""
    if protocol_dir is None:
        raise ValueError(f"{dataset} needs protocol_dir: the folder holding {filename} ({SPLITS_WHERE})")
    root = Path(protocol_dir).expanduser()
    candidates = [root / filename, root / "configs" / "nas-benchmark" / filename]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise MissingFileError(f"split file {filename} not found in {root}; {SPLITS_WHERE}")
    split = read_split(path)
    missing = [k for k in keys if k not in split]
    if missing:
        raise FormatError(f"{path} lacks split(s) {missing} (has {sorted(split)}); re-download it")
    return split


def _pick(data: ArrayDataset, indices: np.ndarray, name: str, source: str) -> ArrayDataset:
    """``data.subset(indices)`` after checking the split file's indices fit the dataset."""
    if len(indices) and indices.max() >= len(data):
        raise FormatError(f"{source}: index {indices.max()} is out of range for {data.name} with {len(data)} "
                          f"images; the split file and the dataset do not match")
    return data.subset(indices, name)


def _check_name(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def _need_dir(data_dir: str | os.PathLike | None, dataset: str) -> str | os.PathLike:
    if data_dir is None:
        raise ValueError(f"{dataset} needs data_dir: the folder holding the dataset (or its parent)")
    return data_dir


def search_split(dataset: str, data_dir: str | os.PathLike | None,
                 protocol_dir: str | os.PathLike | None) -> tuple[ArrayDataset, ArrayDataset]:
    """(train_part, valid_part) a NAS search uses, as in NATS-Bench / AutoDL ``get_nas_search_loaders``.

    cifar10 (or cifar10-valid): the cifar-split train/valid halves of the train set;
    cifar100 / ImageNet16-120: the full train set / the x-valid half of the test set;
    digits: the two halves of its train part. ``data_dir`` and ``protocol_dir`` are unused for digits.
    """
    _check_name(dataset)
    if dataset == "digits":
        train, _ = load_digits()
        half = len(train) // 2
        return (train.subset(np.arange(half), "digits/search-train"),
                train.subset(np.arange(half, len(train)), "digits/search-valid"))
    if dataset in ("cifar10", "cifar10-valid"):
        split = _protocol_split(protocol_dir, "cifar-split.txt", ("train", "valid"), dataset)
        train, _ = load_cifar10(_need_dir(data_dir, dataset))
        return (_pick(train, split["train"], "cifar10/search-train", "cifar-split.txt"),
                _pick(train, split["valid"], "cifar10/search-valid", "cifar-split.txt"))
    filename = "cifar100-test-split.txt" if dataset == "cifar100" else "imagenet-16-120-test-split.txt"
    split = _protocol_split(protocol_dir, filename, ("xvalid",), dataset)
    loader = load_cifar100 if dataset == "cifar100" else load_imagenet16
    train, test = loader(_need_dir(data_dir, dataset))
    return (dataclasses.replace(train, name=f"{dataset}/search-train"),
            _pick(test, split["xvalid"], f"{dataset}/search-valid", filename))


def train_test(dataset: str, data_dir: str | os.PathLike | None,
               protocol_dir: str | os.PathLike | None = None) -> TrainTest:
    """Data for final training, as NATS-Bench trained each dataset.

    cifar10-valid: train half / valid half of the train set (needs protocol_dir), with
    ``ori-test`` too; cifar10: 50k train / 10k test; cifar100, ImageNet16-120: train / full
    test, plus the ``x-valid``/``x-test`` halves when protocol_dir is given; digits: 80/20.
    """
    _check_name(dataset)
    if dataset == "digits":
        train, test = load_digits()
        return TrainTest(train, test, {"ori-test": test})
    if dataset == "cifar10-valid":
        split = _protocol_split(protocol_dir, "cifar-split.txt", ("train", "valid"), dataset)
        train, test = load_cifar10(_need_dir(data_dir, dataset))
        half_train = _pick(train, split["train"], "cifar10-valid/train", "cifar-split.txt")
        half_valid = _pick(train, split["valid"], "cifar10-valid/x-valid", "cifar-split.txt")
        return TrainTest(half_train, half_valid, {"x-valid": half_valid, "ori-test": test})
    if dataset == "cifar10":
        train, test = load_cifar10(_need_dir(data_dir, dataset))
        return TrainTest(train, test, {"ori-test": test})
    loader = load_cifar100 if dataset == "cifar100" else load_imagenet16
    train, test = loader(_need_dir(data_dir, dataset))
    evals = {"ori-test": test}
    if protocol_dir is not None:
        filename = "cifar100-test-split.txt" if dataset == "cifar100" else "imagenet-16-120-test-split.txt"
        split = _protocol_split(protocol_dir, filename, ("xvalid", "xtest"), dataset)
        evals["x-valid"] = _pick(test, split["xvalid"], f"{dataset}/x-valid", filename)
        evals["x-test"] = _pick(test, split["xtest"], f"{dataset}/x-test", filename)
    return TrainTest(train, test, evals)


# ----------------------------------------------------------------------------- device loader


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
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch dtype, got {dtype}")
        if drop_last and len(dataset) < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {len(dataset)} samples of {dataset.name} with "
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
            raise ValueError(f"epoch must be >= 0, got {epoch}")
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


# ----------------------------------------------------------------------------- full-size ImageNet


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
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
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
