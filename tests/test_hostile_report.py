"""``dnas report`` under hostile input: damaged run stores, wrong paths, a user's files in --out, a full disk.

Each probe of ``PROBES`` copies two tiny real runs into a fresh folder, damages something, and runs
``dnas report`` in this process. Every probe must end with the expected exit status, exactly one line
on stderr that names the file (and key) and says what to do, no traceback, none of the user's files
changed (hashed before and after), and nothing left behind (the listing compared before and after;
a report that succeeds adds only its own --out). A run that cannot be read is listed in the report,
flagged, and named on stderr; only when no run is readable is that an error. A few probes also run in
a real subprocess, to show that no traceback reaches the terminal. The full-disk test mounts a small
tmpfs (``fulldisk.small_disk``; root) smaller than one report.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from fulldisk import fill, small_disk
from suite.cli import main

TINY = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 16, "channels": 4, "depth": 1, "arch_start_epoch": 0,
        "arch_lr": 0.3}
RUN = "gdas-s0"  # the run most probes damage; gdas-s1 stays sound


@pytest.fixture(scope="module")
def source_runs(tmp_path_factory) -> Path:
    """Two tiny GDAS searches on digits (no benchmark: the report then has few figures and is quick)."""
    from suite.testing.regress_plugin import run_one

    out = tmp_path_factory.mktemp("hostile-runs")
    for seed in (0, 1):
        run_one({"method": "gdas", "space": "nb201", "dataset": "digits", "bench": "none", "seed": seed,
                 "device": "cpu", "out": str(out), "name": f"gdas-s{seed}", "threads": 1, "hparams": TINY})
    return out


@pytest.fixture
def work(source_runs, tmp_path) -> Path:
    """A fresh folder holding ``runs/`` (a copy of the two runs) for one probe to damage."""
    shutil.copytree(source_runs, tmp_path / "runs", symlinks=True)
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (symlinks not followed): a file's SHA-256, a link's target, or 'dir'."""
    seen = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(here) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                seen[rel] = f"link to {os.readlink(p)}"
            elif p.is_dir():
                seen[rel] = "dir"
            else:
                seen[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return seen


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``dnas ARGV`` in this process: exit status (argparse's SystemExit included), stdout, stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ---- damage ------------------------------------------------------------------------------------

def _edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    result = change(data)
    path.write_text(json.dumps(data if result is None else result))


def _write(rel: str, content: str | bytes) -> Callable[[Path], None]:
    def damage(w: Path) -> None:
        p = w / "runs" / RUN / rel
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    return damage


def _status(**keys) -> Callable[[Path], None]:
    return lambda w: _edit_json(w / "runs" / RUN / "status.json", lambda d: d.update(keys))


def _final(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return lambda w: _edit_json(w / "runs" / RUN / "final.json", change)


def _truncate_final(w: Path) -> None:
    p = w / "runs" / RUN / "final.json"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _replace_by_dir(rel: str) -> Callable[[Path], None]:
    def damage(w: Path) -> None:
        p = w / "runs" / RUN / rel
        p.unlink()
        (p / "inside").mkdir(parents=True)
    return damage


def _config_loop(w: Path) -> None:
    p = w / "runs" / RUN / "config.yaml"
    p.unlink()
    p.symlink_to("config.yaml")


def _text_loss(w: Path) -> None:
    p = w / "runs" / RUN / "metrics.parquet"
    frame = pd.read_parquet(p)
    frame["train_loss"] = "low"
    frame.to_parquet(p)


def _nan_everywhere(w: Path) -> None:
    for run in ("gdas-s0", "gdas-s1"):
        p = w / "runs" / run / "metrics.parquet"
        frame = pd.read_parquet(p)
        for col in frame.columns:
            if frame[col].dtype.kind == "f":
                frame[col] = float("nan")
        frame.to_parquet(p)
        _edit_json(w / "runs" / run / "final.json", lambda d: d.update(
            lookups={"cifar10@200/test-accuracy": float("nan")},
            cost={k: float("nan") if isinstance(v, float) else v for k, v in d["cost"].items()}))


def _huge_arch(w: Path) -> None:
    _edit_json(w / "runs" / RUN / "final.json", lambda d: d.update(arch="|nor_conv_3x3~0|" * 200_000))


def _loop_in_runs(w: Path) -> None:
    (w / "runs" / "loop").symlink_to("..")
    (w / "runs" / "self").symlink_to("self")


def _user_file(rel: str, content: str = "my own notes\n") -> Callable[[Path], None]:
    def place(w: Path) -> None:
        p = w / "out" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return place


def _both_configs_broken(w: Path) -> None:
    (w / "runs" / "gdas-s0" / "config.yaml").write_text("- a list\n")
    (w / "runs" / "gdas-s1" / "config.yaml").write_bytes(b"\x00\xff\xfe garbage")


def _dangling_out(w: Path) -> None:
    (w / "out").symlink_to(w / "nowhere")


def _runs_loop(w: Path) -> None:
    (w / "loopy").symlink_to("loopy")


@dataclass(frozen=True)
class Probe:
    """One hostile input: ``damage`` prepares it in the work folder; ``args`` follow ``dnas report``
    ({w} is the work folder); the run ends with ``code`` and one stderr line holding every ``says``
    fragment ({w} again), or (``says`` empty) with nothing on stderr."""

    name: str
    damage: Callable[[Path], None] | None
    code: int
    says: tuple[str, ...] = ()
    args: tuple[str, ...] = ("{w}/runs", "--out", "{w}/out")


FIX_CONFIG = "restore it or delete the run directory"
PROBES = [
    # run configs: named, flagged in the report, the command still succeeds
    Probe("config-binary-garbage", _write("config.yaml", bytes(range(256))), 0,
          ("config.yaml", "not a text file", FIX_CONFIG)),
    Probe("config-yaml-list", _write("config.yaml", "- gdas\n- nb201\n"), 0, ("config.yaml", "YAML list", FIX_CONFIG)),
    Probe("config-only-method", _write("config.yaml", "method: gdas\n"), 0,
          ("config.yaml", "lacks space, dataset, seed", FIX_CONFIG)),
    Probe("config-nul-byte", _write("config.yaml", "method: gd\0as\nspace: nb201\n"), 0,
          ("config.yaml", "not valid YAML", FIX_CONFIG)),
    Probe("config-empty", _write("config.yaml", ""), 0, ("config.yaml", "holds nothing", FIX_CONFIG)),
    Probe("config-seed-text", _write("config.yaml", "method: gdas\nspace: nb201\ndataset: digits\nseed: one\n"), 0,
          ("config.yaml", "key 'seed'", "'one'", FIX_CONFIG)),
    Probe("config-unknown-kind", _write("config.yaml", "kind: banana\nmethod: gdas\n"), 0,
          ("config.yaml", "key 'kind'", "search or evaluation")),
    Probe("config-symlink-loop", _config_loop, 0, ("config.yaml", "symbolic link", FIX_CONFIG)),
    # unreadable files: root reads a chmod-000 file, so a directory in the file's place stands in
    Probe("config-is-a-directory", _replace_by_dir("config.yaml"), 0,
          ("config.yaml", "not a regular file", FIX_CONFIG)),
    Probe("status-is-a-directory", _replace_by_dir("status.json"), 0,
          ("status.json", "cannot read", "Is a directory", "--resume")),
    # final.json, status.json, metrics, environment
    Probe("final-truncated", _truncate_final, 0, ("final.json", "not valid JSON", "truncated", "run it again")),
    Probe("final-a-list", _final(lambda d: [d]), 0, ("final.json", "JSON list", "run it again")),
    Probe("final-lookup-text", _final(lambda d: d.update(lookups={"cifar10@200/test-accuracy": "high"})), 0,
          ("final.json", "key 'lookups.cifar10@200/test-accuracy'", "must be a number")),
    Probe("final-arch-number", _final(lambda d: d.update(arch=5)), 0, ("final.json", "key 'arch'", "a string")),
    Probe("status-not-json", _write("status.json", "{status: completed"), 0,
          ("status.json", "not valid JSON", "dnas search --resume")),
    Probe("status-a-list", _write("status.json", '["completed"]'), 0, ("status.json", "JSON list", "--resume")),
    Probe("status-epochs-done-text", _status(epochs_done="x"), 0, ("status.json", "key 'epochs_done'", "'x'")),
    Probe("status-status-number", _status(status=5), 0, ("status.json", "key 'status'", "must be a string")),
    Probe("metrics-binary-garbage", _write("metrics.parquet", b"PAR1" + os.urandom(64) + b"PAR1"), 0,
          ("metrics.parquet", "cannot be read", "run it again")),
    Probe("metrics-text-loss", _text_loss, 0, ("metrics.parquet", "column 'train_loss'", "not numbers")),
    Probe("environment-a-list", _write("environment.json", "[]"), 0, ("environment.json", "JSON list", FIX_CONFIG)),
    # odd but valid: a clean report, nothing on stderr
    Probe("nan-everywhere", _nan_everywhere, 0),
    Probe("huge-arch-string", _huge_arch, 0),
    Probe("symlink-loops-in-runs", _loop_in_runs, 0),
    # nothing readable, or RUNS wrong: an error, nothing written
    Probe("no-run-readable", _both_configs_broken, 2, ("no readable run directories", "config.yaml", FIX_CONFIG)),
    Probe("runs-missing", None, 2, ("{w}/nope", "does not exist"), ("{w}/nope", "--out", "{w}/out")),
    Probe("runs-a-file", _user_file("x.txt"), 2, ("{w}/out/x.txt", "is a file, not a run directory"),
          ("{w}/out/x.txt", "--out", "{w}/rep")),
    Probe("runs-empty-folder", lambda w: (w / "empty").mkdir(), 2, ("{w}/empty", "holds no run directories"),
          ("{w}/empty", "--out", "{w}/out")),
    Probe("runs-glob-matches-nothing", None, 2, ("no run directories match", "{w}/runs/zz*"),
          ("{w}/runs/zz*", "--out", "{w}/out")),
    Probe("runs-symlink-loop", _runs_loop, 2, ("{w}/loopy", "symbolic link", "loop"), ("{w}/loopy", "--out", "{w}/o")),
    Probe("metric-unknown", None, 2, ("--metric nope", "choose from"),
          ("{w}/runs", "--out", "{w}/out", "--metric", "nope")),
    # --out: never a user's file overwritten, never inside a run, never a file
    Probe("out-is-a-file", _user_file("x.txt"), 2, ("{w}/out/x.txt", "is a file, not a directory"),
          ("{w}/runs", "--out", "{w}/out/x.txt")),
    Probe("out-inside-a-run", None, 2, ("inside the run directory", f"{RUN}", "outside every run directory"),
          ("{w}/runs", "--out", f"{{w}}/runs/{RUN}/report")),
    Probe("out-is-a-run", None, 2, ("inside the run directory",), ("{w}/runs", "--out", f"{{w}}/runs/{RUN}")),
    Probe("out-holds-users-report", _user_file("report.html", "<p>my report</p>"), 2,
          ("{w}/out/report.html", "did not write", "--force")),
    Probe("out-holds-users-table", _user_file("tables/comparison.md"), 2,
          ("{w}/out/tables/comparison.md", "did not write", "--force")),
    Probe("out-holds-users-figure", _user_file("figures/mine.png"), 2, ("{w}/out/figures/mine.png", "--force")),
    Probe("out-holds-foreign-marker", _user_file(".dnas-report", "not json"), 2, ("{w}/out/.dnas-report", "--force")),
    Probe("out-dangling-symlink", _dangling_out, 2, ("{w}/out", "symbolic link", "does not resolve")),
    Probe("out-holds-other-files", _user_file("notes.txt"), 2, ("{w}/out/notes.txt", "new or empty", "--force")),
    Probe("out-is-the-runs-folder", None, 2, ("{w}/runs/gdas-s0", "no earlier report"),
          ("{w}/runs", "--out", "{w}/runs")),
]


def _fill(text: str, w: Path) -> str:
    return text.replace("{w}", str(w))


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_hostile_input(probe: Probe, work: Path, capsys) -> None:
    if probe.damage is not None:
        probe.damage(work)
    before = snapshot(work)
    code, out, err = run_cli(["report", *(_fill(a, work) for a in probe.args)], capsys)
    assert code == probe.code, (out, err)
    assert "Traceback" not in err
    after = snapshot(work)
    if probe.says:
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("dnas: error: " if probe.code else "dnas: warning: "), err
        for fragment in probe.says:
            assert _fill(fragment, work) in lines[0], (fragment, err)
    else:
        assert err == ""
    # the user's files are as they were, and only a successful report adds anything: its own --out
    assert {k: v for k, v in after.items() if k in before} == before
    added = set(after) - set(before)
    if probe.code:
        assert added == set()
    else:
        assert added and all(k == "out" or k.startswith("out/") for k in added), sorted(added)
        page = (work / "out" / "report.html").read_text()
        if probe.says:  # the damaged run is in the report, flagged, with the reason
            assert "unreadable: " in page and f"<td>{RUN}</td>" in page
            assert "(2 runs, 1 complete, 1 unreadable;" in out


SUBPROCESS = ["final-truncated", "no-run-readable", "out-holds-users-report"]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_no_traceback_reaches_the_terminal(name: str, work: Path) -> None:
    probe = next(p for p in PROBES if p.name == name)
    probe.damage(work)
    before = snapshot(work)
    done = subprocess.run([sys.executable, "-m", "suite.cli", "report", *(_fill(a, work) for a in probe.args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == probe.code
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert all(_fill(f, work) in done.stderr for f in probe.says), done.stderr
    assert {k: v for k, v in snapshot(work).items() if k in before} == before


# ---- the output directory: its own, or refused --------------------------------------------------

def test_rerun_into_its_own_report_replaces_only_its_files(work: Path, capsys) -> None:
    out = work / "out"
    assert run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)[0] == 0
    marker = json.loads((out / ".dnas-report").read_text())
    assert marker["written_by"] == "dnas report" and "report.html" in marker["files"]
    assert "figures/ops.png" in marker["files"] and "tables/runs.csv" in marker["files"]
    (out / "tables" / "mine.md").write_text("a table of my own\n")  # the user's file beside the report's
    # the file a metric no longer shown came from goes with the rerun; the user's stays
    stale = out / "figures" / "accuracy-old-metric.png"
    stale.write_bytes(b"old figure")
    (out / ".dnas-report").write_text(json.dumps({**marker, "files": [*marker["files"], "figures/" + stale.name]}))
    first = (out / "report.html").read_text()
    code, _, err = run_cli(["report", str(work / "runs" / "gdas-s1"), "--out", str(out)], capsys)
    assert code == 0 and err == ""
    assert (out / "report.html").read_text() != first and "gdas-s0" not in (out / "tables" / "runs.csv").read_text()
    assert (out / "tables" / "mine.md").read_text() == "a table of my own\n" and not stale.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".report.")]  # no staging folder left


def test_a_users_file_where_its_own_would_go_is_refused(work: Path, capsys) -> None:
    """In a directory marked as a report's, a file the marker does not list is the user's: refused."""
    out = work / "out"
    assert run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)[0] == 0
    marker = json.loads((out / ".dnas-report").read_text())
    (out / ".dnas-report").write_text(json.dumps({**marker, "files": [f for f in marker["files"]
                                                                     if f != "tables/runs.csv"]}))
    (out / "tables" / "runs.csv").write_text("my,own\n1,2\n")
    before = snapshot(work)
    code, _, err = run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and f"{out}/tables/runs.csv" in err and "--force" in err
    assert snapshot(work) == before


def test_force_overwrites_what_the_report_writes_and_nothing_else(work: Path, capsys) -> None:
    out = work / "out"
    _user_file("report.html", "<p>mine</p>")(work)
    _user_file("notes.txt")(work)
    code, _, err = run_cli(["report", str(work / "runs"), "--out", str(out), "--force"], capsys)
    assert code == 0 and err == ""
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (out / "notes.txt").read_text() == "my own notes\n" and (out / ".dnas-report").is_file()
    # from now on the directory is the report's own: no --force needed
    assert run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)[0] == 0


def test_a_killed_reports_staging_folder_is_cleaned(work: Path, capsys) -> None:
    from suite.processes import this_host

    out = work / "out"
    assert run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)[0] == 0
    dead = out / f".report.tmp-{2 ** 22 + 17}@{this_host()}"  # a pid above Linux's default pid_max
    (dead / "tables").mkdir(parents=True)
    (dead / "tables" / "comparison.md").write_text("half")
    assert run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)[0] == 0
    assert not dead.exists()


@pytest.mark.parametrize("user_file, says", [("report.html", "did not write"), ("notes.txt", "new or empty")])
def test_quickstart_refuses_a_users_directory_before_searching(user_file: str, says: str, tmp_path: Path,
                                                                capsys) -> None:
    (tmp_path / user_file).write_text("mine")
    before = snapshot(tmp_path)
    start = time.monotonic()
    code, _, err = run_cli(["quickstart", "--out", str(tmp_path), "--methods", "gdas", "--seeds", "1"], capsys)
    assert code == 2 and time.monotonic() - start < 30
    assert err.count("\n") == 1 and f"{tmp_path}/{user_file}" in err and says in err
    assert "--force" not in err  # the quickstart has no --force to offer
    assert snapshot(tmp_path) == before


def test_read_only_out(work: Path, capsys) -> None:
    ro = work / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True,
                          text=True) if shutil.which("mount") else None
    if done is None or done.returncode != 0:
        pytest.skip(f"mounting a read-only tmpfs needs root ({done.stderr.strip() if done else 'no mount'})")
    try:
        for out in (ro, ro / "report"):
            code, _, err = run_cli(["report", str(work / "runs"), "--out", str(out)], capsys)
            assert code == 2 and err.count("\n") == 1 and "read-only file system" in err and str(out) in err
        assert list(ro.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


# ---- a full disk -------------------------------------------------------------------------------

def _size_kb(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024 + 1


def test_full_disk_leaves_nothing_and_keeps_an_earlier_report(work: Path, capsys) -> None:
    runs = str(work / "runs")
    measured = work / "measured"
    assert run_cli(["report", runs, "--out", str(measured)], capsys)[0] == 0
    size = _size_kb(measured)
    disk = work / "disk"
    out = disk / "report"
    # a disk smaller than one report: one line naming the file, nothing left (no empty tables/, figures/)
    with small_disk(disk, size_kb=max(16, size // 3)):
        for target in (out, disk):  # a directory it makes, and one that exists (the mount point)
            start = time.monotonic()
            code, _, err = run_cli(["report", runs, "--out", str(target)], capsys)
            assert code == 2 and time.monotonic() - start < 30
            assert err.count("\n") == 1 and err.startswith(f"dnas: error: cannot write {target}/"), err
            assert "No space left on device; free space or choose another --out" in err
            assert list(disk.iterdir()) == []
    # with room: the same command works
    with small_disk(disk, size_kb=3 * size + 64):
        assert run_cli(["report", runs, "--out", str(out)], capsys)[0] == 0
        assert set(snapshot(out)) == set(snapshot(measured))
        # the disk fills up: a new report fails and the earlier one stays whole, with no temp file
        earlier = snapshot(disk)
        fill(disk, leave_kb=size // 4)
        code, _, err = run_cli(["report", runs, "--out", str(out)], capsys)
        assert code == 2 and "No space left on device" in err and err.count("\n") == 1
        now = snapshot(disk)
        now.pop(".filler")
        assert now == earlier
        # space freed: the rerun works
        (disk / ".filler").unlink()
        assert run_cli(["report", runs, "--out", str(out)], capsys)[0] == 0
