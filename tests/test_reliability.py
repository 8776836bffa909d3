"""After a crash: one writer per run, killed runs recognisably dead and resumable with honest wall
time, failures recorded, leftovers of killed writes cleaned, and nothing but a store ever replaced."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import benchmarks
from benchmarks.convert import convert_nats
from benchmarks.importer import import_table
from suite.runs import EvalConfig, resume_training, run_training
from suite.cli import main
from suite.errors import DnasError
from suite.io import clean_siblings
from suite.processes import host_tag
from suite.runs import SearchConfig, resume_search, run_search
from suite.runstore import LOCK, RunStore, open_run

ROOT = Path(__file__).resolve().parents[1]
A11 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = ["--epochs", "3", "--set", "channels=4", "--set", "depth=1", "--set", "batch_size=64", "--threads", "1"]
CSV = "nb201-200ep-test-accuracy.csv"

STALL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    {patch}
    from suite.cli import main
    sys.exit(main(sys.argv[2:]))
""")
STALL_CHECKPOINT = """
from suite import runstore
from suite.io import atomic_path
real = runstore.RunStore.save_checkpoint
def stalled(self, state):
    if state["epoch"] == 1:  # hang inside the checkpoint write after epoch 1, until killed
        with atomic_path(self.path / runstore.CHECKPOINT) as tmp:
            tmp.write_bytes(b"half a checkpoint")
            Path(sys.argv[1]).touch()
            time.sleep(600)
    real(self, state)
runstore.RunStore.save_checkpoint = stalled
"""
STALL_STORE = """
from benchmarks import writer
def stalled(self):
    Path(sys.argv[1]).touch()  # the new store is written beside --out, not yet moved in
    time.sleep(600)
writer.StoreBuilder.finish = stalled
"""


def _start(patch: str, argv: list[str], marker: Path) -> subprocess.Popen:
    """A real dnas process that stalls where ``patch`` says (it touches ``marker`` there)."""
    proc = subprocess.Popen([sys.executable, "-c", STALL.format(patch=patch), str(marker), *argv], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the child ended early: {proc.stderr.read()[-3000:]}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail("the child did not reach the stall point in 300 s")
        time.sleep(0.1)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("kind", ["search", "evaluate"])
def test_kill_during_a_checkpoint_write(kind, tmp_path, capsys):
    """kill -9 while a run writes its checkpoint: while it lives a second writer is refused; once dead,
    the run reads dead, resume takes the lock over, cleans the half-written checkpoint, and the wall
    time counts the killed epoch."""
    runs = tmp_path / "runs"
    what = ["--method", "darts-v1", "--dataset", "digits"] if kind == "search" else \
        ["--arch", A11, "--protocol", "nats-12", "--dataset", "digits"]
    argv = [kind, *what, *TINY, "--out", str(runs), "--name", "r", "--json"]
    resume = resume_search if kind == "search" else resume_training
    proc = _start(STALL_CHECKPOINT, argv, tmp_path / "stalled")
    run = runs / "r"
    try:
        live = open_run(run).status
        assert (live["status"], live["pid"], live["host"]) == ("running", proc.pid, socket.gethostname())
        with pytest.raises(DnasError, match=f"is being written by pid {proc.pid} on host"):
            resume(run, progress=False)
        code, _, err = _cli(argv, capsys)  # the same --name again
        assert code == 2 and f"is written by pid {proc.pid}" in err and "--resume" not in err
        code, out, _ = _cli(["runs", str(runs)], capsys)
        assert code == 0 and "running" in out and "DEAD" not in out
    finally:
        _kill(proc)
    killed = json.loads((run / "status.json").read_text())
    assert killed["status"] == "running"  # what the killed process left; the reader knows better:
    status = open_run(run).status
    assert status["status"] == "dead" and f"pid {proc.pid}" in status["note"] and "is gone" in status["note"]
    code, out, _ = _cli(["runs", str(runs)], capsys)
    assert "1 dead" in out and "DEAD" in out and f"resume: dnas {kind} --resume {run}" in out
    assert len(list((run / "checkpoints").glob(".last.pt.*.tmp"))) == 1
    checkpointed = open_run(run).load_checkpoint()
    assert checkpointed["epoch"] == 0 and killed["wall_time_s"] > checkpointed["elapsed"]  # epoch 1 is counted

    store = resume(run, progress=False)
    assert store.status["status"] == "completed" and store.status["resumed_from_epoch"] == 1
    assert not list(run.rglob("*.tmp")) and (run / LOCK).read_text() == ""  # cleaned, lock given back
    wall = store.final["wall_time_s"] if kind == "search" else store.final["cost"]["wall_time_s"]
    m = store.metrics
    assert list(m["epoch"]) == [0, 1, 2]
    assert m["wall_time_s"].iloc[1] > killed["wall_time_s"] and wall >= m["wall_time_s"].iloc[-1]
    assert store.config["threads"] == 1 and store.environment["cpu_threads"] == 1


def test_failure_after_the_run_exists_is_recorded(tmp_path, monkeypatch):
    """An exception mid-run marks it failed with the reason and frees it for --resume."""
    from methods.darts import DARTS

    real = DARTS.step

    def broken(self, train, valid):
        if self.epoch == 1:
            raise RuntimeError("device lost")
        return real(self, train, valid)

    monkeypatch.setattr(DARTS, "step", broken)
    cfg = SearchConfig("darts-v1", dataset="digits", out=str(tmp_path), name="f", threads=1,
                       hparams={"channels": 4, "depth": 1, "batch_size": 64, "epochs": 2})
    with pytest.raises(RuntimeError, match="device lost"):
        run_search(cfg, progress=False)
    status = open_run(tmp_path / "f").status
    assert status["status"] == "failed" and status["reason"] == "RuntimeError: device lost"
    assert status["epochs_done"] == 1
    monkeypatch.setattr(DARTS, "step", real)
    assert resume_search(tmp_path / "f", progress=False).status["status"] == "completed"


def test_evaluation_failure_and_sigterm(tmp_path, monkeypatch):
    """An evaluation failing mid-run is failed with the reason; SIGTERM (preemption) reads interrupted."""
    import suite.train.loop as training

    def broken(*args, **kwargs):
        raise ValueError("cannot evaluate")

    monkeypatch.setattr(training, "evaluate", broken)
    cfg = EvalConfig(A11, "nats-12", "digits", out=str(tmp_path), name="e", threads=1,
                     overrides={"epochs": 2, "channels": 4, "depth": 1, "batch_size": 64})
    with pytest.raises(ValueError):
        run_training(cfg, progress=False)
    status = open_run(tmp_path / "e").status
    assert status["status"] == "failed" and status["reason"] == "ValueError: cannot evaluate"

    real = training.learning_rate

    def preempted(hp, epoch):
        if epoch >= 1:
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the run's handler is in place
            os.kill(os.getpid(), signal.SIGTERM)
        return real(hp, epoch)

    monkeypatch.setattr(training, "evaluate", lambda *a: {})
    monkeypatch.setattr(training, "learning_rate", preempted)
    with pytest.raises(KeyboardInterrupt):
        run_training(EvalConfig(**{**cfg.__dict__, "name": "t"}), progress=False)
    status = open_run(tmp_path / "t").status
    assert status["status"] == "interrupted" and status["reason"] == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_lock_second_writer_and_other_host(tmp_path):
    """One writer per run directory; a lock of another host is taken over only once its heartbeat is stale."""
    a = RunStore.create(tmp_path, "x", {"seed": 0}, {}, unique=True)
    b = RunStore.create(tmp_path, "x", {"seed": 0}, {}, unique=True)  # same name, same second
    assert (a.path.name, b.path.name) == ("x", "x-2")
    with pytest.raises(DnasError, match=f"is being written by pid {os.getpid()}"):
        RunStore(a.path).acquire()
    with pytest.raises(DnasError, match="exists and is written by pid.*pick another --name"):
        RunStore.create(tmp_path, "x", {"seed": 0}, {})
    for s in (a, b):
        s.set_status("interrupted")
        s.release()
    with pytest.raises(DnasError, match=r"exists \(status interrupted\): resume it with --resume"):
        RunStore.create(tmp_path, "x", {"seed": 0}, {})

    def elsewhere(age_s: float) -> None:  # a run another host writes (its flock is not visible here)
        beat = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - age_s))
        rec = {"status": "running", "pid": 4242, "host": "elsewhere", "heartbeat": beat, "updated": beat}
        (a.path / "status.json").write_text(json.dumps(rec))
        (a.path / LOCK).write_text(json.dumps({"pid": 4242, "host": "elsewhere"}))

    elsewhere(5)
    assert open_run(a.path).status["status"] == "running"
    with pytest.raises(DnasError, match="by pid 4242 on host elsewhere, which this host cannot check"):
        RunStore(a.path).acquire()
    elsewhere(600)
    status = open_run(a.path).status
    assert status["status"] == "stale" and "no heartbeat from pid 4242 on host elsewhere" in status["note"]
    taker = RunStore(a.path)
    taker.acquire()
    assert json.loads((a.path / LOCK).read_text())["pid"] == os.getpid()
    taker.release()


def test_runs_started_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    import suite.runs.lifecycle

    monkeypatch.setattr(suite.runs.lifecycle, "name_stamp", lambda: "20260101-000000")
    cfg = SearchConfig("darts-v1", dataset="digits", out=str(tmp_path), threads=1,
                       hparams={"channels": 4, "depth": 1, "batch_size": 64, "epochs": 1})
    first, second = run_search(cfg, progress=False), run_search(cfg, progress=False)
    assert first.path.name == "darts-v1-nb201-digits-seed0-20260101-000000"
    assert second.path.name == first.path.name + "-2"


def test_overwrite_replaces_only_a_store(tss_dir, tss_store, tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Results}")
    with pytest.raises(DnasError, match="is not a dnas-suite store .no readable metadata.json."):
        convert_nats(tss_dir, "tss", thesis, overwrite=True, progress=False)
    assert (thesis / "thesis.tex").read_text() == "\\chapter{Results}"
    mine = shutil.copytree(tss_store, tmp_path / "mine")
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(DnasError, match="it holds notes.txt"):
        convert_nats(tss_dir, "tss", mine, overwrite=True, progress=False)
    assert (mine / "notes.txt").exists() and (mine / "metadata.json").exists()
    file = tmp_path / "file"
    file.write_text("data")
    with pytest.raises(DnasError, match="is a file, not a store"):
        convert_nats(tss_dir, "tss", file, overwrite=True, progress=False)
    (tmp_path / "link").symlink_to(thesis)
    with pytest.raises(DnasError, match="is a symbolic link"):
        convert_nats(tss_dir, "tss", tmp_path / "link", overwrite=True, progress=False)
    (mine / "notes.txt").unlink()
    convert_nats(tss_dir, "tss", mine, overwrite=True, progress=False)  # a store of ours: replaced
    (tmp_path / "empty").mkdir()
    convert_nats(tss_dir, "tss", tmp_path / "empty", progress=False)  # an empty directory loses nothing
    assert file.read_text() == "data" and (thesis / "thesis.tex").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "link", "mine", "thesis"]


def test_import_replaces_a_group_only_with_overwrite(shared_data, tss_store, tmp_path):
    kw = dict(arch_column="ArchitectureString", dataset="cifar10", epochs=200, version="V", order=tss_store,
              out=tmp_path / "t")
    import_table(shared_data / CSV, metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"}, **kw)
    with pytest.raises(DnasError, match="already holds cifar10 epochs=200 .test-accuracy.: pass --overwrite"):
        import_table(shared_data / CSV, metrics={"test-accuracy": "CIFAR100TestAccuracy200Epochs"}, **kw)
    import_table(shared_data / CSV, metrics={"test-accuracy": "CIFAR100TestAccuracy200Epochs"}, overwrite=True, **kw)
    assert round(benchmarks.open(tmp_path / "t").query(1835, "cifar10", "test-accuracy", 200), 4) == 15.6067
    with pytest.raises(DnasError, match="is not an imported-table store.*--overwrite"):
        import_table(shared_data / CSV, metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"},
                     **{**kw, "out": shutil.copytree(tss_store, tmp_path / "converted")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted", "t"]


def test_kill_during_import_leaves_nothing_for_long(shared_data, tss_store, tmp_path):
    """kill -9 while an import writes: its work directory beside --out is removed by the next import."""
    argv = ["bench", "import", str(shared_data / CSV), "--arch-column", "ArchitectureString", "--metric",
            "test-accuracy=CIFAR10TestAccuracy200Epochs", "--dataset", "cifar10", "--epochs", "200", "--version",
            "V", "--order", str(tss_store), "--out", str(tmp_path / "tab")]
    proc = _start(STALL_STORE, argv, tmp_path / "stalled")
    _kill(proc)
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tab.")]
    assert left == [f".tab.tmp-{proc.pid}@{host_tag()}"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stalled", "tab"]


def test_a_cut_short_replacement_is_put_back(tss_store, tmp_path):
    """Killed between moving the old store aside and the new one in: the old one comes back."""
    gone = subprocess.Popen(["true"])  # a pid that no longer runs
    gone.wait()
    store = shutil.copytree(tss_store, tmp_path / "s")
    os.replace(store, tmp_path / f".s.old-{gone.pid}@{host_tag()}")
    (tmp_path / f".s.tmp-{gone.pid}@{host_tag()}").mkdir()  # the new store, never moved in
    (tmp_path / ".s.tmp-4242@elsewhere").mkdir()  # another host's: not ours to judge
    assert len(clean_siblings(store)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.tmp-4242@elsewhere", "s"]
    assert np.array_equal(benchmarks.open(store).query_many("all", "cifar10", "test-accuracy", 200),
                          benchmarks.open(tss_store).query_many("all", "cifar10", "test-accuracy", 200),
                          equal_nan=True)
