"""The NATS-Bench split policy: which halves a search or a ``cifar10-valid`` run uses, from the
official split files, exactly as AutoDL-Projects does."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from suite.errors import FormatError, InvalidInput, MissingFileError
from suite.names import DATASETS

from .arrays import ArrayDataset, TrainTest
from .readers import AUTODL_URL, load_cifar10, load_cifar100, load_digits, load_imagenet16

SPLITS_WHERE = "it is published in D-X-Y/AutoDL-Projects configs/nas-benchmark/ (" + AUTODL_URL + ")"


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


def _read_splits(splits_dir: str | os.PathLike | None, filename: str, keys: tuple[str, ...],
                    dataset: str) -> dict[str, np.ndarray]:
    """Read ``filename`` from ``splits_dir`` (or its ``configs/nas-benchmark``) and check its keys."""
    if splits_dir is None:
        raise InvalidInput(f"{dataset} needs splits_dir (--splits-dir): the folder holding {filename} ({SPLITS_WHERE})")
    root = Path(splits_dir).expanduser()
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
        raise InvalidInput(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def _need_dir(data_dir: str | os.PathLike | None, dataset: str) -> str | os.PathLike:
    if data_dir is None:
        raise InvalidInput(f"{dataset} needs data_dir: the folder holding the dataset (or its parent)")
    return data_dir


def search_split(dataset: str, data_dir: str | os.PathLike | None,
                 splits_dir: str | os.PathLike | None) -> tuple[ArrayDataset, ArrayDataset]:
    """(train_part, valid_part) a NAS search uses, as in NATS-Bench / AutoDL ``get_nas_search_loaders``.

    cifar10 (or cifar10-valid): the cifar-split train/valid halves of the train set;
    cifar100 / ImageNet16-120: the full train set / the x-valid half of the test set;
    digits: the two halves of its train part. ``data_dir`` and ``splits_dir`` are unused for digits.
    """
    _check_name(dataset)
    if dataset == "digits":
        train, _ = load_digits()
        half = len(train) // 2
        return (train.subset(np.arange(half), "digits/search-train"),
                train.subset(np.arange(half, len(train)), "digits/search-valid"))
    if dataset in ("cifar10", "cifar10-valid"):
        split = _read_splits(splits_dir, "cifar-split.txt", ("train", "valid"), dataset)
        train, _ = load_cifar10(_need_dir(data_dir, dataset))
        return (_pick(train, split["train"], "cifar10/search-train", "cifar-split.txt"),
                _pick(train, split["valid"], "cifar10/search-valid", "cifar-split.txt"))
    filename = "cifar100-test-split.txt" if dataset == "cifar100" else "imagenet-16-120-test-split.txt"
    split = _read_splits(splits_dir, filename, ("xvalid",), dataset)
    loader = load_cifar100 if dataset == "cifar100" else load_imagenet16
    train, test = loader(_need_dir(data_dir, dataset))
    return (dataclasses.replace(train, name=f"{dataset}/search-train"),
            _pick(test, split["xvalid"], f"{dataset}/search-valid", filename))


def train_test(dataset: str, data_dir: str | os.PathLike | None,
               splits_dir: str | os.PathLike | None = None) -> TrainTest:
    """Data for final training, as NATS-Bench trained each dataset.

    cifar10-valid: train half / valid half of the train set (needs splits_dir), with
    ``ori-test`` too; cifar10: 50k train / 10k test; cifar100, ImageNet16-120: train / full
    test, plus the ``x-valid``/``x-test`` halves when splits_dir is given; digits: 80/20.
    """
    _check_name(dataset)
    if dataset == "digits":
        train, test = load_digits()
        return TrainTest(train, test, {"ori-test": test})
    if dataset == "cifar10-valid":
        split = _read_splits(splits_dir, "cifar-split.txt", ("train", "valid"), dataset)
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
    if splits_dir is not None:
        filename = "cifar100-test-split.txt" if dataset == "cifar100" else "imagenet-16-120-test-split.txt"
        split = _read_splits(splits_dir, filename, ("xvalid", "xtest"), dataset)
        evals["x-valid"] = _pick(test, split["xvalid"], f"{dataset}/x-valid", filename)
        evals["x-test"] = _pick(test, split["xtest"], f"{dataset}/x-test", filename)
    return TrainTest(train, test, evals)
