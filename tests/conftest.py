"""Shared fixtures: the real NATS-Bench files in ../shared/data and stores converted from them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NATS_DIR = SHARED / "nats-official"
TSS_DIR = NATS_DIR / "NATS-tss-v1_0-3ffb9-simple"
SSS_DIR = NATS_DIR / "NATS-sss-v1_0-50262-simple"
REAL_INDICES = (0, 11, 284)


def need(path: Path) -> Path:
    """Return ``path``; skip when it is absent on a user's clone, but fail in CI, which always has it."""
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing in CI: ../shared/data must be beside the checkout")
        pytest.skip(f"real reference data not found at {path} (it lives in ../shared/data)")
    return path


@pytest.fixture(scope="session")
def tss_dir() -> Path:
    return need(TSS_DIR)


@pytest.fixture(scope="session")
def sss_dir() -> Path:
    return need(SSS_DIR)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return need(SHARED)


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
