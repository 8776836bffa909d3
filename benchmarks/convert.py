"""Convert NATS-Bench's official files, once, into the suite's columnar store.

Work is split into chunks of architectures. Each chunk is flattened (in parallel, one process
per core) into ``.{out}.partial/chunk-NNNNN.npz``, written atomically, so an interrupted
conversion resumes with the chunks it lacks. The chunks are then assembled into the store in
a temporary directory that is renamed onto ``out`` only when complete.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from suite.checks import check_int
from suite.errors import DnasError, FormatError
from suite.io import clean_siblings, write_json, write_npz
from suite.names import NATS_DATASETS

from .metrics import SPLIT_SETS, TRAIN_TOP5
from . import nats
from .layout import PRESENT, Source, group_dir
from .writer import StoreBuilder, building, store_target


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="arch", disable=not enabled or None, leave=False)


def _flatten_chunk(records: list[tuple[int, dict]]) -> dict[str, np.ndarray]:
    """Stack the flat arrays of several records: [n_records, ...], NaN where a record lacks a key."""
    flat = [(i, nats.flatten_record(i, rec)) for i, rec in records]
    keys = sorted({k for _, f in flat for k in f})
    out: dict[str, np.ndarray] = {"index": np.array([i for i, _ in flat], dtype=np.int64)}
    for k in keys:
        shape = next(f[k].shape for _, f in flat if k in f)
        arr = np.full((len(flat),) + shape, np.nan)
        for r, (_, f) in enumerate(flat):
            if k in f:
                if f[k].shape != shape:
                    raise FormatError(f"record {flat[r][0]}: {k} has {f[k].shape} values, others have {shape}")
                arr[r] = f[k]
        out[k] = arr
    cfg = {}
    for _, rec in records:
        for ds, c in nats.record_config(rec).items():
            cfg.setdefault(ds, c)
    out["config_json"] = np.array(json.dumps(cfg))
    out["schema_json"] = np.array(json.dumps({k: (v.shape[1] if v.ndim == 2 else 0) for k, v in out.items()
                                              if _parse_key(k) is not None}))
    return out


def _convert_fast_chunk(src: nats.OfficialSource, files: dict[int, Path], indices: list[int], chunk_file: str) -> int:
    records = list(nats.iter_fast_records(src, indices, files))
    try:
        flat = _flatten_chunk(records)
    except FormatError as exc:  # name the file the bad record came from
        index = getattr(exc, "index", None)
        raise FormatError(f"{files[index]}: {exc}" if index in files else str(exc)) from None
    write_npz(chunk_file, **flat)
    return len(indices)


def _flatten_all(src: nats.OfficialSource, records: dict[int, dict] | None, chunks: list[list[int]],
                 chunk_files: list[Path], todo: list[int], workers: int | None, progress: bool) -> None:
    done = set(range(len(chunks))) - set(todo)
    with _progress(sum(len(c) for c in chunks), f"convert {src.path.name}", progress) as bar:
        bar.update(sum(len(chunks[c]) for c in done))
        if records is not None:
            for c in todo:
                write_npz(chunk_files[c], **_flatten_chunk([(i, records[i]) for i in chunks[c]]))
                bar.update(len(chunks[c]))
            return
        files = src.record_files()  # list the directory once, not once per chunk
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        if n_workers == 1:
            for c in todo:
                bar.update(_convert_fast_chunk(src, {i: files[i] for i in chunks[c]}, chunks[c], str(chunk_files[c])))
            return
        with ProcessPoolExecutor(n_workers) as pool:
            futs = [pool.submit(_convert_fast_chunk, src, {i: files[i] for i in chunks[c]}, chunks[c],
                                str(chunk_files[c])) for c in todo]
            for fut in as_completed(futs):
                bar.update(fut.result())


def convert_nats(src_path: str | os.PathLike, space: str, out: str | os.PathLike, *,
                 workers: int | None = None, chunk_size: int = 64, progress: bool = True,
                 overwrite: bool = False) -> Path:
    """Convert an official NATS-Bench fast-mode directory or full archive into a store at ``out``.

    ``overwrite`` replaces a store of ours at ``out``; anything else there is never touched."""
    if workers is not None:
        check_int("workers", workers, low=1)
    check_int("chunk_size", chunk_size, low=1)
    src = nats.locate(src_path, space)
    out = Path(out).expanduser()
    clean_siblings(out)  # what a killed conversion left (a cut-short replacement is put back first)
    if store_target(out) and not overwrite:
        raise DnasError(f"{out} already holds a store: pass --overwrite to replace it, or choose another --out")
    if src.layout == "fast-dir":  # read and check the source before writing anything
        archs = nats.read_meta(src)
        files = src.record_files()
        bad = [i for i in files if i >= len(archs)]
        if bad:
            raise FormatError(f"{files[bad[0]]} has index {bad[0]}, beyond the {len(archs)} archs of the meta file")
        indices = list(files)
        records = None
    else:
        archs, records = nats.load_single_file(src)
        indices = sorted(records)
    if not indices:
        raise FormatError(f"{src.path} holds no architecture records")
    partial = out.with_name(f".{out.name}.partial")
    job = {"source": str(src.path.resolve()), "space": src.space.name, "layout": src.layout, "chunk_size": chunk_size}
    if partial.exists():
        try:
            old = json.loads((partial / "job.json").read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old != job:
            raise DnasError(f"{partial} holds an unfinished conversion of another source or chunking; "
                            f"delete that directory to start over")
    partial.mkdir(parents=True, exist_ok=True)
    write_json(partial / "job.json", job)
    chunks = [indices[k:k + chunk_size] for k in range(0, len(indices), chunk_size)]
    chunk_files = [partial / f"chunk-{c:05d}.npz" for c in range(len(chunks))]
    todo = [c for c, f in enumerate(chunk_files) if not f.exists()]
    try:
        _flatten_all(src, records, chunks, chunk_files, todo, workers, progress)
    except BaseException:
        if not list(partial.glob("chunk-*.npz")):  # nothing worth resuming
            shutil.rmtree(partial, ignore_errors=True)
        raise
    version = src.path.name.replace("-simple", "").replace(f".{nats.PICKLE_EXT}", "")
    if not version.startswith("NATS-"):  # a renamed download: the space has one official release
        version = src.space.official_prefix
    store = assemble(chunk_files, archs, src.space.name, out, version,
                     {"kind": "nats-bench", "path": str(src.path), "layout": src.layout}, progress)
    shutil.rmtree(partial, ignore_errors=True)
    return store


def _parse_key(key: str) -> tuple[int, str, int, str] | None:
    parts = key.split("/")
    if len(parts) != 4:
        return None
    return int(parts[0]), parts[1], int(parts[2]), parts[3]


def _schema(chunk_files: list[Path]) -> tuple[dict[tuple[int, str], dict[str, Any]], np.ndarray, dict[str, dict]]:
    """Each (epochs, dataset) group's seeds, series and epoch count, the indices the chunks hold, and each
    dataset's training config, from the chunks' schemas (no array is read)."""
    schema: dict[tuple[int, str], dict[str, Any]] = {}
    indices: list[np.ndarray] = []
    config: dict[str, dict] = {}
    for f in chunk_files:
        with np.load(f, allow_pickle=False) as z:
            indices.append(z["index"])
            for ds, c in json.loads(str(z["config_json"])).items():
                config.setdefault(ds, c)
            for key, n in json.loads(str(z["schema_json"])).items():
                epochs, ds, seed, series = _parse_key(key)  # type: ignore[misc]
                g = schema.setdefault((epochs, ds), {"seeds": set(), "series": set(), "n_epochs": None})
                g["seeds"].add(seed)
                g["series"].add(series)
                if "." in series:
                    if g["n_epochs"] not in (None, n):
                        raise FormatError(f"{ds} epochs={epochs}: records disagree on the epoch count "
                                          f"({g['n_epochs']} vs {n})")
                    g["n_epochs"] = n
    for g in schema.values():
        g["seeds"] = sorted(g["seeds"])
    slot_indices = np.sort(np.concatenate(indices)) if indices else np.zeros(0, dtype=np.int64)
    return schema, slot_indices, config


def _allocate(builder: StoreBuilder, schema: dict[tuple[int, str], dict[str, Any]], order: list[tuple[int, str]]
              ) -> dict[tuple[int, str], dict[str, np.ndarray]]:
    """The store's memory-mapped arrays per group: ``present`` and one per series."""
    arrays = {}
    for epochs, ds in order:
        g = schema[(epochs, ds)]
        base = group_dir(epochs, ds)
        arr = {"present": builder.array(base + PRESENT, (len(g["seeds"]), builder.n_slots), bool, False)}
        for series in sorted(g["series"]):
            shape = (g["n_epochs"], len(g["seeds"]), builder.n_slots) if "." in series else (len(g["seeds"]), builder.n_slots)
            arr[series] = builder.array(f"{base}{series}.npy", shape)
        arrays[(epochs, ds)] = arr
    return arrays


def _fill(chunk_files: list[Path], schema: dict[tuple[int, str], dict[str, Any]], slot_indices: np.ndarray,
          arrays: dict[tuple[int, str], dict[str, np.ndarray]], progress: bool) -> None:
    """Copy every chunk's records into their slots; a record with params marks its run present."""
    slot_of = {int(i): s for s, i in enumerate(slot_indices)}
    with _progress(len(slot_indices), "assemble store", progress) as bar:
        for f in chunk_files:
            with np.load(f, allow_pickle=False) as z:
                cols = np.array([slot_of[int(i)] for i in z["index"]], dtype=np.int64)
                for k in z.files:
                    parsed = _parse_key(k)
                    if parsed is None:
                        continue
                    epochs, ds, seed, series = parsed
                    s = schema[(epochs, ds)]["seeds"].index(seed)
                    data = z[k]
                    dst = arrays[(epochs, ds)][series]
                    have = ~np.isnan(data) if data.ndim == 1 else ~np.all(np.isnan(data), axis=1)
                    if series == "params":  # every record has params: it marks the runs present
                        arrays[(epochs, ds)]["present"][s, cols[have]] = True
                    if data.ndim == 1:
                        dst[s, cols[have]] = data[have]
                    else:
                        dst[:, s, cols[have]] = data[have].T
                bar.update(len(cols))


def _group_metrics(epochs: int, ds: str, series: set[str]) -> tuple[dict[str, Source], dict[str, str], list[str]]:
    """A group's metric sources (per split: loss, accuracy, per-epoch and total time), cost files and time sets."""
    base = group_dir(epochs, ds)
    sets = [s for s in ("train", "x-valid", "x-test", "ori-test") if f"{s}.loss" in series]
    metrics: dict[str, Source] = {}
    for split, set_name in SPLIT_SETS.get(ds, {"train": "train"}).items():
        if set_name not in sets:
            continue
        metrics[f"{split}-loss"] = Source(f"{base}{set_name}.loss.npy", "value")
        metrics[f"{split}-accuracy"] = Source(f"{base}{set_name}.acc.npy", "value")
        metrics[f"{split}-per-time"] = Source(f"{base}{set_name}.alltime.npy", "per-time")
        metrics[f"{split}-all-time"] = Source(f"{base}{set_name}.alltime.npy", "value")
    if "train.acc5" in series:
        metrics[TRAIN_TOP5] = Source(f"{base}train.acc5.npy", "value")
    costs = {c: f"{base}{c}.npy" for c in ("params", "flops", "latency") if c in series}
    return metrics, costs, sets


def assemble(chunk_files: list[Path], archs: list[str], space: str, out: Path, version: str,
             source: dict[str, Any], progress: bool = True) -> Path:
    """Build the store from flattened chunks (see ``_flatten_chunk``): read their schemas, allocate the
    arrays, fill them, describe each group."""
    from suite.spaces import get_tabular_space

    schema, slot_indices, config = _schema(chunk_files)
    with building(out, get_tabular_space(space), version, archs, slot_indices, source) as builder:
        order = sorted(schema, key=lambda k: (k[0], NATS_DATASETS.index(k[1]) if k[1] in NATS_DATASETS else 99))
        arrays = _allocate(builder, schema, order)
        _fill(chunk_files, schema, slot_indices, arrays, progress)
        for epochs, ds in order:
            metrics, costs, sets = _group_metrics(epochs, ds, schema[(epochs, ds)]["series"])
            builder.add_group(epochs, ds, schema[(epochs, ds)]["n_epochs"], schema[(epochs, ds)]["seeds"], metrics,
                              costs, sets, config.get(ds))
        for arr in arrays.values():
            for a in arr.values():
                a.flush()
        del arrays
    return builder.out
