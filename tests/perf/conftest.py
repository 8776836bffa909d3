"""Full-size data for the performance benchmarks, built once and cached between runs.

The official NATS-Bench archive cannot be downloaded here, so a session fixture multiplies
the three real records in ``nats-official`` (``../shared/data``, or tests/data on a fresh clone:
``reference_data`` in tests/conftest.py) into a full-size synthetic
fast-mode directory (``tests/synthetic.py``, 15,625 files, ~1.6 GB) and converts it once
with ``benchmarks.convert.convert_nats`` into a store beside it (~4 GB). Both live in
``$DNAS_PERF_CACHE`` (default ``~/.cache/dnas-suite/perf``) and are reused by later runs: a
``*.complete.json`` marker is written after each step succeeds, and an interrupted
generation or conversion resumes where it stopped.

Without the real records the tests are skipped, except under ``CI=true`` where they fail.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

TSS_NAME = "NATS-tss-v1_0-3ffb9-simple"
TSS_N = 15625


@dataclasses.dataclass(frozen=True)
class PerfData:
    nats_dir: Path          # full-size synthetic official fast-mode directory
    store: Path             # that directory converted to a dnas-suite store
    n_archs: int
    gen_seconds: float      # cold generation time (from the run that built it)
    convert_seconds: float  # cold conversion time (from the run that built it)
    built_now: bool         # True when this session generated or converted something

    def info(self) -> dict:
        return {"n_archs": self.n_archs, "cold_generation_s": round(self.gen_seconds, 1),
                "cold_conversion_s": round(self.convert_seconds, 1), "built_this_session": self.built_now}


def cache_dir() -> Path:
    return Path(os.environ.get("DNAS_PERF_CACHE") or "~/.cache/dnas-suite/perf").expanduser()


def workers() -> int | None:
    w = os.environ.get("DNAS_PERF_WORKERS")
    return int(w) if w else None  # None: one process per core


def real_records() -> Path:
    """The real TSS records the synthetic benchmark is built from (skip without them; fail in CI)."""
    from conftest import TSS_REL, reference_data

    return reference_data(f"{TSS_REL}/meta.pickle.pbz2").parent


def gen_params(source: Path) -> dict:
    """What the cached data was made with; change it (e.g. bump "generator") to force a rebuild."""
    return {"space": "tss", "n": TSS_N, "seed": 0, "generator": 1, "source": str(source)}


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One pytest session at a time builds the cache."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _count_records(d: Path) -> int:
    return sum(1 for name in os.listdir(d) if name.endswith(".pickle.pbz2") and name[:6].isdigit())


@pytest.fixture(scope="session")
def perf_data() -> PerfData:
    source = real_records()
    params = gen_params(source)
    from benchmarks.convert import convert_nats
    from synthetic import make_full_nats_dir

    root = cache_dir()
    nats_dir = root / TSS_NAME
    store = root / "NATS-tss-v1_0-3ffb9.store"
    gen_marker = root / f"{TSS_NAME}.complete.json"
    store_marker = root / f"{store.name}.complete.json"
    built = False
    with _locked(root):
        gen = _read_marker(gen_marker)
        if gen is None or not gen.get("complete") or gen.get("params") != params \
                or not (nats_dir / "meta.pickle.pbz2").is_file():
            resume = gen is not None and gen.get("params") == params
            if not resume:  # unknown origin or other parameters: existing files would be kept, start over
                shutil.rmtree(nats_dir, ignore_errors=True)
            store_marker.unlink(missing_ok=True)
            shutil.rmtree(root / f".{store.name}.partial", ignore_errors=True)  # chunks of the old data
            _write_marker(gen_marker, {"params": params, "complete": False})
            print(f"\n[perf] generating {TSS_N} synthetic NATS-Bench records into {nats_dir} "
                  f"({'resuming' if resume else 'from scratch'}; cached afterwards)")
            t0 = time.perf_counter()
            make_full_nats_dir(source, nats_dir, "tss", n=TSS_N, seed=params["seed"], workers=workers())
            seconds = time.perf_counter() - t0
            count = _count_records(nats_dir)
            assert count == TSS_N, f"generation left {count} record files, expected {TSS_N}"
            gen = {"params": params, "complete": True, "seconds": seconds, "resumed": resume,
                   "files": count, "workers": workers() or os.cpu_count()}
            _write_marker(gen_marker, gen)
            print(f"[perf] generation took {seconds:.1f} s")
            built = True
        conv = _read_marker(store_marker)
        if conv is None or conv.get("source") != gen or not (store / "metadata.json").is_file():
            store_marker.unlink(missing_ok=True)
            for stale in root.glob(f".{store.name}.tmp-*"):  # assembly of a killed run (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            print(f"\n[perf] converting {nats_dir} into {store} (cached afterwards)")
            t0 = time.perf_counter()
            convert_nats(nats_dir, "tss", store, workers=workers(), overwrite=True)
            seconds = time.perf_counter() - t0
            conv = {"source": gen, "seconds": seconds, "workers": workers() or os.cpu_count()}
            _write_marker(store_marker, conv)
            print(f"[perf] conversion took {seconds:.1f} s")
            built = True
    return PerfData(nats_dir, store, TSS_N, float(gen["seconds"]), float(conv["seconds"]), built)
