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
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from suite.checks import check_int, check_mapping, check_path, check_str
from suite.errors import DnasError, FormatError, InvalidInput, MissingFileError, WrongType
from suite.io import clean_siblings
from suite.spaces import get_tabular_space
from suite.spaces.nb201 import OPS
from suite.names import NATS_DATASETS

from .metrics import dataset_hint
from . import nats
from .metrics import ARCH_FORMATS
from .layout import METADATA, PRESENT, Source, group_dir
from .store import TabularBenchmark
from .writer import StoreBuilder, building, store_target

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


def resolve_order(space_name: str, order: str | os.PathLike | None) -> list[str]:
    """Official arch strings in index order: from a NATS meta file/dir, a store, or $TORCH_HOME."""
    space = get_tabular_space(space_name)
    if space.name == "sss":  # official order is product order
        return [space.from_code(i).to_str() for i in range(space.num_archs)]
    candidates = [Path(order).expanduser()] if order else []
    if not order:
        from .locate import torch_home

        home = torch_home()
        candidates = [home / f"{space.official_prefix}-simple", home / f"{space.official_prefix}.{nats.PICKLE_EXT}"]
    for path in candidates:
        if (path / METADATA).is_file():
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
        raise InvalidInput(f"op tuple {value!r} must have 6 codes in [0, {len(table)})")
    ops = [""] * 6
    for k, c in enumerate(codes):
        ops[positions[k]] = table[c]
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def arch_indices(values: pd.Series, column: str, space_name: str, arch_format: str, archs: list[str]) -> np.ndarray:
    """Official index of every row's arch."""
    space = get_tabular_space(space_name)
    fmt = _detect_format(values, column) if arch_format == "auto" else arch_format
    if fmt not in ARCH_FORMATS:
        raise InvalidInput(f"arch format must be one of {ARCH_FORMATS}, got {arch_format!r}")
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


def _check_strings(name: str, mapping: Any, example: str) -> dict[str, str]:
    out = check_mapping(name, mapping, example)
    for k, v in out.items():
        check_str(f"{name}[{k!r}]", v)
    return out


def numeric_cells(frame: pd.DataFrame, metrics: dict[str, str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Each metric column as float64, NaN where a cell cannot be used, and a report of those cells:
    per metric and reason ("empty or NaN", "not a number", "not finite") the count and a first example."""
    values: dict[str, np.ndarray] = {}
    report: dict[str, Any] = {}
    for name, col in metrics.items():
        raw = frame[col]
        text = raw.astype(str).str.strip().str.lower()
        v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, copy=True)
        empty = raw.isna().to_numpy() | text.isin(["", "nan", "none", "null"]).to_numpy()
        reasons = {"empty or NaN": empty, "not a number": np.isnan(v) & ~empty, "not finite": np.isinf(v)}
        found = {}
        for why, bad in reasons.items():
            if bad.any():
                first = int(np.argmax(bad))
                label = frame.index[first]  # the row's number in the file (before --where filtering)
                row = int(label) if isinstance(label, (int, np.integer)) else first
                found[why] = {"cells": int(bad.sum()), "row": row, "value": str(raw.iloc[first])}
        if found:
            report[name] = {"column": col, **found}
        v[np.isinf(v)] = np.nan
        values[name] = v
    return values, report


def describe_dropped(report: dict[str, Any]) -> str:
    """One line: how many cells of which metric are unusable and why, with a first example each."""
    parts = []
    for name, r in report.items():
        for why, d in r.items():
            if why != "column":
                parts.append(f"{d['cells']} {why} in {r['column']!r} ({name}; e.g. row {d['row']}: {d['value']!r})")
    return "; ".join(parts)


def import_table(file: str | os.PathLike, *, arch_column: str, metrics: dict[str, str], dataset: str,
                 epochs: int, version: str, out: str | os.PathLike, space: str = "tss", arch_format: str = "auto",
                 order: str | os.PathLike | None = None, where: dict[str, str] | None = None,
                 json_key: str | None = None, aggregate: str = "error", overwrite: bool = False,
                 drop_invalid: bool = False) -> Path:
    """Import ``metrics`` (store name -> column) of a table as the (dataset, epochs) group of a store.

    Cells that are empty, NaN, not numbers (e.g. "94.1%") or not finite are refused, with the count
    and a first example per column, unless ``drop_invalid``: then they are left out and the report
    is kept in the store's metadata (group ``config.imported.dropped``). ``overwrite`` replaces the
    same group of the store, or a store of ours that cannot take the group; nothing else is replaced.
    """
    check_path("file", file, optional=False)
    check_str("arch_column", arch_column)
    metrics = _check_strings("metrics", metrics, "{'test-accuracy': 'CIFAR10TestAccuracy200Epochs'}")
    where = _check_strings("where", where or {}, "{'device': 'pi5'}")
    check_str("dataset", dataset)
    epochs = check_int("epochs", epochs, low=1)
    check_str("version", version)
    check_str("arch_format", arch_format, ARCH_FORMATS)
    if json_key is not None:
        check_str("json_key", json_key)
    for flag, value in (("overwrite", overwrite), ("drop_invalid", drop_invalid)):
        if not isinstance(value, bool):
            raise WrongType(f"{flag} must be True or False, got {value!r}")
    sp = get_tabular_space(space)
    if dataset not in NATS_DATASETS:
        raise InvalidInput(f"dataset {dataset!r} is not a NATS-Bench dataset; use one of {', '.join(NATS_DATASETS)}."
                           + dataset_hint(dataset))
    if not metrics:
        raise InvalidInput("name at least one metric: --metric NAME=COLUMN")
    if aggregate not in ("error", "mean", "first"):
        raise InvalidInput(f"aggregate must be error, mean or first, got {aggregate!r}")
    out = Path(out).expanduser()
    clean_siblings(out)  # what a killed import left (a cut-short replacement is put back first)
    existing = _existing_store(out, sp.name, version, dataset, epochs, overwrite)
    frame = read_table(file, json_key)
    for col, val in where.items():
        if col not in frame.columns:
            raise DnasError(f"--where column {col!r} is not in {file}; columns: {', '.join(map(str, frame.columns))}")
        frame = frame[frame[col].astype(str) == str(val)]
    missing = [c for c in [arch_column, *metrics.values()] if c not in frame.columns]
    if missing:
        raise DnasError(f"column {missing[0]!r} is not in {file}; columns: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise DnasError(f"no rows left in {file} after --where {where}")
    archs = resolve_order(sp.name, order)
    idx = arch_indices(frame[arch_column], arch_column, sp.name, arch_format, archs)
    values, dropped = numeric_cells(frame, metrics)
    for name, col in metrics.items():
        if np.isnan(values[name]).all():
            raise DnasError(f"column {col!r} (metric {name}) has no usable numeric values")
    if dropped and not drop_invalid:
        raise DnasError(f"{file}: {describe_dropped(dropped)}; fix the table, or pass --drop-invalid to import "
                        f"without those cells")
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
            rows = np.nonzero(~np.isnan(v))[0]
            # the first row with a value wins (numpy leaves repeated-index assignment order unspecified)
            archs_with_value, first = np.unique(idx[rows], return_index=True)
            col[archs_with_value] = v[rows[first]]
        columns[name] = col
    source = {"kind": "table", "file": str(Path(file).resolve()), "arch_column": arch_column,
              "metrics": metrics, "where": where, "json_key": json_key, "version": version, "dropped": dropped}
    return _write_group(out, sp.name, version, archs, dataset, epochs, columns, source, existing)


def _existing_store(out: Path, space: str, version: str, dataset: str, epochs: int,
                    overwrite: bool) -> TabularBenchmark | None:
    """The imported-table store at ``out`` that gains the group, None to write a new store; refuses
    (one line) to replace a group or another store without ``overwrite``, and never replaces
    anything that is not a store of ours."""
    if not store_target(out):
        return None
    try:
        store = TabularBenchmark(out)
    except DnasError as exc:  # ours (format checked) but unreadable: only --overwrite replaces it
        if overwrite:
            return None
        raise DnasError(f"{out} holds a store this version cannot add to ({exc}); pass --overwrite to replace "
                        f"it, or choose another --out") from None
    if store.meta.get("source", {}).get("kind") != "tables" or store.space.name != space:
        if overwrite:
            return None
        raise DnasError(f"{out} holds a store that is not an imported-table store of the {space} space: pass "
                        f"--overwrite to replace it, or choose another --out")
    if store.version != version:
        if overwrite:
            return None
        raise DnasError(f"{out} holds benchmark version {store.version!r}, not {version!r}: keep versions apart by "
                        f"importing into another --out (or pass --overwrite to replace that store)")
    if epochs in store.epochs_settings(dataset) and not overwrite:
        raise DnasError(f"{out} already holds {dataset} epochs={epochs} ({', '.join(store.metric_names(dataset, epochs))})"
                        f": pass --overwrite to replace that group")
    return store


def add_table_group(builder: StoreBuilder, dataset: str, epochs: int, columns: dict[str, np.ndarray],
                    config: dict[str, Any]) -> None:
    """Write seed-mean final values (one float64 vector per metric, NaN = no value) as a store group."""
    n = len(builder.archs)
    base = group_dir(epochs, dataset)
    present = np.zeros(n, dtype=bool)
    for c in columns.values():
        present |= ~np.isnan(c)
    builder.array(base + PRESENT, (1, n), bool, False)[0] = present
    srcs = {}
    for name, col in columns.items():
        fname = name.replace("/", "_")
        builder.array(f"{base}m.{fname}.npy", (1, 1, n))[0, 0] = col
        srcs[name] = Source(f"{base}m.{fname}.npy", "value")
    builder.add_group(epochs, dataset, 1, [None], srcs, {}, [], config)


def _write_group(out: Path, space: str, version: str, archs: list[str], dataset: str, epochs: int,
                 columns: dict[str, np.ndarray], source: dict[str, Any], existing: TabularBenchmark | None) -> Path:
    with building(out, get_tabular_space(space), version, archs, np.arange(len(archs)), {"kind": "tables"}) as builder:
        if existing is not None:
            for g in existing.meta["groups"]:
                if (g["dataset"], int(g["epochs"])) != (dataset, epochs):
                    builder.keep_group(existing.path, g)
        add_table_group(builder, dataset, epochs, columns, {"imported": source})
    return builder.out


__all__ = ["import_table", "read_table", "arch_indices", "add_table_group", "numeric_cells", "describe_dropped",
           "ARCH_FORMATS"]
