"""The on-disk layout of a tabular store, spelled once: the reader and every writer use these names.

Layout of a store directory::

    metadata.json            format, version, space, benchmark version, groups (see below)
    archs.txt                one arch string per line, official index order
    slots.npy                int32 [n_archs]: column of each arch in the arrays, -1 = no record
    e{E}/{dataset}/present.npy          bool    [n_seeds, n_slots]
    e{E}/{dataset}/{set}.{field}.npy    float64 [n_epochs, n_seeds, n_slots]
    e{E}/{dataset}/{params|flops|latency}.npy  float64 [n_seeds, n_slots]

``E`` is the number of training epochs of a schedule (NATS-Bench's ``hp``). Arrays are laid
out epoch-major so that one metric at one epoch for every arch is a single contiguous read.
No pickle anywhere: reading a store never executes code from the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT = "dnas-suite/tabular"
FORMAT_VERSION = 1

METADATA = "metadata.json"
ARCHS = "archs.txt"
SLOTS = "slots.npy"
PRESENT = "present.npy"
"""In a group directory: which (seed, slot) runs exist."""
STORE_FILES = (METADATA, ARCHS, SLOTS)
"""The files at the top of a store; everything else lives in group directories."""
GROUP_DIR = re.compile(r"e\d+")
"""The top-level directory of a schedule (``e200``)."""


def group_dir(epochs: int, dataset: str) -> str:
    """The directory (relative, with a trailing slash) of one (epochs, dataset) group."""
    return f"e{epochs}/{dataset}/"


@dataclass(frozen=True)
class Source:
    """Where a metric's numbers live: an array file and how to read it."""

    file: str
    kind: str  # "value" or "per-time" (all-time divided by the epoch count, after seed reduction)
