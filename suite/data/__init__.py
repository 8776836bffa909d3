"""Datasets for search and final training, read from their official on-disk layouts.

CIFAR-10/100 (python version), NATS-Bench's ImageNet16-120 and scikit-learn's digits load
into an :class:`ArrayDataset` (uint8 NCHW tensors); the NATS-Bench split files pick the
halves a search or a ``cifar10-valid`` run uses, exactly as AutoDL-Projects does; a
:class:`DeviceLoader` keeps the whole set on the device and shuffles, augments and
normalises there, as a pure function of ``(seed, epoch)``. :class:`ImageFolderDataset`
streams full-size ImageNet from class folders.

Pickled dataset files are read with an unpickler that only accepts the few numpy globals
such batches hold, so a tampered file is a :class:`FormatError`, never code execution.

One module per concern: ``arrays`` (the in-memory sets), ``safe_pickle``, ``readers`` (one per
on-disk format), ``splits`` (the NATS-Bench split policy), ``loader`` (the device loader) and
``imagenet`` (class folders).
"""
from __future__ import annotations

from .arrays import ArrayDataset, TrainTest
from .imagenet import ImageFolderDataset
from .loader import DeviceLoader, normalize
from .readers import load_cifar10, load_cifar100, load_digits, load_imagenet16
from .splits import read_split, search_split, train_test

__all__ = [
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
