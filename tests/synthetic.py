"""A full-size synthetic NATS-Bench fast-mode directory, built from a few real records.

Why: the suite's claims about its tabular store (a sweep over every architecture in
milliseconds, a warm query in microseconds, a small memory footprint) are only meaningful
at full size, 15,625 TSS / 32,768 SSS architectures, compared with the official
``nats_bench`` API reading the official files. The official fast-mode archive
(``NATS-tss-v1_0-3ffb9-simple.tar``, about 1 GB unpacked) cannot be downloaded on the
machines this suite is tested on, but a handful of real records can be kept. This module
multiplies them into a stand-in with the official layout, file format and size, so that
both the official API and ``benchmarks.convert.convert_nats`` do the same work as on the
real archive.

What: ``make_full_nats_dir`` copies ``meta.pickle.pbz2`` and writes one
``{index:06d}.pickle.pbz2`` for every architecture of the meta file (or the first ``n``).
Record ``i`` is a deep copy of real record ``i % len(records)`` with its architecture
(``arch_index``, ``arch_str`` and each run's ``arch_config``) set to ``meta_archs[i]`` and
every per-epoch accuracy and loss multiplied by ``1 + 0.01 * N(0, 1)`` (accuracies clipped
to [0, 100], losses kept > 0), from a NumPy generator seeded by ``(seed, i)``: the output is
deterministic and different archs have different numbers. Everything else (seeds, epochs,
times, params, FLOPs, latency, evaluation names) is the real record's.

The numbers are NOT NATS-Bench's: use the result only to measure speed and memory.

``make_full_store`` skips the pickles: it writes the same kind of full-size data straight into
a store through the converter's own assembly (``benchmarks.convert.assemble``), in seconds, for
the schedules you name (a 12-epoch TSS store is ~100 MB; 200 epochs would be ~4 GB). Its
records also vary the layout the way the real archive does (see its docstring), so tests on
it see every case of the store: seeds missing for some archs, splits evaluated only after the
last epoch, chunks that do not follow index order.

Files are written like ``nats_bench.api_utils.pickle_save`` (bz2 of a protocol-4 pickle),
each atomically (a temp file in the same directory, then ``os.replace``); files that already
exist are skipped, so an interrupted generation resumes where it stopped. Work is split into
chunks of indices over a process pool (one process per core by default).

Command line::

    python tests/synthetic.py SRC OUT [--space tss] [--n N] [--seed S] [--workers W]
"""
from __future__ import annotations

import argparse
import bz2
import copy
import os
import pickle
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from suite.spaces import get_tabular_space

PICKLE_EXT = "pickle.pbz2"
META_NAME = f"meta.{PICKLE_EXT}"
COMPRESSLEVEL = 9  # bz2's default, as the official files; 1..9 are all valid bz2
_RECORD_RE = re.compile(r"^(\d+)\.pickle\.pbz2$")
_TMP_RE = re.compile(r"^\.(?:\d+|meta)\.pickle\.pbz2\.tmp-(\d+)$")
_SPACES = {name: get_tabular_space(name).name for name in ("tss", "topology", "sss", "size")}
"""The names ``--space`` takes, each with the benchmark space it names (from the one registry)."""

_ACC_FIELDS = ("train_acc1es", "train_acc5es", "eval_acc1es")
_LOSS_FIELDS = ("train_losses", "eval_losses")
_TEMPLATES: dict[str, list[dict]] = {}  # per worker process: src_dir -> real records


def _load_pbz2(path: Path) -> Any:
    with bz2.BZ2File(path, "rb") as fh:
        return pickle.load(fh)


def _template_files(src_dir: Path) -> list[Path]:
    files = sorted((p for p in src_dir.iterdir() if _RECORD_RE.match(p.name)), key=lambda p: int(p.name[:6]))
    if not files:
        raise FileNotFoundError(f"{src_dir} holds no NNNNNN.{PICKLE_EXT} record to copy")
    return files


def _templates(src_dir: str) -> list[dict]:
    recs = _TEMPLATES.get(src_dir)
    if recs is None:
        recs = [_load_pbz2(p) for p in _template_files(Path(src_dir))]
        _TEMPLATES[src_dir] = recs
    return recs


def _perturb(values: dict | None, rng: np.random.Generator, lo: float, hi: float | None) -> dict | None:
    """The same mapping with every number times 1 + 0.01 N(0,1), clipped to [lo, hi]."""
    if not values:
        return values
    keys = [k for k, v in values.items() if isinstance(v, (float, int, np.floating, np.integer))
            and not isinstance(v, bool)]
    out = type(values)(values)  # keeps dict / OrderedDict and key order
    if not keys:
        return out
    x = np.array([float(values[k]) for k in keys])
    x = np.clip(x * (1.0 + 0.01 * rng.standard_normal(len(keys))), lo, hi)
    out.update(zip(keys, x.tolist()))
    return out


def synthesize_record(template: dict, index: int, arch: str, space: str = "tss", seed: int = 0) -> dict:
    """Record ``index`` (hp -> ArchResults state dict) made from a real one: see the module doc."""
    space = _SPACES[space]
    rng = np.random.default_rng([int(seed), int(index)])
    rec = copy.deepcopy(template)
    for state in rec.values():
        state["arch_index"] = int(index)
        state["arch_str"] = arch
        for rc in state["all_results"].values():
            cfg = rc.get("arch_config")
            if isinstance(cfg, dict):
                if "arch_str" in cfg:
                    cfg["arch_str"] = arch
                if space == "sss" and "channels" in cfg:
                    cfg["channels"] = arch  # the SSS arch string is the channel list
            for name in _ACC_FIELDS:
                rc[name] = _perturb(rc.get(name), rng, 0.0, 100.0)
            for name in _LOSS_FIELDS:
                rc[name] = _perturb(rc.get(name), rng, 1e-12, None)
    return rec


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _write_atomic(path: Path, obj: Any, compresslevel: int) -> None:
    """bz2 of a protocol-4 pickle (``nats_bench.api_utils.pickle_save``), renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(bz2.compress(pickle.dumps(obj, protocol=4), compresslevel))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_chunk(src_dir: str, out_dir: str, space: str, seed: int, compresslevel: int,
                 items: list[tuple[int, str]]) -> int:
    records = _templates(src_dir)
    out = Path(out_dir)
    for i, arch in items:
        path = out / f"{i:06d}.{PICKLE_EXT}"
        if path.exists():  # written by an earlier, interrupted run
            continue
        _write_atomic(path, synthesize_record(records[i % len(records)], i, arch, space, seed), compresslevel)
    return len(items)


def make_full_nats_dir(src_dir: str | os.PathLike, out_dir: str | os.PathLike, space: str = "tss",
                       n: int | None = None, seed: int = 0, workers: int | None = None,
                       progress: bool = True, *, chunk_size: int = 128,
                       compresslevel: int = COMPRESSLEVEL) -> Path:
    """Write a full-size official-format fast-mode directory at ``out_dir`` (see the module doc).

    ``src_dir`` is an official fast-mode directory holding the meta file and at least one
    record; ``n`` limits the output to the first ``n`` indices (default: all meta archs).
    Returns ``out_dir``.
    """
    if space not in _SPACES:
        raise ValueError(f"space must be 'tss' or 'sss', got {space!r}")
    space = _SPACES[space]
    src, out = Path(src_dir).expanduser(), Path(out_dir).expanduser()
    if src.resolve() == out.resolve():
        raise ValueError("out_dir must differ from src_dir")
    meta_file = src / META_NAME
    if not meta_file.is_file():
        raise FileNotFoundError(f"{src} is not a NATS-Bench fast-mode directory: no {META_NAME}")
    meta = _load_pbz2(meta_file)
    archs = list(meta["meta_archs"])
    total = len(archs) if n is None else int(n)
    if not 0 <= total <= len(archs):
        raise ValueError(f"n={n} is outside [0, {len(archs)}] (the archs of {meta_file})")
    templates = _templates(str(src))
    hps = {tuple(r) for r in templates}
    if len(hps) != 1:
        raise ValueError(f"the records of {src} disagree on their hp settings: {sorted(hps)}")
    if not 1 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be in 1..9, got {compresslevel}")

    out.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(out):
        m = _TMP_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):  # left by a killed run
            (out / name).unlink(missing_ok=True)
    if not (out / META_NAME).is_file():
        tmp = out / f".{META_NAME}.tmp-{os.getpid()}"
        shutil.copyfile(meta_file, tmp)
        os.replace(tmp, out / META_NAME)

    have = {int(m.group(1)) for m in map(_RECORD_RE.match, os.listdir(out)) if m}
    todo = [i for i in range(total) if i not in have]
    chunks = [[(i, archs[i]) for i in todo[k:k + chunk_size]] for k in range(0, len(todo), chunk_size)]
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=total - len(todo), desc=f"synthesize {out.name}", unit="arch",
              disable=not progress or None, leave=False) as bar:
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
        if n_workers == 1:
            for chunk in chunks:
                bar.update(_write_chunk(str(src), str(out), space, seed, compresslevel, chunk))
        elif chunks:
            with ProcessPoolExecutor(n_workers) as pool:
                futs = [pool.submit(_write_chunk, str(src), str(out), space, seed, compresslevel, chunk)
                        for chunk in chunks]
                for fut in as_completed(futs):
                    bar.update(fut.result())
    return out


_SERIES_NOISE = {"acc": (0.0, 100.0), "acc5": (0.0, 100.0), "loss": (1e-12, None)}
"""Flattened series that are perturbed, and their clipping range; times, params, FLOPs and latency are kept."""


def _synth_chunk(indices: np.ndarray, templates: list[dict[str, np.ndarray]], real: dict[int, int],
                 seed: int) -> dict[str, np.ndarray]:
    """The flattened arrays of one converter chunk (``convert._flatten_chunk``) for ``indices``.

    Arch ``i``'s numbers depend on ``(seed, i)`` only, never on which chunk holds it."""
    keys = sorted(templates[0])
    noisy = [k for k in keys if templates[0][k].ndim == 1 and k.rsplit(".", 1)[-1] in _SERIES_NOISE]
    width = sum(templates[0][k].size for k in noisy)
    noise = np.stack([np.random.default_rng([int(seed), int(i)]).standard_normal(width) for i in indices])
    tmpl = np.array([real.get(int(i), int(i) % len(templates)) for i in indices])
    is_real = np.isin(indices, list(real))
    drop_seed = (indices % 7 == 3) & ~is_real      # these archs lack the last seed of a multi-seed group
    last_only = (indices % 5 == 1) & ~is_real      # these have evaluation splits only after the last epoch
    seeds: dict[tuple[str, str], list[int]] = {}
    for k in keys:
        hp, ds, sd, _ = k.split("/")
        seeds.setdefault((hp, ds), []).append(int(sd))
    out: dict[str, np.ndarray] = {"index": indices.astype(np.int64)}
    at = 0
    for k in keys:
        hp, ds, sd, series = k.split("/")
        data = np.stack([t[k] for t in templates])[tmpl].astype(np.float64)  # [n] or [n, epochs]
        field = series.rsplit(".", 1)[-1]
        if k in noisy:
            lo, hi = _SERIES_NOISE[field]
            eps = noise[:, at:at + data.shape[1]]
            at += data.shape[1]
            data = np.where(is_real[:, None], data, np.clip(data * (1.0 + 0.01 * eps), lo, hi))
            if not series.startswith("train.") and field in ("acc", "loss"):
                data[last_only, :-1] = np.nan
        if len(set(seeds[(hp, ds)])) > 1 and int(sd) == max(seeds[(hp, ds)]):
            data[drop_seed] = np.nan
        out[k] = data
    return out


def make_full_store(src_dir: str | os.PathLike, out: str | os.PathLike, space: str = "tss",
                    epochs: tuple[int, ...] = (12,), seed: int = 0, chunk_size: int = 2048) -> Path:
    """A complete full-size store (every arch of the meta file) for the ``epochs`` schedules.

    Arch ``i`` copies real record ``i % n`` of ``src_dir`` with accuracies and losses perturbed
    as in ``make_full_nats_dir``; the real records' own indices keep their real numbers. To
    cover the layouts of the real archive, archs with ``i % 7 == 3`` lack the last seed of every
    group that has several, and archs with ``i % 5 == 1`` have their evaluation splits' loss
    and accuracy only after the last epoch (their per-epoch times are kept), as NATS-Bench's
    200-epoch runs record ``x-test``. Each chunk holds a random set of indices.
    """
    import json
    import tempfile

    from benchmarks import nats
    from benchmarks.convert import assemble

    space = _SPACES[space]
    src = nats.locate(src_dir, space)
    archs = nats.read_meta(src)
    templates: list[dict[str, np.ndarray]] = []
    real: dict[int, int] = {}
    config: dict[str, dict] = {}
    for i, rec in nats.iter_fast_records(src, list(src.record_files())):
        flat = {k: v for k, v in nats.flatten_record(i, rec).items() if int(k.split("/")[0]) in epochs}
        if not flat or (templates and set(flat) != set(templates[0])):
            raise ValueError(f"record {i} of {src.path} lacks the schedules {epochs} or differs in seeds/splits")
        real[i] = len(templates)
        templates.append(flat)
        for ds, c in nats.record_config(rec).items():
            config.setdefault(ds, c)
    meta = {"config_json": np.array(json.dumps(config)),
            "schema_json": np.array(json.dumps({k: (v.shape[0] if v.ndim else 0) for k, v in templates[0].items()}))}
    order = np.random.default_rng(seed).permutation(len(archs))
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.chunks-", dir=out.parent) as tmp:
        chunk_files = []
        for c, start in enumerate(range(0, len(archs), chunk_size)):
            chunk = _synth_chunk(np.sort(order[start:start + chunk_size]), templates, real, seed)
            chunk_files.append(Path(tmp) / f"chunk-{c:05d}.npz")
            np.savez(chunk_files[-1], **chunk, **meta)
        return assemble(chunk_files, archs, space, out, src.path.name.replace("-simple", ""),
                        {"kind": "synthetic", "path": str(src.path), "epochs": list(epochs), "seed": seed},
                        progress=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tests/synthetic.py",
                                 description="Write a full-size synthetic NATS-Bench fast-mode directory from a "
                                             "few real records (for speed/memory measurements only).")
    ap.add_argument("src", help="official fast-mode directory with meta.pickle.pbz2 and a few records")
    ap.add_argument("out", help="directory to write (resumes if it is partly written)")
    ap.add_argument("--space", default="tss", choices=sorted(_SPACES))
    ap.add_argument("--n", type=int, default=None, help="write only the first N archs (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    ap.add_argument("--compresslevel", type=int, default=COMPRESSLEVEL, help="bz2 level 1..9")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = make_full_nats_dir(args.src, args.out, args.space, args.n, args.seed, args.workers,
                             not args.quiet, compresslevel=args.compresslevel)
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
