"""Rebuild tests/data from the published reference data in ../shared/data.

    python tests/data/make.py                 # from ../shared/data beside the repository
    python tests/data/make.py --data DIR      # from another copy of it
    python tests/data/make.py --check         # write nothing: verify tests/data against the source

The tests read ../shared/data when it is beside the checkout (CI) and this folder otherwise
(a fresh clone); README.md says what is shipped, what is not and why. Every shipped file is the
published file itself: the already compressed ones (NATS-Bench ``.pickle.pbz2`` records, PNGs) as
they are, the text ones xz-compressed to ``NAME.xz``. ``SHA256SUMS`` holds the sha256 of each
uncompressed file, i.e. of the file in ../shared/data; ``tests/conftest.py`` checks it when it
unpacks them and ``test_shipped_data.py`` checks it against ../shared/data when that is present.
README.md and licenses/ are written by hand and left alone.
"""
from __future__ import annotations

import argparse
import hashlib
import lzma
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[1].parent / "shared" / "data"
SUMS = "SHA256SUMS"

AS_IS = [  # folders already compressed (bz2 pickles, PNGs): copied unchanged, every file in them
    "nats-official/NATS-tss-v1_0-3ffb9-simple",
    "nats-official/NATS-sss-v1_0-50262-simple",
    "cifar-samples",
]
PACKED = [  # text files: shipped as NAME.xz, unpacked byte for byte by tests/conftest.py
    "nb201-12ep-accuracy.csv",
    "nb201v10-naswot-score-accuracy.csv",
    "nb201-zero-cost-proxies.json",
    "nats-protocol/cifar-split.txt",
    "nats-protocol/cifar100-test-split.txt",
    "nats-protocol/imagenet-16-120-test-split.txt",
]
NOT_SHIPPED = {  # the rest of ../shared/data, and why it stays out
    "nb201-200ep-test-accuracy.csv": "no licence stated; on a fresh clone the tests write the same numbers from the "
                                     "package's built-in table (README.md)",
    "nb201-hw-latency-energy.parquet": "no licence stated; the tests that read it skip on a fresh clone",
    "nb201-curves-first200.csv": "no test reads it",
    "nats-protocol/ImageNet16-120-split.txt": "no test reads it",
    "nats-protocol/*.config": "no test reads them",
}
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shipped_files(source: Path) -> list[str]:
    """Every published file tests/data holds, as a path inside ../shared/data."""
    files = [str(p.relative_to(source)) for d in AS_IS for p in sorted((source / d).iterdir()) if p.is_file()]
    return sorted(files + PACKED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_SOURCE), help="the published data (default: ../shared/data)")
    parser.add_argument("--check", action="store_true", help="verify tests/data against it; write nothing")
    args = parser.parse_args(argv)
    source = Path(args.data).expanduser().resolve()
    if not source.is_dir():
        print(f"make.py: {source} is not a directory", file=sys.stderr)
        return 2
    files = shipped_files(source)
    sums = "".join(f"{sha256((source / rel).read_bytes())}  {rel}\n" for rel in files)
    if args.check:
        bad = [] if (HERE / SUMS).read_text() == sums else [SUMS]
        for rel in files:
            packed = rel in PACKED
            shipped = HERE / (rel + ".xz" if packed else rel)
            if not shipped.is_file():
                bad.append(f"{shipped.relative_to(HERE)} (missing)")
                continue
            data = lzma.decompress(shipped.read_bytes()) if packed else shipped.read_bytes()
            if data != (source / rel).read_bytes():
                bad.append(str(shipped.relative_to(HERE)))
        for line in bad:
            print(f"differs from {source}: {line}", file=sys.stderr)
        print("tests/data matches" if not bad else f"{len(bad)} difference(s): run make.py without --check")
        return 1 if bad else 0
    for d in {rel.split("/")[0] for rel in files}:
        shutil.rmtree(HERE / d, ignore_errors=True)
    for stale in HERE.glob("*.xz"):
        stale.unlink()
    total = 0
    for rel in files:
        data = (source / rel).read_bytes()
        out = HERE / (rel + ".xz" if rel in PACKED else rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(lzma.compress(data, preset=XZ_PRESET) if rel in PACKED else data)
        out.chmod(0o644)
        total += out.stat().st_size
    (HERE / SUMS).write_text(sums)
    print(f"wrote {len(files)} files ({total / 1e6:.2f} MB) and {SUMS} into {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
