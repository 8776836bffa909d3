"""Conversion of the official files: both layouts, parallel, resumable, atomic, and clear on bad input."""
from __future__ import annotations

import bz2
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import benchmarks
from benchmarks import nats
from benchmarks.convert import convert_nats
from conftest import REAL_INDICES
from suite.errors import DnasError, FormatError, MissingFileError


def _arrays(store: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(store)): np.load(p) for p in sorted(store.rglob("*.npy"))}


def _assert_same_store(a: Path, b: Path) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert xa.keys() == xb.keys()
    for k in xa:
        assert np.array_equal(xa[k], xb[k], equal_nan=True), k
    ma, mb = json.loads((a / "metadata.json").read_text()), json.loads((b / "metadata.json").read_text())
    assert ma["groups"] == mb["groups"]


def _copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in [dst, *dst.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)  # ../shared is read-only
    return dst


def test_single_archive_equals_fast_dir(tss_dir, tss_store, tmp_path):
    import nats_bench

    meta = nats.load_pbz2(tss_dir / "meta.pickle.pbz2")
    full = {"meta_archs": meta["meta_archs"], "total_archs": len(meta["meta_archs"]),
            "arch2infos": {i: nats.load_pbz2(tss_dir / f"{i:06d}.pickle.pbz2") for i in REAL_INDICES},
            "evaluated_indexes": set(REAL_INDICES)}
    archive = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.BZ2File(archive, "wb") as fh:
        pickle.dump(full, fh, protocol=4)
    api = nats_bench.create(str(archive), "tss", fast_mode=False, verbose=False)  # a valid official archive
    assert api.get_more_info(11, "cifar10", hp="200", is_random=False)["test-accuracy"] == \
        benchmarks.open(tss_store).query(11, "cifar10", "test-accuracy", 200)
    out = convert_nats(archive, "tss", tmp_path / "from-archive", progress=False)
    _assert_same_store(out, tss_store)


def test_parallel_equals_serial(sss_dir, sss_store, tmp_path):
    par = convert_nats(sss_dir, "sss", tmp_path / "par", workers=2, chunk_size=1, progress=False)
    ser = convert_nats(sss_dir, "sss", tmp_path / "ser", workers=1, chunk_size=2, progress=False)
    _assert_same_store(par, sss_store)
    _assert_same_store(ser, sss_store)


def test_interrupted_conversion_resumes(tss_dir, tss_store, tmp_path, monkeypatch):
    src = _copy_dir(tss_dir, tmp_path / "NATS-tss-v1_0-3ffb9-simple")
    good = (src / "000284.pickle.pbz2").read_bytes()
    (src / "000284.pickle.pbz2").write_bytes(good[: len(good) // 2])  # truncated download
    out = tmp_path / "store"
    with pytest.raises(FormatError) as exc:
        convert_nats(src, "tss", out, workers=1, chunk_size=1, progress=False)
    msg = str(exc.value)
    assert "000284.pickle.pbz2" in msg and "\n" not in msg
    assert not out.exists()
    partial = tmp_path / ".store.partial"
    done = sorted(partial.glob("chunk-*.npz"))
    assert [p.name for p in done] == ["chunk-00000.npz", "chunk-00001.npz"]
    stamps = {p: p.stat().st_mtime_ns for p in done}
    (src / "000284.pickle.pbz2").write_bytes(good)
    flattened: list[list[int]] = []
    real = nats.iter_fast_records
    monkeypatch.setattr(nats, "iter_fast_records",
                        lambda s, idx, *a: flattened.append(list(idx)) or real(s, idx, *a))
    convert_nats(src, "tss", out, workers=1, chunk_size=1, progress=False)
    assert flattened == [[284]]  # only the missing chunk was redone
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.exists()) and not partial.exists()
    _assert_same_store(out, tss_store)


def test_existing_output_is_kept_unless_overwrite(sss_dir, tmp_path):
    out = convert_nats(sss_dir, "sss", tmp_path / "s", progress=False)
    with pytest.raises(DnasError, match="--overwrite"):
        convert_nats(sss_dir, "sss", out, progress=False)
    convert_nats(sss_dir, "sss", out, progress=False, overwrite=True)
    assert benchmarks.open(out).n_archs == 32768
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_corrupt_meta_and_missing_meta(tss_dir, tmp_path):
    src = _copy_dir(tss_dir, tmp_path / "NATS-tss-v1_0-3ffb9-simple")
    (src / "meta.pickle.pbz2").write_bytes(b"not bz2 at all")
    with pytest.raises(FormatError, match=r"corrupt or truncated NATS-Bench file .*meta\.pickle\.pbz2"):
        convert_nats(src, "tss", tmp_path / "out", progress=False)
    (src / "meta.pickle.pbz2").unlink()
    with pytest.raises(MissingFileError, match=r"missing meta file .*meta\.pickle\.pbz2.*NATS-Bench#preparation"):
        convert_nats(src, "tss", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_corrupt_single_archive(tmp_path):
    archive = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    archive.write_bytes(bz2.compress(b"\x80\x04truncated pickle")[:-5])
    with pytest.raises(FormatError, match="corrupt or truncated NATS-Bench file .*NATS-tss-v1_0-3ffb9.pickle.pbz2"):
        convert_nats(archive, "tss", tmp_path / "out", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]  # nothing half-written left behind


def test_wrong_space(tss_dir, sss_dir, tmp_path):
    with pytest.raises(FormatError, match="is a NATS-Bench 'tss' file but --space sss was given; pass --space tss"):
        convert_nats(tss_dir, "sss", tmp_path / "out", progress=False)
    renamed = _copy_dir(sss_dir, tmp_path / "my-download")  # a name that does not tell the space
    with pytest.raises(FormatError, match="lists 32768 architectures.*pass --space sss"):
        convert_nats(renamed, "tss", tmp_path / "out", progress=False)
    with pytest.raises(MissingFileError, match="no NATS-Bench data at"):
        convert_nats(tmp_path / "nowhere", "tss", tmp_path / "out", progress=False)


def test_store_from_another_format_version_or_corrupt(sss_store, tmp_path):
    store = shutil.copytree(sss_store, tmp_path / "s")
    meta = json.loads((store / "metadata.json").read_text())
    (store / "metadata.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(FormatError, match="format version 99.*convert the benchmark again"):
        benchmarks.open(store)
    (store / "metadata.json").write_text("{broken")
    with pytest.raises(FormatError, match="corrupt store metadata"):
        benchmarks.open(store)
    (store / "metadata.json").write_text(json.dumps(meta))
    arr = store / "e12" / "cifar100" / "x-test.acc.npy"
    arr.write_bytes(arr.read_bytes()[:40])
    with pytest.raises(FormatError, match="corrupt store array .*x-test.acc.npy"):
        benchmarks.open(store).query(0, "cifar100", "test-accuracy", 12)
    with pytest.raises(MissingFileError, match="not a dnas-suite store"):
        benchmarks.open(tmp_path)
