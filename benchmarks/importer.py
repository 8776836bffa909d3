"""Import a published table (CSV, Parquet or JSON) into a tabular store.

Rows are keyed by an architecture column holding official strings, official indices, op
tuples in our order (``OPS`` codes, edges as in the string) or NASLib op tuples. Each import
adds one (dataset, epochs) group; importing into an existing store of the same space and
version adds the group beside the others, so several datasets share one store.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from suite.errors import DnasError, FormatError, MissingFileError
from suite.spaces import get_space
from suite.spaces.nb201 import OPS

from . import metrics as M
from . import nats
from .store import StoreBuilder, TabularBenchmark, _Source

ARCH_FORMATS = ("auto", "string", "index", "ops", "naslib")
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
"""pandas < 3 parses CSV floats approximately unless asked; 3.x parses them exactly by default."""
NASLIB_EDGE_POS = (0, 1, 3, 2, 4, 5)
"""NASLib tuple position k holds the edge at this position of the official string."""


def read_table(file: str | os.PathLike, json_key: str | None = None) -> pd.DataFrame:
    """Load a .csv, .parquet or .json table as a DataFrame (JSON dicts of records get a ``key`` column)."""
    file = Path(file).expanduser()
    if not file.is_file():
        raise MissingFileError(f"table {file} does not exist")
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(file, **_EXACT_FLOATS)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(file)
        if suffix == ".json":
            return _json_frame(json.loads(file.read_text()), file, json_key)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, DnasError):
            raise
        raise FormatError(f"cannot read table {file}: {str(exc).splitlines()[0]}") from None
    raise FormatError(f"table {file} must end in .csv, .parquet or .json")


def _json_frame(data: Any, file: Path, json_key: str | None) -> pd.DataFrame:
    if json_key:
        for part in json_key.split("."):
            if not isinstance(data, dict) or part not in data:
                keys = list(data)[:10] if isinstance(data, dict) else []
                raise FormatError(f"{file} has no key {part!r} (from --json-key {json_key}); keys: {keys}")
            data = data[part]
    if isinstance(data, list):
        return pd.json_normalize(data)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        first = next(iter(data.values()))
        if all(isinstance(v, dict) for v in first.values()) and not json_key and len(data) < 50:
            raise FormatError(f"{file} is a dict keyed by {', '.join(list(data)[:6])}: choose one with --json-key")
        frame = pd.json_normalize(list(data.values()))
        frame.insert(0, "key", list(data.keys()))
        return frame
    raise FormatError(f"{file} is neither a list of records nor a dict of records")


def _resolve_order(space_name: str, order: str | os.PathLike | None) -> list[str]:
    """Official arch strings in index order: from a NATS meta file/dir, a store, or $TORCH_HOME."""
    space = get_space(space_name)
    if space.name == "sss":  # official order is product order
        return [space.from_code(i).to_str() for i in range(space.num_archs)]
    candidates = [Path(order).expanduser()] if order else []
    if not order:
        from .locate import torch_home

        home = torch_home()
        candidates = [home / f"{space.official_prefix}-simple", home / f"{space.official_prefix}.{nats.PICKLE_EXT}"]
    for path in candidates:
        if (path / "metadata.json").is_file():
            store = TabularBenchmark(path)
            if store.space.name != space.name:
                raise FormatError(f"--order {path} is a '{store.space.name}' store, not '{space.name}'")
            return store.archs
        if path.is_file() and path.name == f"meta.{nats.PICKLE_EXT}":
            return nats.check_meta_archs(nats.load_pbz2(path).get("meta_archs"), path, space)
        if path.exists():
            return nats.read_meta(nats.locate(path, space.name)) if path.is_dir() else \
                nats.load_single_file(nats.locate(path, space.name))[0]
    raise MissingFileError(
        f"the official {space.name} index order is needed to key the table: pass --order with "
        f"{space.official_prefix}-simple/meta.{nats.PICKLE_EXT} or a converted store ({nats.download_hint(space)})")


def _detect_format(values: pd.Series, column: str) -> str:
    if pd.api.types.is_integer_dtype(values):
        return "index"
    sample = str(values.dropna().iloc[0]) if values.notna().any() else ""
    if "|" in sample or (":" in sample and sample.replace(":", "").isdigit()):
        return "string"
    if sample.startswith(("(", "[")):
        raise DnasError(f"column {column!r} holds op tuples like {sample}: say whose op codes with "
                        f"--arch-format ops (ours: {list(OPS)}, edges in string order) or --arch-format naslib")
    raise DnasError(f"cannot tell how column {column!r} encodes architectures (e.g. {sample!r}): "
                    f"pass --arch-format string|index|ops|naslib")


def _to_ops(value: Any, table: Sequence[str], positions: Sequence[int]) -> str:
    codes = ast.literal_eval(value) if isinstance(value, str) else value
    codes = [int(c) for c in codes]
    if len(codes) != 6 or any(not 0 <= c < len(table) for c in codes):
        raise ValueError(f"op tuple {value!r} must have 6 codes in [0, {len(table)})")
    ops = [""] * 6
    for k, c in enumerate(codes):
        ops[positions[k]] = table[c]
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def arch_indices(values: pd.Series, column: str, space_name: str, arch_format: str, archs: list[str]) -> np.ndarray:
    """Official index of every row's arch."""
    space = get_space(space_name)
    fmt = _detect_format(values, column) if arch_format == "auto" else arch_format
    if fmt not in ARCH_FORMATS:
        raise ValueError(f"arch format must be one of {ARCH_FORMATS}, got {arch_format!r}")
    if fmt in ("ops", "naslib") and space.name != "tss":
        raise DnasError(f"--arch-format {fmt} is for the tss space only")
    if fmt == "index":
        idx = pd.to_numeric(values, errors="coerce")
        if idx.isna().any() or (idx % 1 != 0).any() or (idx < 0).any() or (idx >= len(archs)).any():
            bad = values[idx.isna() | (idx < 0) | (idx >= len(archs))].iloc[:1].tolist()
            raise DnasError(f"column {column!r} must hold indices in [0, {len(archs)}), found {bad}")
        return idx.to_numpy(dtype=np.int64)
    position = {a: i for i, a in enumerate(archs)}
    out = np.empty(len(values), dtype=np.int64)
    cache: dict[Any, int] = {}
    for r, v in enumerate(values.tolist()):
        key = v if not isinstance(v, list) else tuple(v)
        if key not in cache:
            try:
                if fmt == "string":
                    text = space.parse(str(v)).to_str()
                elif fmt == "ops":
                    text = _to_ops(v, OPS, range(6))
                else:
                    text = _to_ops(v, NASLIB_OPS, NASLIB_EDGE_POS)
            except (ValueError, SyntaxError) as exc:
                raise DnasError(f"row {r} of column {column!r}: {exc}") from None
            cache[key] = position[text]
        out[r] = cache[key]
    return out


def import_table(file: str | os.PathLike, *, arch_column: str, metrics: dict[str, str], dataset: str,
                 epochs: int, version: str, out: str | os.PathLike, space: str = "tss", arch_format: str = "auto",
                 order: str | os.PathLike | None = None, where: dict[str, str] | None = None,
                 json_key: str | None = None, aggregate: str = "error") -> Path:
    """Import ``metrics`` (store name -> column) of a table as the (dataset, epochs) group of a store."""
    sp = get_space(space)
    if dataset not in M.DATASETS:
        raise ValueError(f"dataset {dataset!r} is not a NATS-Bench dataset; use one of {', '.join(M.DATASETS)}."
                         + M.dataset_hint(dataset))
    if not metrics:
        raise ValueError("name at least one metric: --metric NAME=COLUMN")
    if aggregate not in ("error", "mean", "first"):
        raise ValueError(f"aggregate must be error, mean or first, got {aggregate!r}")
    frame = read_table(file, json_key)
    for col, val in (where or {}).items():
        if col not in frame.columns:
            raise DnasError(f"--where column {col!r} is not in {file}; columns: {', '.join(map(str, frame.columns))}")
        frame = frame[frame[col].astype(str) == str(val)]
    missing = [c for c in [arch_column, *metrics.values()] if c not in frame.columns]
    if missing:
        raise DnasError(f"column {missing[0]!r} is not in {file}; columns: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise DnasError(f"no rows left in {file} after --where {where}")
    archs = _resolve_order(sp.name, order)
    idx = arch_indices(frame[arch_column], arch_column, sp.name, arch_format, archs)
    values = {}
    for name, col in metrics.items():
        v = pd.to_numeric(frame[col], errors="coerce")
        if v.isna().all():
            raise DnasError(f"column {col!r} (metric {name}) has no numeric values")
        values[name] = v.to_numpy(dtype=np.float64)
    counts = np.bincount(idx, minlength=len(archs))
    if counts.max() > 1 and aggregate == "error":
        dup = int(np.argmax(counts))
        raise DnasError(f"{file} has {counts.max()} rows for arch index {dup} ({archs[dup]}): filter rows with "
                        f"--where COL=VALUE or pass --aggregate mean|first")
    n = len(archs)
    columns: dict[str, np.ndarray] = {}
    for name, v in values.items():
        col = np.full(n, np.nan)
        if aggregate == "mean" and counts.max() > 1:
            sums = np.bincount(idx, weights=np.nan_to_num(v, nan=0.0), minlength=n)
            cnt = np.bincount(idx, weights=~np.isnan(v), minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                col = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
        else:
            keep = ~np.isnan(v)
            order_rows = np.nonzero(keep)[0][::-1]  # reversed so the first row wins on assignment
            col[idx[order_rows]] = v[order_rows]
        columns[name] = col
    source = {"kind": "table", "file": str(Path(file).resolve()), "arch_column": arch_column,
              "metrics": metrics, "where": where or {}, "json_key": json_key, "version": version}
    return _write_group(Path(out).expanduser(), sp.name, version, archs, dataset, int(epochs), columns, source)


def add_table_group(builder: StoreBuilder, dataset: str, epochs: int, columns: dict[str, np.ndarray],
                    config: dict[str, Any]) -> None:
    """Write seed-mean final values (one float64 vector per metric, NaN = no value) as a store group."""
    n = len(builder.archs)
    base = f"e{epochs}/{dataset}/"
    present = np.zeros(n, dtype=bool)
    for c in columns.values():
        present |= ~np.isnan(c)
    builder.array(base + "present.npy", (1, n), bool, False)[0] = present
    srcs = {}
    for name, col in columns.items():
        fname = name.replace("/", "_")
        builder.array(f"{base}m.{fname}.npy", (1, 1, n))[0, 0] = col
        srcs[name] = _Source(f"{base}m.{fname}.npy", "value")
    builder.add_group(epochs, dataset, 1, [None], srcs, {}, [], config)


def _write_group(out: Path, space: str, version: str, archs: list[str], dataset: str, epochs: int,
                 columns: dict[str, np.ndarray], source: dict[str, Any]) -> Path:
    existing = None
    if out.exists():
        existing = TabularBenchmark(out)
        if existing.meta.get("source", {}).get("kind") != "tables" or existing.space.name != space:
            raise DnasError(f"{out} exists and is not an imported-table store of the {space} space: choose another --out")
        if existing.version != version:
            raise DnasError(f"{out} holds benchmark version {existing.version!r}, not {version!r}: keep versions "
                            f"apart by importing into another --out")
    builder = StoreBuilder(out, get_space(space), version, archs, np.arange(len(archs)), {"kind": "tables"})
    try:
        groups = []
        if existing is not None:
            for g in existing.meta["groups"]:
                if (g["dataset"], int(g["epochs"])) == (dataset, epochs):
                    continue
                src_dir = existing.path / f"e{g['epochs']}" / g["dataset"]
                dst_dir = builder.tmp / f"e{g['epochs']}" / g["dataset"]
                shutil.copytree(src_dir, dst_dir)
                groups.append(g)
        builder.groups = groups
        add_table_group(builder, dataset, epochs, columns, {"imported": source})
        builder.source = {"kind": "tables"}
        return builder.finish()
    except BaseException:
        builder.abort()
        raise


__all__ = ["import_table", "read_table", "arch_indices", "add_table_group", "ARCH_FORMATS"]
