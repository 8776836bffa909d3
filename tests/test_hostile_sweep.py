"""Hostile input to `dnas sweep`, `dnas sweep status`, `dnas search` and `dnas baseline save`: every case is
one line on stderr naming the thing and the fix, the documented exit status, no traceback, no user file
changed and nothing left behind. Then what needs real processes: SIGTERM to a sweep started with SIGINT
ignored (as `cmd &` in a script), a sweep killed outright, and a full disk met by each command (it stops
within seconds, names the file, and the rerun after freeing space resumes)."""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from fulldisk import fill, small_disk
from suite.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = {"epochs": 2, "channels": 4, "depth": 1, "batch_size": 64}
SEARCH = {"method": "darts-v1", "dataset": "digits", "seed": 0, "bench": "nb201", "hparams": TINY}
SPEC = {"out": "out", "search": SEARCH}
"""One tiny search (about 1 s of training); ``out`` relative to the working directory."""
SEARCH_CLI = "search --method darts-v1 --dataset digits --epochs 2 --set channels=4 --set depth=1 " \
             "--set batch_size=64 --threads 1"


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


FILES: dict[str, str | bytes] = {
    "tiny.yaml": _yaml(SPEC),
    "grid.yaml": _yaml({"out": "out", "search": {**SEARCH, "grid": {"arch_lr": [3e-4, 6e-4]}}}),
    "grid-epochs.yaml": _yaml({"out": "out", "search": {**SEARCH, "hparams": {"channels": 4},
                                                         "grid": {"epochs": [1, 2]}}}),
    "eval-grid.yaml": _yaml({"out": "out", "search": SEARCH,
                             "evaluate": {"protocol": "nats-12", "dataset": "digits", "grid": {"epochs": [1, 2]}}}),
    "syntax.yaml": "search:\n  method: [darts-v1\n",
    "twice.yaml": "search:\n  method: darts-v1\n  dataset: digits\n  method: gdas\n",
    "list.yaml": "- search\n- out\n",
    "empty.yaml": "",
    "binary.yaml": b"\x00\xff\xfe\x00binary",
    "typo.yaml": _yaml({"serach": SEARCH}),
    "seed-neg.yaml": _yaml({"search": {**SEARCH, "seed": -1}}),
    "seed-huge.yaml": _yaml({"search": {**SEARCH, "seed": 10**15}}),
    "seed-bool.yaml": _yaml({"search": {**SEARCH, "seed": True}}),
    "seed-empty.yaml": _yaml({"search": {**SEARCH, "seed": []}}),
    "grid-empty.yaml": _yaml({"search": {**SEARCH, "grid": {"arch_lr": []}}}),
    "search-empty.yaml": _yaml({"search": []}),
    "workers0.yaml": _yaml({**SPEC, "executor": {"workers": 0}}),
    "gpus-nan.yaml": "out: out\nexecutor: {gpus_per_run: .nan}\nsearch: {method: darts-v1, dataset: digits}\n",
    "kind.yaml": _yaml({**SPEC, "executor": {"kind": "slurm"}}),
    "out-int.yaml": _yaml({"out": 5, "search": SEARCH}),
    "afile": "not a directory\n",
    "notes/keep.txt": "a folder of the user's\n",
    "foreign/sweep.json": '{"hello": 1}\n',
    "listed/sweep.json": "[1, 2, 3]\n",
    "runslist/sweep.json": '{"format": 1, "runs": [1, 2]}\n',
    "runint/sweep.json": '{"format": 1, "runs": {"a": 5}}\n',
    "badfield/sweep.json": '{"format": 1, "runs": {"a": {"id": "a", "bogus": 1}}}\n',
    "dangling/sweep.json": json.dumps({"format": 1, "runs": {"e": {
        "id": "e", "kind": "evaluation", "config": {}, "epochs": 1, "label": "e", "after": "gone"}}}),
    "notjson/sweep.json": "{not json\n",
    "emptydir/.keep": "",
    "bad-config.yaml": "method: darts-v1\nhparams: [1, 2\n",
}

# (command line, exit status, what the one line names, the fix it gives). {done}: a completed sweep's
# directory (the runs of tiny.yaml), {run}: its run directory.
CASES = [
    # dnas sweep: where it writes
    ("sweep tiny.yaml --out foreign", 2, "foreign/sweep.json is not a sweep record", "--force"),
    ("sweep tiny.yaml --out listed", 2, "holds a JSON list", "--force"),
    ("sweep tiny.yaml --out notes", 2, "is not a sweep's directory (it holds 'keep.txt'", "--force"),
    ("sweep tiny.yaml --out afile", 2, "afile is a file, not a directory", "choose another --out"),
    ("sweep tiny.yaml --out afile/sub", 2, "afile is a file, not a directory", "choose another --out"),
    ("sweep tiny.yaml --out ''", 2, "--out must be a directory path", "directory path"),
    # dnas sweep: resources, checked before anything is written
    ("sweep tiny.yaml --gpus-per-run 0.3", 2, "--gpus-per-run must be 0, 1 or 1/k", "use Ray"),
    ("sweep tiny.yaml --gpus-per-run 1", 2, "--gpus-per-run asks for GPUs", "CUDA_VISIBLE_DEVICES"),
    ("sweep tiny.yaml --gpus-per-run nan", 2, "--gpus-per-run: must be a finite number, got 'nan'", "--help"),
    ("sweep tiny.yaml --gpus-per-run inf", 2, "--gpus-per-run: must be a finite number, got 'inf'", "--help"),
    ("sweep tiny.yaml --gpus-per-run -1", 2, "--gpus-per-run: must be a finite number", "0, 1 or 1/k"),
    ("sweep tiny.yaml --workers 0", 2, "--workers: must be >= 1", "--help"),
    ("sweep tiny.yaml --workers -3", 2, "--workers: must be >= 1", "--help"),
    ("sweep tiny.yaml --workers many", 2, "--workers: expected an integer", "--help"),
    ("sweep tiny.yaml --cpus-per-run 100000", 2, "--cpus-per-run 100000 is more than the", "give at most"),
    ("sweep tiny.yaml --retries -1", 2, "--retries: must be >= 0", "--help"),
    ("sweep tiny.yaml --executor slurm", 2, "invalid choice: 'slurm'", "--help"),
    ("sweep tiny.yaml --address auto", 2, "--address is for the ray executor", "add --executor ray"),
    # dnas sweep: settings that would be mixed or lost
    ("sweep grid.yaml --set arch_lr=0.1", 2, "--set arch_lr=0.1 clashes with grid.yaml: search: grid.arch_lr",
     "drop --set arch_lr"),
    ("sweep grid-epochs.yaml --set epochs=1", 2, "--set epochs=1 clashes with", "drop --set epochs"),
    ("sweep eval-grid.yaml --eval-set epochs=1", 2, "--eval-set epochs=1 clashes with", "drop --eval-set epochs"),
    ("sweep tiny.yaml --eval-set epochs=1", 2, "tiny.yaml has no 'evaluate:'", "drop --eval-set"),
    ("sweep tiny.yaml --set lr", 2, "--set takes NAME=VALUE, got 'lr'", "NAME=VALUE"),
    ("sweep tiny.yaml --set lr=1 --set lr=2", 2, "--set lr is given twice", "give it once"),
    ("sweep tiny.yaml --set momentm=0.9", 2, "unknown parameter 'momentm'", "darts-v1"),
    # dnas sweep: the spec
    ("sweep emptydir", 2, "sweep spec emptydir is a directory", "give the sweep's YAML file"),
    ("sweep nosuch.yaml", 2, "sweep spec nosuch.yaml does not exist", "give the path"),
    ("sweep syntax.yaml", 2, "syntax.yaml is not valid YAML", "line 3"),
    ("sweep twice.yaml", 2, "key 'method' is given twice", "give it once"),
    ("sweep list.yaml", 2, "list.yaml: a sweep spec is a mapping", "'search:'"),
    ("sweep empty.yaml", 2, "empty.yaml: a sweep spec is a mapping", "'search:'"),
    ("sweep binary.yaml", 2, "binary.yaml is not a text file", "sweep spec"),
    ("sweep typo.yaml", 2, "unknown key 'serach'", "known: out, search"),
    ("sweep seed-neg.yaml", 2, "seed must be an int in [0, 2**31), got -1", "seed"),
    ("sweep seed-huge.yaml", 2, "seed must be an int in [0, 2**31), got 1000000000000000", "seed"),
    ("sweep seed-bool.yaml", 2, "seed must be an int in [0, 2**31), got True", "seed"),
    ("sweep seed-empty.yaml", 2, "search: seed is an empty list", "seed"),
    ("sweep grid-empty.yaml", 2, "grid.arch_lr is an empty list", "give it at least one value"),
    ("sweep search-empty.yaml", 2, "search must be a mapping (one grid) or a non-empty list", "search"),
    ("sweep workers0.yaml", 2, "workers0.yaml: executor: workers must be an int >= 1", "got 0"),
    ("sweep gpus-nan.yaml", 2, "gpus-nan.yaml: executor: gpus_per_run must be a finite number", "nan"),
    ("sweep kind.yaml", 2, "kind.yaml: executor: kind must be one of local, ray", "slurm"),
    ("sweep out-int.yaml", 2, "out-int.yaml: out must be a directory path, got 5", "directory path"),
    ("sweep a.yaml b.yaml", 2, "usage: dnas sweep SPEC.yaml", "dnas sweep status"),
    # dnas sweep status
    ("sweep status", 2, "dnas sweep status needs the sweep", "SPEC.yaml"),
    ("sweep status listed", 2, "listed/sweep.json is not a sweep record of dnas-suite (it holds a JSON list",
     "dnas sweep status SPEC.yaml --out listed"),
    ("sweep status runslist", 2, "'runs' must map run ids to run records, got list", "give the sweep's SPEC.yaml"),
    ("sweep status runint", 2, "runs.a must be a run record (an object), got int", "give the sweep's SPEC.yaml"),
    ("sweep status badfield", 2, "runs.a has an unknown field 'bogus'", "give the sweep's SPEC.yaml"),
    ("sweep status dangling", 2, "runs.e.after names 'gone'", "give the sweep's SPEC.yaml"),
    ("sweep status notjson", 2, "is not valid JSON", "give the sweep's SPEC.yaml"),
    ("sweep status foreign", 2, "it has no 'format'", "give the sweep's SPEC.yaml"),
    ("sweep status emptydir", 2, "emptydir holds no sweep", "give the sweep's SPEC.yaml"),
    ("sweep status afile", 2, "afile: a sweep spec is a mapping", "'search:'"),
    ("sweep status nosuch.yaml", 2, "sweep spec nosuch.yaml does not exist", "give the path"),
    ("sweep status tiny.yaml --out elsewhere", 0, "nothing started: the sweep's output directory", "give --out"),
    # dnas search
    ("search --method nosuch --dataset digits", 2, "unknown method 'nosuch'", "registered: darts-v1"),
    (f"{SEARCH_CLI} --out afile", 2, "afile is a file, not a directory", "choose another --out"),
    (f"{SEARCH_CLI} --epochs 0", 2, "--epochs: must be >= 1", "--help"),
    (f"{SEARCH_CLI} --seed -1", 2, "--seed: must be >= 0", "--help"),
    (f"{SEARCH_CLI} --threads 0", 2, "--threads: must be >= 1", "--help"),
    (f"{SEARCH_CLI} --set lr=fast", 2, "lr", "darts-v1"),
    ("search bad-config.yaml", 2, "bad-config.yaml is not valid YAML", "line"),
    ("search --resume nosuch", 2, "nosuch", "run directory"),
    ("search --resume {done}", 2, "not a run directory", "config.yaml"),
    ("search --resume {run}", 2, "already completed", "nothing to resume"),
    # dnas baseline save
    ("baseline save nosuch --out b.jsonl", 2, "nosuch does not exist", "name run directories"),
    ("baseline save tiny.yaml --out b.jsonl", 2, "tiny.yaml", "name run directories"),
    ("baseline save {done} --out emptydir", 2, "emptydir is a directory", "name the baseline file to write"),
    ("baseline save {done} --out afile/b.jsonl", 2, "afile", "choose another place"),
    ("baseline save {done} --out b.jsonl --metric nosuch", 2, "nosuch", "metric"),
    ("baseline save {done} --out b.jsonl --alpha nan", 2, "--alpha: must be a finite number", "--help"),
    ("baseline save {done} --out b.jsonl --min-effect x", 2, "--min-effect takes NAME=VALUE", "NAME=VALUE"),
]


def _tree(root: Path) -> dict[str, str]:
    """Every path below ``root`` with its content's hash ('dir' for a folder): what was written or changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """tiny.yaml's sweep, run to completion once (one real search) by the local executor."""
    from suite.sweep import expand, run_sweep

    out = tmp_path_factory.mktemp("done") / "out"
    states = run_sweep(expand(SPEC, "tiny.yaml", out=out), progress=False, workers=1)
    assert {rs.state for rs in states.values()} == {"completed"}
    return out


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A working directory holding the cases' inputs, with no GPU visible (the same answers everywhere)."""
    for name, content in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(argv: list[str], capsys) -> tuple[int, str, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err.strip().splitlines()


@pytest.mark.parametrize("line, status, names, fix", CASES, ids=[c[0][:70] for c in CASES])
def test_hostile_input_is_one_line_and_changes_nothing(work, done, capsys, line, status, names, fix):
    run = next(p for p in done.iterdir() if (p / "config.yaml").is_file())
    argv = shlex.split(line.format(done=done, run=run))
    before, finished = _tree(work), _tree(done)
    code, out, err = _cli(argv, capsys)
    assert code == status, (err, out)
    assert len(err) == 1, err
    assert err[0].startswith("dnas: error: " if status else "dnas: note: "), err[0]
    assert names in err[0] and fix in err[0], err[0]
    assert "Traceback" not in out + err[0]
    assert _tree(work) == before      # no user file changed, nothing left behind (no out/, sweep.json, .sweep/)
    assert _tree(done) == finished    # nor in the finished sweep


def test_the_table_covers_every_command_and_enough_cases():
    commands = {" ".join(shlex.split(c[0])[:2]) if c[0].startswith(("sweep status", "baseline")) else c[0].split()[0]
                for c in CASES}
    assert commands == {"sweep", "sweep status", "search", "baseline save"}
    assert len(CASES) >= 35


def test_status_of_a_sweep_not_started_says_so_and_lists_its_runs(work, capsys):
    """From another directory the relative 'out' names nothing: the note says which path was looked at."""
    other = work / "notes"
    code, out, err = _cli(["sweep", "status", str(work / "tiny.yaml")], capsys)
    assert code == 0 and out.splitlines()[-1] == "1 runs: 1 queued"
    os.chdir(other)
    code, out, err = _cli(["sweep", "status", str(work / "tiny.yaml")], capsys)
    assert code == 0 and len(err) == 1 and f"{other / 'out'} does not exist" in err[0]


def test_a_finished_sweep_takes_huge_workers_and_force_replaces_only_a_foreign_manifest(work, done, capsys):
    """Accepted input: --workers beyond the runs (no slot per worker is made), duplicate runs (run once),
    and --force on a directory whose sweep.json is not a sweep record: it is replaced, the runs are kept."""
    import shutil

    copy = work / "copy"
    shutil.copytree(done, copy)
    code, out, err = _cli(["sweep", "tiny.yaml", "--out", str(copy), "--workers", str(10**20), "--json"], capsys)
    assert code == 0 and [r["state"] for r in json.loads(out)["runs"]] == ["completed"], err

    (copy / "sweep.json").write_text('{"hello": 1}\n')
    code, out, err = _cli(["sweep", "tiny.yaml", "--out", str(copy), "--json"], capsys)
    assert code == 2 and "--force" in err[0]
    assert (copy / "sweep.json").read_text() == '{"hello": 1}\n'
    code, out, err = _cli(["sweep", "tiny.yaml", "--out", str(copy), "--json", "--force"], capsys)
    assert code == 0, err
    manifest = json.loads((copy / "sweep.json").read_text())
    assert manifest["format"] == 1 and "hello" not in manifest and len(manifest["runs"]) == 1

    twice = work / "twice-runs.yaml"
    twice.write_text(_yaml({"out": str(copy), "search": [SEARCH, SEARCH]}))
    code, out, err = _cli(["sweep", "status", str(twice)], capsys)
    assert code == 0 and out.splitlines()[-1] == "1 runs: 1 completed", out


# ---- real processes: signals ---------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait(predicate: Any, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` holds; fails after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def _status(out: Path) -> dict[str, Any]:
    try:
        return json.loads(next(out.glob("*/status.json")).read_text())
    except (StopIteration, OSError, ValueError):
        return {}


def _dnas(args: list[str], cwd: Path, ignore_sigint: bool = False, **kw: Any) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen([sys.executable, "-m", "suite.cli", *args], cwd=cwd, env=env, preexec_fn=pre,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _attempts(out: Path) -> list[str]:
    log = next((out / ".sweep" / "logs").glob("darts-*.log"))
    return [line.split(":")[0] for line in log.read_text().splitlines() if " -> " in line]


def test_sigterm_with_sigint_ignored_or_a_killed_sweep_leaves_no_worker_and_the_rerun_resumes(tmp_path):
    """A sweep started as `dnas sweep ... &` from a script (SIGINT ignored, inherited by its workers): SIGTERM
    to it stops its run where it is and every worker exits within seconds. A sweep killed outright (SIGKILL)
    cannot stop its workers: they see it gone and exit by themselves. The rerun resumes the run, with the
    thread count it started with although the rerun gives runs another share (README: Sweeps)."""
    from suite.device import usable_cores

    threads = 2 if usable_cores() >= 2 else 1
    spec = tmp_path / "long.yaml"
    spec.write_text(_yaml({"out": "out", "search": {**SEARCH, "hparams": {**TINY, "epochs": 8}}}))
    out = tmp_path / "out"

    def mid_run() -> bool:
        st = _status(out)
        return st.get("status") == "running" and 1 <= (st.get("epochs_done") or 0) < 8

    proc = _dnas(["sweep", str(spec), "--json", "--cpus-per-run", str(threads)], tmp_path, ignore_sigint=True)
    try:
        _wait(mid_run, 180, "the search between its epochs")
        workers = _children(proc.pid)
        assert workers and _status(out)["pid"] in workers
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        took = _wait(lambda: not any(map(_alive, workers)), 10, "the workers to exit")
    finally:
        proc.kill()
    print(f"SIGTERM, SIGINT ignored: workers gone {took:.2f} s after the sweep ended")
    assert _status(out)["status"] == "interrupted"
    stopped_at = _status(out)["epochs_done"]

    proc = _dnas(["sweep", str(spec), "--json", "--workers", "2"], tmp_path)
    try:
        _wait(lambda: mid_run() and _status(out)["epochs_done"] > stopped_at, 180, "the resumed search to progress")
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        took = _wait(lambda: not any(map(_alive, workers)), 15, "the orphaned workers to exit")
    finally:
        proc.kill()
    print(f"SIGKILL: orphaned workers gone {took:.2f} s after the sweep died")
    _wait(lambda: _status(out).get("status") != "running", 15, "the run to record its end")
    assert _status(out)["status"] == "interrupted"

    proc = _dnas(["sweep", str(spec), "--json", "--workers", "2"], tmp_path)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert [r["state"] for r in json.loads(stdout)["runs"]] == ["completed"]
    steps = _attempts(out)
    assert steps[0] == "start -> interrupted" and steps[-1].startswith("resume after epoch") and \
        steps[-1].endswith("-> completed"), steps
    run = next(p for p in out.iterdir() if (p / "config.yaml").is_file())
    assert yaml.safe_load((run / "config.yaml").read_text())["threads"] == threads  # as it started
    log = next((out / ".sweep" / "logs").glob("darts-*.log")).read_text()
    assert threads == 1 or f"resumes with the {threads} thread(s) it started with" in log


# ---- a full disk -----------------------------------------------------------------------------------

def test_a_run_that_cannot_record_its_end_reads_dead_though_its_process_lives(tmp_path, monkeypatch):
    """A sweep worker outlives its run: where even 'failed' cannot be written (a full disk), status.json
    still says running with a live pid. The released lock tells readers the run is dead, the error that
    stopped the run is the one raised, and the run can be taken up again."""
    import errno

    from suite import runstore

    store = runstore.RunStore.create(tmp_path, "r", {"seed": 0}, {})

    tries: list[str] = []

    def full(path: Any, obj: Any) -> None:
        tries.append(obj["status"])
        raise OSError(errno.ENOSPC, f"No space left on device (writing {obj['status']})", str(path))

    with pytest.raises(OSError) as info:
        with store.writing():
            monkeypatch.setattr(runstore, "write_json", full)
            store.progress(1, 2)
    monkeypatch.undo()
    assert tries == ["running", "failed"]  # the end was tried, and the error that stopped the run is raised
    assert info.value.errno == errno.ENOSPC and "(writing running)" in str(info.value)
    assert json.loads((store.path / "status.json").read_text())["status"] == "running"  # this process lives
    status = runstore.open_run(store.path).status
    assert status["status"] == "dead" and "its lock is released" in status["note"], status
    again = runstore.resumable(store.path)  # nobody holds it: it can be resumed
    again.release()


def test_atomic_writes_name_the_file_and_refuse_a_directory(tmp_path):
    """A write that fails without a file name (ENOSPC from write(), pyarrow) names the file it was for,
    never its temp file, and leaves no temp file behind."""
    import errno

    from suite.io import atomic_path

    target = tmp_path / "status.json"
    with pytest.raises(OSError) as info:
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(IsADirectoryError) as info:
        with atomic_path(tmp_path):
            pass
    assert info.value.filename == str(tmp_path)


# ---- real processes: a full disk -----------------------------------------------------------------

def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dnas: error: ") and "Traceback" not in err, err
    return lines[0]


def test_a_full_disk_stops_search_sweep_and_baseline_in_seconds_naming_the_file(tmp_path, done):
    """Each command on a nearly full disk stops with one line naming a file there (no hang: a timeout
    proves it), leaves a resumable state, and after space is freed the same command completes."""
    disk = tmp_path / "disk"
    spec = tmp_path / "tiny.yaml"
    spec.write_text(_yaml({**SPEC, "out": str(disk / "sweep")}))
    timings = {}
    with small_disk(disk, 2048):
        fill(disk, 60)  # room for the run's small files, not for its checkpoint
        t0 = time.monotonic()
        proc = _dnas(["sweep", str(spec), "--json"], tmp_path)
        _, err = proc.communicate(timeout=120)
        timings["sweep"] = time.monotonic() - t0
        line = _one_error(err)
        assert proc.returncode == 2 and f"no space left on the device of {disk / 'sweep'}/" in line, line
        assert "run the same command again to resume" in line
        pids = {int(w.split(" pid ")[1].split()[0]) for log in (disk / "sweep" / ".sweep" / "logs").glob("darts-*")
                for w in log.read_text().splitlines() if w.startswith("== ")}  # each attempt's worker
        assert pids and _wait(lambda: not any(map(_alive, pids)), 10, "the sweep's workers to exit") < 10
        state = _status(disk / "sweep")
        assert state["status"] == "failed" and state["errno"] == 28, state

        t0 = time.monotonic()
        proc = _dnas([*shlex.split(SEARCH_CLI), "--out", str(disk / "runs"), "--name", "r"], tmp_path)
        _, err = proc.communicate(timeout=120)
        timings["search"] = time.monotonic() - t0
        line = _one_error(err)
        assert proc.returncode == 2 and f"no space left on the device of {disk / 'runs' / 'r'}/" in line, line
        assert f"resume it with 'dnas search --resume {disk / 'runs' / 'r'}'" in line
        code = subprocess.run([sys.executable, "-m", "suite.cli", "runs", str(disk / "runs"), "--json"],
                              capture_output=True, text=True, cwd=tmp_path)
        assert [r["status"] for r in json.loads(code.stdout)] in (["failed"], ["dead"]), code.stdout

        fill(disk, 0)
        baseline = disk / "b.jsonl"
        t0 = time.monotonic()
        proc = _dnas(["baseline", "save", str(done), "--out", str(baseline), "--metric", "derived_weight"], tmp_path)
        _, err = proc.communicate(timeout=120)
        timings["baseline save"] = time.monotonic() - t0
        line = _one_error(err)
        assert proc.returncode == 2 and f"cannot write {baseline}: No space left on device" in line, line
        assert "free space" in line and not baseline.exists() and not list(disk.glob(".b.jsonl.*"))

        (disk / ".filler").unlink()  # space again: every command goes on from where it stopped
        for args in (["sweep", str(spec), "--json"], ["search", "--resume", str(disk / "runs" / "r"), "--json"],
                     ["baseline", "save", str(done), "--out", str(baseline), "--metric", "derived_weight"]):
            proc = _dnas(args, tmp_path)
            stdout, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, (args, err)
        assert _attempts(disk / "sweep")[-1].startswith("resume after epoch")
        assert _status(disk / "sweep")["status"] == "completed"
        assert json.loads((disk / "runs" / "r" / "status.json").read_text())["status"] == "completed"
        assert baseline.is_file()
    print("seconds to stop on a full disk: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    assert max(timings.values()) < 60
