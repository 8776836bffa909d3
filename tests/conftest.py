"""Shared fixtures: the real NATS-Bench files and published tables, and stores converted from them.

The reference data is ../shared/data when that folder is beside the checkout (CI always has it) and
otherwise the copy shipped in tests/data (a fresh clone): ``reference_data(name)`` finds either, by the name
the file has in ../shared/data. tests/data/README.md says what is shipped, what is not and why.
"""
from __future__ import annotations

import atexit
import hashlib
import lzma
import os
import pickle
import shutil
import tempfile
from pathlib import Path

# As the dnas command does: idle OpenMP threads sleep rather than spin, so tests sharing the
# cores with other processes do not slow each other down several times. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHIPPED = Path(__file__).resolve().parent / "data"
TSS_REL = "nats-official/NATS-tss-v1_0-3ffb9-simple"
SSS_REL = "nats-official/NATS-sss-v1_0-50262-simple"
REAL_INDICES = (0, 11, 284)
T200 = "nb201-200ep-test-accuracy.csv"
HW = "nb201-hw-latency-energy.parquet"
NOT_SHIPPED = {  # files of ../shared/data that tests read but tests/data cannot hold
    HW: "its source states no licence: a fresh clone reads a stand-in of the same layout (write_hw_stand_in)",
}


def _missing(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(msg)


def need(path: Path, why: str = "it lives in ../shared/data") -> Path:
    """Return ``path``; skip when it is absent on a user's clone, but fail in CI, which always has it."""
    if not path.exists():
        _missing(f"real reference data not found at {path} ({why})")
    return path


def use_shared() -> bool:
    """Whether the tests read ../shared/data (present, and DNAS_TEST_DATA is not 'shipped') or tests/data."""
    return SHARED.is_dir() and os.environ.get("DNAS_TEST_DATA", "").lower() != "shipped"


def reference_data(name: str) -> Path:
    """The real reference file or folder ``name`` (its path inside ../shared/data): from ../shared/data
    when present, else from the copy shipped in tests/data. Absent from both: skip, or fail in CI."""
    path = data_root() / name
    if not path.exists():
        where = f"{SHARED}" if use_shared() else f"tests/data ({NOT_SHIPPED.get(name, 'see tests/data/README.md')})"
        _missing(f"real reference data {name} not found in {where}")
    return path.resolve()  # a shipped folder resolves into tests/data itself: a stable path


def is_published(name: str) -> bool:
    """False on a fresh clone for the 200-epoch table (written from the built-in table) and the latency
    table (a stand-in of the same layout)."""
    return use_shared() or name not in (T200, HW)


_UNPACKED: list[Path] = []


def data_root() -> Path:
    """../shared/data, or a temporary folder laid out like it from tests/data (made once per process):
    its folders linked, its ``NAME.xz`` files unpacked and checked against SHA256SUMS, and the
    unlicensed 200-epoch table written from the package's built-in table, which holds its numbers."""
    if use_shared():
        return SHARED
    if not _UNPACKED:
        root = Path(tempfile.mkdtemp(prefix="dnas-test-data-"))
        atexit.register(shutil.rmtree, root, True)
        unpack_shipped(root)
        write_table_200(root / T200)
        write_hw_stand_in(root / HW)
        _UNPACKED.append(root)
    return _UNPACKED[0]


def unpack_shipped(root: Path, link: bool = True) -> dict[str, str]:
    """Lay tests/data out in ``root`` as ../shared/data is laid out and check every file against
    SHA256SUMS, which it returns ({path: sha256}). ``NAME.xz`` is unpacked to ``NAME``; a folder
    with nothing packed in it is linked (``link``) or copied whole, other files likewise."""
    sums = {rel: digest for digest, rel in (line.split("  ", 1)
                                            for line in (SHIPPED / "SHA256SUMS").read_text().splitlines())}

    def lay(entry: Path, into: Path) -> None:
        target = into / entry.name.removesuffix(".xz")
        if entry.is_dir() and any(entry.rglob("*.xz")):
            target.mkdir()
            for child in sorted(entry.iterdir()):
                lay(child, target)
        elif entry.suffix == ".xz":
            target.write_bytes(lzma.decompress(entry.read_bytes()))
        elif link:
            target.symlink_to(entry, target_is_directory=entry.is_dir())
        else:
            (shutil.copytree if entry.is_dir() else shutil.copyfile)(entry, target)

    for top in sorted({rel.split("/")[0] for rel in sums}):  # not README.md, make.py, licenses/, ...
        lay(SHIPPED / top if (SHIPPED / top).exists() else SHIPPED / f"{top}.xz", root)
    for rel, digest in sums.items():
        file = root / rel
        if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"tests/data/{rel} is missing or differs from SHA256SUMS: "
                               f"rebuild it with python tests/data/make.py")
    return sums


def write_table_200(path: Path) -> Path:
    """The columns of the published 200-epoch table that the tests read (``TABLES``), written from the
    built-in nb201 table, which holds the same seed-mean NATS-Bench values (tests/data/README.md):
    same header, arch strings in official order, every value in the shortest form that reads back exact."""
    import benchmarks

    nb201 = benchmarks.open("nb201")
    cols = {col: nb201.query_many("all", ds, metric, epochs)
            for file, _, epochs, ds, metric, col in TABLES if file == T200}
    arch_col = next(arch for file, arch, *_ in TABLES if file == T200)
    rows = [",".join([*(repr(float(v[i])) for v in cols.values()), arch]) for i, arch in enumerate(nb201.archs)]
    path.write_text(",".join([*cols, arch_col]) + "\n" + "\n".join(rows) + "\n")
    return path


def write_hw_stand_in(path: Path) -> Path:
    """A table laid out as the HW-NAS-Bench-style latency parquet (unlicensed, so not shipped): 12 rows per
    architecture (device x runtime x task), the same columns and types, made-up positive latencies and
    energies, so the importer's filters and aggregation run on
    a file of the real size and shape. Its numbers are not real and no test reads them as such."""
    import pandas as pd

    rng = np.random.default_rng(201)
    combos = [(d, f, t) for d in ("pi5", "pixel") for f in ("onnx", "tflite", "torch") for t in ("cifar10", "cifar100")]
    n = 15_625
    idx = np.repeat(np.arange(n), len(combos))
    lat = rng.lognormal(1.0, 0.5, len(idx))
    frame = pd.DataFrame({"arch_idx": idx, "rep_arch_idx": idx,
                          "device": [c[0] for c in combos] * n, "framework": [c[1] for c in combos] * n,
                          "task": [c[2] for c in combos] * n, "lat_ms_median": lat,
                          "lat_ms_var": rng.random(len(idx)), "energy_mj": lat * rng.uniform(0.5, 2.0, len(idx)),
                          "accuracy": rng.uniform(10, 95, len(idx)), "status": "ok"})
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def tss_dir() -> Path:
    return reference_data(TSS_REL)


@pytest.fixture(scope="session")
def sss_dir() -> Path:
    return reference_data(SSS_REL)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference-data folder, laid out as ../shared/data (``data_root``)."""
    return data_root()


@pytest.fixture(scope="session")
def tss_store(tss_dir, tmp_path_factory) -> Path:
    from benchmarks.convert import convert_nats

    return convert_nats(tss_dir, "tss", tmp_path_factory.mktemp("stores") / "tss", progress=False)


@pytest.fixture(scope="session")
def sss_store(sss_dir, tmp_path_factory) -> Path:
    from benchmarks.convert import convert_nats

    return convert_nats(sss_dir, "sss", tmp_path_factory.mktemp("stores") / "sss", progress=False)


@pytest.fixture(scope="session")
def tss(tss_store):
    import benchmarks

    return benchmarks.open(tss_store)


TSS_VERSION = "NATS-tss-v1_0-3ffb9"
TABLES = [  # (file, arch column, epochs, dataset, store metric, column) of the published NB201 tables
    *[(T200, "ArchitectureString", 200, ds, "test-accuracy", col)
      for ds, col in [("cifar10", "CIFAR10TestAccuracy200Epochs"), ("cifar100", "CIFAR100TestAccuracy200Epochs"),
                      ("ImageNet16-120", "ImageNetTestAccuracy200Epochs")]],
    *[("nb201-12ep-accuracy.csv", "arch", 12, ds, metric, col)
      for ds, metric, col in [("cifar10-valid", "valid-accuracy", "cifar10-val"),
                              ("cifar10", "test-accuracy", "cifar10-test"),
                              ("cifar100", "valid-accuracy", "cifar100-val"),
                              ("cifar100", "test-accuracy", "cifar100-test"),
                              ("ImageNet16-120", "valid-accuracy", "imagenet-val"),
                              ("ImageNet16-120", "test-accuracy", "imagenet-test")]],
]


@pytest.fixture(scope="session")
def nb201_tables(tss_dir, tmp_path_factory) -> Path:
    """A complete store (all 15,625 archs, identity slots) imported from the published tables:
    200-epoch test accuracy of cifar10/cifar100/ImageNet16-120 and 12-epoch valid/test accuracy
    (on a fresh clone the 200-epoch table is the one ``write_table_200`` writes)."""
    from benchmarks.importer import import_table

    out = tmp_path_factory.mktemp("tables") / "nb201"
    metrics: dict[tuple[str, int, str, str], dict[str, str]] = {}
    for file, arch_col, epochs, ds, metric, col in TABLES:
        metrics.setdefault((file, epochs, ds, arch_col), {})[metric] = col
    for (file, epochs, ds, arch_col), cols in metrics.items():
        import_table(reference_data(file), arch_column=arch_col, metrics=cols, dataset=ds, epochs=epochs,
                     version=TSS_VERSION, out=out, order=tss_dir / "meta.pickle.pbz2")
    return out


@pytest.fixture(scope="session")
def full_tss_store(tss_dir, tmp_path_factory) -> Path:
    """A complete converted TSS store in the official layout (seeds, per-epoch arrays, times) for the
    12-epoch schedule, built from the real records (``tests/synthetic.py``: ``make_full_store``)."""
    from synthetic import make_full_store

    return make_full_store(tss_dir, tmp_path_factory.mktemp("full") / "tss-12", "tss", (12,))


@pytest.fixture(scope="session")
def full_sss_store(sss_dir, tmp_path_factory) -> Path:
    """A complete converted SSS store (all 32,768 archs) for the 1-epoch schedule."""
    from synthetic import make_full_store

    return make_full_store(sss_dir, tmp_path_factory.mktemp("full") / "sss-1", "sss", (1,))


@pytest.fixture(scope="session")
def official_tss(tss_dir):
    import nats_bench

    return nats_bench.create(str(tss_dir), "tss", fast_mode=True, verbose=False)


@pytest.fixture(scope="session")
def official_sss(sss_dir):
    import nats_bench

    return nats_bench.create(str(sss_dir), "sss", fast_mode=True, verbose=False)


@pytest.fixture(scope="session")
def tss_meta_archs(tss_dir) -> list[str]:
    from benchmarks import nats

    return nats.read_meta(nats.locate(tss_dir, "tss"))


# ---- tiny datasets in the official on-disk formats, from the real CIFAR sample images ----------

CIFAR10_TRAIN_PER_BATCH = 3          # 5 batches x 3 = 15 train images, 5 test images
CIFAR100_TRAIN = 12                  # 12 train, 8 test
IN16_PER_BATCH = 3                   # 10 batches x 3 = 30 train images, 10 val images


def read_pngs(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The real sample images ``<prefix>_NN_LABEL.png`` in NN order: HWC uint8 and labels."""
    files = sorted(reference_data("cifar-samples").glob(f"{prefix}_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    assert len(files) == 20, files
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    labels = np.array([int(f.stem.split("_")[2]) for f in files], dtype=np.int64)
    return images, labels


def planar(images: np.ndarray) -> np.ndarray:
    """HWC images -> the official rows: all R (row-major), then all G, then all B."""
    return np.stack([np.concatenate([im[:, :, c].ravel() for c in range(3)]) for im in images])


def dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_split(path: Path, **halves: list[int]) -> None:
    """A split file in NATS-Bench's own syntax: ``"name"   : ["int"   , ["0", "5"]]``."""
    rows = [f'  "{k}"{" " * max(1, 19 - len(k))}: ["int"   , [' + ", ".join(f'"{i}"' for i in v) + "]]"
            for k, v in halves.items()]
    path.write_text("{\n" + ",\n".join(rows) + "\n}")


@pytest.fixture(scope="session")
def c10() -> tuple[np.ndarray, np.ndarray]:
    return read_pngs("cifar10")


@pytest.fixture(scope="session")
def c100() -> tuple[np.ndarray, np.ndarray]:
    return read_pngs("cifar100")


@pytest.fixture(scope="session")
def in16(c10, c100) -> tuple[np.ndarray, np.ndarray]:
    """40 real images box-downsampled to 16x16 with 1-based labels over 1..200 (some beyond 120)."""
    images = np.concatenate([c10[0], c100[0]])
    small = np.stack([np.asarray(Image.fromarray(im).resize((16, 16), Image.Resampling.BOX)) for im in images])
    labels = np.array([(i * 37) % 200 + 1 for i in range(40)], dtype=np.int64)
    return small, labels


@pytest.fixture(scope="session")
def root(tmp_path_factory, c10, c100, in16) -> Path:
    """A data folder holding cifar-10-batches-py/, cifar-100-python/ and ImageNet16/."""
    root = tmp_path_factory.mktemp("datasets")
    x, y = c10
    k = CIFAR10_TRAIN_PER_BATCH
    for b in range(5):
        sl = slice(b * k, (b + 1) * k)
        dump(root / "cifar-10-batches-py" / f"data_batch_{b + 1}",
             {b"batch_label": b"training batch", b"labels": y[sl].tolist(), b"data": planar(x[sl]),
              b"filenames": [b"x.png"] * k})
    dump(root / "cifar-10-batches-py" / "test_batch", {b"labels": y[5 * k:].tolist(), b"data": planar(x[5 * k:])})
    x, y = c100
    for split, sl in (("train", slice(0, CIFAR100_TRAIN)), ("test", slice(CIFAR100_TRAIN, None))):
        dump(root / "cifar-100-python" / split,
             {b"fine_labels": y[sl].tolist(), b"coarse_labels": (y[sl] // 5).tolist(), b"data": planar(x[sl])})
    x, y = in16
    k = IN16_PER_BATCH
    for b in range(10):
        sl = slice(b * k, (b + 1) * k)
        dump(root / "ImageNet16" / f"train_data_batch_{b + 1}", {"data": planar(x[sl]), "labels": y[sl].tolist(),
                                                                 "mean": np.zeros(768)})
    dump(root / "ImageNet16" / "val_data", {"data": planar(x[10 * k:]), "labels": y[10 * k:].tolist()})
    return root


@pytest.fixture(scope="session")
def protocol(tmp_path_factory, root) -> Path:
    """Split files for the tiny datasets, in the official syntax."""
    p = tmp_path_factory.mktemp("protocol")
    n_train = 5 * CIFAR10_TRAIN_PER_BATCH
    write_split(p / "cifar-split.txt", train=list(range(0, n_train, 2)), valid=list(range(1, n_train, 2)))
    write_split(p / "cifar100-test-split.txt", xvalid=[1, 3, 4, 6], xtest=[0, 2, 5, 7])
    from suite import data

    _, val = data.load_imagenet16(root)
    write_split(p / "imagenet-16-120-test-split.txt", xvalid=list(range(1, len(val), 2)),
                xtest=list(range(0, len(val), 2)))
    return p


def nan_step(cls: type, epoch: int):
    """A ``step`` for method class ``cls`` that reports a NaN train loss in ``epoch`` (to test failed runs)."""
    import torch

    real = cls.step

    def poisoned(self, train, valid):
        out = real(self, train, valid)
        if self.epoch == epoch:
            out["train_loss"] = torch.tensor(float("nan"))
        return out

    return poisoned
