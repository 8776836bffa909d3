"""Sweeps: spec checking and expansion, stable ids, local runs, resume after Ctrl-C, two sweeps on one
directory, and the status read back from disk."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from suite.cli import main
from suite.errors import DnasError
from suite.sweep import expand, load_sweep, run_sweep, sweep_states
from suite.sweep.executors import Slot, local_slots

TINY = {"epochs": 2, "channels": 4, "depth": 1, "batch_size": 64}
EVAL = {"epochs": 1, "channels": 4, "depth": 1, "batch_size": 64}
SPEC = {"search": {"method": ["darts-v1", "gdas"], "dataset": "digits", "seed": [0, 1], "hparams": TINY,
                   "bench": "nb201"},
        "evaluate": {"protocol": "nats-12", "dataset": "digits", "overrides": EVAL}}
"""The test sweep: 2 methods x 2 seeds on digits, each found cell trained for an epoch (8 runs)."""
SEARCHES = {"search": SPEC["search"]}
"""Its four searches alone (the same runs: the same ids)."""
VOLATILE = ("epoch_time_s", "wall_time_s", "peak_memory_mb", "images_per_s")
ROOT = Path(__file__).resolve().parents[1]


def spec_error(data: dict, match: str) -> None:
    with pytest.raises(DnasError, match=match) as info:
        expand(data, "s.yaml", out="/nonexistent/never-made")
    assert "\n" not in str(info.value) and str(info.value).startswith("s.yaml: ")


# ---- the spec --------------------------------------------------------------------------------------

def test_grid_expands_into_searches_then_evaluations_with_stable_ids(tmp_path):
    sweep = expand(SPEC, "s.yaml", out=tmp_path)
    searches = [r for r in sweep.runs if r.kind == "search"]
    evals = [r for r in sweep.runs if r.kind == "evaluation"]
    assert [r.label for r in searches] == ["darts-v1 nb201 digits seed 0", "darts-v1 nb201 digits seed 1",
                                           "gdas nb201 digits seed 0", "gdas nb201 digits seed 1"]
    assert [r.after for r in evals] == [r.id for r in searches]
    assert [r.config["seed"] for r in evals] == [0, 1, 0, 1]  # default: the search's seed
    assert all(r.id.startswith(("darts-v1-nb201-digits-seed", "gdas-nb201-digits-seed")) for r in searches)
    assert len({r.id for r in sweep.runs}) == 8 and sweep.runs.index(evals[0]) == 4
    assert searches[0].epochs == 2 and evals[0].epochs == 1

    # the same runs whatever the spelling: "--set epochs=2" (a string), another place for files, a device
    same = expand({**SPEC, "search": {**SPEC["search"], "space": "tss", "device": "cpu", "bench": "none",
                                      "hparams": {**TINY, "epochs": "2", "lr": 0.025}}},
                  "other.yaml", out=tmp_path / "elsewhere")
    assert [r.id for r in same.runs] == [r.id for r in sweep.runs]
    # another value of any hyperparameter (even one left at its default before) is another run
    other = expand(SPEC, "s.yaml", out=tmp_path, hparams={"arch_lr": 6e-4})
    assert not {r.id for r in other.runs} & {r.id for r in sweep.runs}
    other_eval = expand(SPEC, "s.yaml", out=tmp_path, overrides={"lr": 0.05})
    assert [r.id for r in other_eval.runs][:4] == [r.id for r in searches]
    assert not {r.id for r in other_eval.runs[4:]} & {r.id for r in evals}


def test_grid_lists_and_hyperparameter_grids_cross_and_overlaps_run_once(tmp_path):
    data = {"search": [{"method": "gdas", "dataset": "digits", "seed": [0, 1], "hparams": TINY,
                        "grid": {"tau_max": [10, 5], "arch_lr": [3e-4, 6e-4]}},
                       {"method": "gdas", "dataset": "digits", "seed": 1, "hparams": {**TINY, "tau_max": 10}}]}
    runs = expand(data, "s.yaml", out=tmp_path).runs
    assert len(runs) == 8  # 2 seeds x 2 x 2; the second grid's run is the first grid's (seed 1, tau 10, 3e-4)
    assert len({r.id for r in runs}) == 8


@pytest.mark.parametrize("data, match", [
    ({"serach": {}}, r"unknown key 'serach'; known: out, search, evaluate, executor"),
    ({"search": {"methods": ["gdas"]}}, r"search: unknown key 'methods'.*\(list values are crossed"),
    ({"search": {"method": "dart", "dataset": "digits"}}, r"search: dart on nb201: unknown method 'dart'"),
    ({"search": [{"method": "gdas", "dataset": "digits"}, {"method": "gdas", "dataset": "digits",
                                                            "hparams": {"lr": -1}}]},
     r"search\[1\]: gdas on nb201: The 'lr' parameter of gdas must be > 0. Got -1"),
    ({"search": {"method": "gdas", "dataset": "digits", "hparams": {"lr": [0.1, 0.2]}}},
     r"hparams.lr is a list; to sweep over values put it under 'grid:'"),
    ({"search": {"method": "gdas", "dataset": "digits", "hparams": {"momentm": 0.9}}}, r"unknown parameter 'momentm'"),
    ({"search": {"method": "gdas", "dataset": "mnist"}}, r"unknown dataset 'mnist'"),
    ({"search": {"method": "gdas", "dataset": "cifar10"}}, r"search: dataset cifar10 needs data_dir"),
    ({"search": {"method": "gdas", "dataset": "cifar100", "data_dir": "/nonexistent"}},
     r"search: data_dir /nonexistent is not a folder"),
    ({"search": {"method": "gdas", "dataset": "digits"}, "evaluate": {"protocol": "nats-12", "dataset": "cifar10"}},
     r"evaluate: dataset cifar10 needs data_dir"),
    ({"search": {"method": "gdas", "dataset": "digits", "seed": [0, -1]}}, r"seed must be an int"),
    ({"search": {"method": "gdas", "dataset": "digits", "device": "cuda:1"}}, r"device must be one of auto, cpu"),
    ({"search": {"method": "rarts", "space": "sss", "dataset": "digits"}, "evaluate": {"protocol": "nats-12",
                                                                                    "dataset": "digits"}},
     r"evaluate: protocol nats-12 trains nb201 networks, and no search of this sweep is in the nb201 space"),
    ({"search": {"method": "gdas", "dataset": "digits"}, "evaluate": {"protocol": "nats-12", "dataset": "imagenet"}},
     r"protocol nats-12 trains on cifar10-valid, .* or digits, not 'imagenet'"),
    ({"search": {"method": "gdas", "dataset": "digits"}, "evaluate": {"protocol": "nats-13", "dataset": "digits"}},
     r"evaluate: unknown protocol 'nats-13'"),
    ({"search": {"method": "gdas", "dataset": "digits"}, "evaluate": {"protocol": "nats-12", "dataset": "digits",
                                                                     "overrides": {"epochs": 0}}},
     r"The 'epochs' parameter of protocol nats-12 must be > 0"),
    ({"search": {"method": "gdas", "dataset": "digits"}, "executor": {"kind": "ray", "gpu": 1}},
     r"executor: unknown key 'gpu'"),
])
def test_invalid_specs_are_refused_in_one_line_naming_the_entry(data, match):
    spec_error(data, match)


def test_cli_refuses_a_bad_spec_before_anything_starts(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"out": str(tmp_path / "out"), "search": {**SPEC["search"],
                                                                             "hparams": {**TINY, "lr": "fast"}}}))
    assert main(["sweep", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dnas: error: {spec}: search: darts-v1 on nb201: The 'lr' parameter") and "\n" not in err
    assert not (tmp_path / "out").exists()
    assert main(["sweep", str(spec), "--executor", "local", "--address", "auto"]) == 2
    assert main(["sweep", "status", str(tmp_path)]) == 2  # no sweep.json there
    assert "holds no sweep" in capsys.readouterr().err


def test_local_slots_share_the_cores_and_gpus(monkeypatch):
    monkeypatch.setattr("suite.sweep.executors.usable_cores", lambda: 8)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_slots() == [Slot(1)] * 8                      # one core (and thread) per run
    assert local_slots(workers=2) == [Slot(1)] * 2             # fewer workers: still one thread each
    assert local_slots(limit=3) == [Slot(1)] * 3               # no more slots than runs to do
    assert local_slots(cpus_per_run=2) == [Slot(2)] * 4
    with pytest.raises(DnasError, match="has none visible"):
        local_slots(gpus_per_run=1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert local_slots() == [Slot(4, "3"), Slot(4, "5")]       # one GPU per run, cores shared among them
    assert local_slots(gpus_per_run=0.5) == [Slot(2, "3"), Slot(2, "3"), Slot(2, "5"), Slot(2, "5")]
    assert local_slots(gpus_per_run=0) == [Slot(1)] * 8
    assert local_slots(workers=1) == [Slot(4, "3")]             # cores / GPUs, whatever --workers says
    with pytest.raises(DnasError, match="must be 0, 1 or 1/k"):
        local_slots(gpus_per_run=0.3)
    with pytest.raises(DnasError, match="more than the 8 core"):
        local_slots(cpus_per_run=9)


# ---- the scheduler and the local executor, without training ----------------------------------------

class Scripted:
    """An executor whose runs end as a script says (in process, at once), recording what it was given."""

    capacity = 2

    def __init__(self, script: dict[str, list[dict]]) -> None:
        self.script, self.given, self.done = script, [], []

    def submit(self, key, task):
        self.given.append(key)
        self.done.append({"id": key, **(self.script.get(key) or [{"state": "completed"}]).pop(0)})

    def wait(self, timeout):
        out, self.done = self.done, []
        return out

    def interrupt(self):
        return []

    def close(self):
        pass

    def describe(self):
        return "scripted"


def test_scheduler_retries_faults_not_results_and_skips_evaluations_of_failed_searches(tmp_path):
    from suite.sweep.schedule import Scheduler

    sweep = expand(SPEC, "test", out=tmp_path)
    s = [r.id for r in sweep.runs if r.kind == "search"]
    evals = {r.after: r.id for r in sweep.runs if r.kind == "evaluation"}
    crash = {"state": "failed", "reason": "RuntimeError: CUDA out of memory", "retry": True}
    script = {s[0]: [crash, {"state": "lost", "reason": "worker process killed by SIGKILL", "retry": True}],
              s[1]: [{"state": "failed", "reason": "non-finite train_loss at epoch 1", "retry": False}],
              s[2]: [crash, crash, crash]}
    ex = Scripted(script)
    states = Scheduler(sweep, ex, retries=2).run(poll_s=0)
    assert states[s[0]].state == "completed" and states[s[0]].attempts == 3     # two faults, then done
    assert states[s[1]].state == "failed" and states[s[1]].attempts == 1       # a NaN is a result: no retry
    assert states[s[2]].state == "failed" and states[s[2]].attempts == 3       # 1 + 2 retries, then given up
    assert states[s[2]].reason == "RuntimeError: CUDA out of memory (after 3 attempts)"
    assert states[s[3]].state == "completed"
    for search in s:  # an evaluation runs only after its search completed, never for a failed one
        ev = states[evals[search]]
        assert ev.state == ("completed" if states[search].state == "completed" else "skipped")
        if ev.state == "completed":
            assert ex.given.index(evals[search]) > max(i for i, k in enumerate(ex.given) if k == search)
        else:
            assert evals[search] not in ex.given and "failed" in ev.reason


def test_scheduler_waits_for_runs_another_process_writes(tmp_path, monkeypatch):
    from suite.sweep import schedule

    sweep = expand(SEARCHES, "test", out=tmp_path)
    first = sweep.runs[0].id
    ex = Scripted({first: [{"state": "busy", "reason": "written by pid 1 on elsewhere"}]})
    sched = schedule.Scheduler(sweep, ex)
    on_disk = iter([{"state": "running"}, {"state": "running"}, {"state": "completed", "epochs_done": 2}])
    real = schedule.jobs.run_status
    monkeypatch.setattr(schedule.jobs, "run_status",
                        lambda p: next(on_disk) if Path(p).name == first and first in sched.held else real(p))
    monkeypatch.setattr(schedule, "HELD_POLL_S", 0.0)
    monkeypatch.setattr(schedule, "DISK_POLL_S", 0.0)
    states = sched.run(poll_s=0)
    assert states[first].state == "completed" and states[first].epochs_done == 2
    assert ex.given.count(first) == 1  # handed out once, found taken, then watched until the other process ended


def test_a_run_with_bad_input_fails_at_once_and_leaves_no_run_behind(tmp_path):
    from suite.sweep.jobs import execute

    config = {"method": "gdas", "space": "nb201", "dataset": "digits", "seed": 0, "bench": str(tmp_path / "nope"),
              "data_dir": None, "hparams": TINY}
    out = execute({"id": "r", "kind": "search", "out": str(tmp_path), "config": config, "after": None,
                   "threads": 1, "device": "cpu"})
    assert out["state"] == "failed" and out["retry"] is False and "nope" in out["reason"]  # no retry: same again
    assert not (tmp_path / "r").exists()
    assert attempts(tmp_path, "r") == ["start -> failed"]


def kill_self(task: dict) -> dict:
    """A task whose worker process dies (for the test below)."""
    if task["id"] == "doomed":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"state": "completed", "pid": os.getpid()}


def test_a_killed_local_worker_loses_only_its_run(tmp_path, monkeypatch):
    from suite.sweep.executors import LocalExecutor

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    ex = LocalExecutor([Slot(1), Slot(1)], tmp_path, fn="tests.test_sweep:kill_self")
    outcomes: list[dict] = []
    try:
        for key in ("a", "doomed", "b", "c"):
            while all(w is not None and w.key is not None for w in ex.workers):
                outcomes += ex.wait(5)
            ex.submit(key, {"id": key})
        while ex.busy():
            outcomes += ex.wait(5)
    finally:
        ex.close()
    by_key = {o["id"]: o for o in outcomes}
    assert sorted(by_key) == ["a", "b", "c", "doomed"]
    assert by_key["doomed"]["state"] == "lost" and by_key["doomed"]["retry"] is True
    assert by_key["doomed"]["reason"] == "worker process killed by SIGKILL"
    assert all(by_key[k]["state"] == "completed" for k in "abc")


# ---- running --------------------------------------------------------------------------------------

def assert_same_stores(a: Path, b: Path, ids: list[str]) -> None:
    """The run directories ``ids`` under ``a`` and ``b`` hold the same results (timing columns excepted)."""
    import torch

    for run_id in ids:
        x, y = a / run_id, b / run_id
        cx, cy = (yaml.safe_load((p / "config.yaml").read_text()) for p in (x, y))
        assert {k for k in cx if cx[k] != cy.get(k)} <= {"out", "from_run"}, run_id
        mx, my = (pd.read_parquet(p / "metrics.parquet") for p in (x, y))
        pd.testing.assert_frame_equal(mx.drop(columns=list(VOLATILE), errors="ignore"), my.drop(columns=list(VOLATILE), errors="ignore"))
        fx, fy = (json.loads((p / "final.json").read_text()) for p in (x, y))
        for f in (fx, fy):
            f.pop("cost"), f.pop("wall_time_s", None)
        assert fx == fy, run_id
        sx, sy = (torch.load(p / "checkpoints" / "last.pt", weights_only=False) for p in (x, y))
        tx, ty = (sx.get("method", sx).get("net", sx.get("model")) for sx in (sx, sy))
        assert tx.keys() == ty.keys() and all(torch.equal(tx[k], ty[k]) for k in tx), run_id


def attempts(out: Path, run_id: str) -> list[str]:
    """What each attempt at a run did, from its log: 'start -> completed', 'resume after epoch 1 -> ...',
    'skip -> completed', 'wait -> busy', 'start -> taken' (another process got there first)."""
    log = out / ".sweep" / "logs" / f"{run_id}.log"
    return [line.split(":")[0].split(" (")[0] for line in log.read_text().splitlines() if " -> " in line]


def writes(out: Path, run_id: str) -> list[str]:
    """The attempts that wrote the run (not the ones that found it taken, busy or finished)."""
    return [a for a in attempts(out, run_id) if a.startswith(("start", "resume")) and not a.endswith("taken")]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The test sweep run once by the local executor: two worker processes, one thread each."""
    sweep = expand(SPEC, "test", out=tmp_path_factory.mktemp("sweeps") / "local")
    states = run_sweep(sweep, progress=False, workers=2, cpus_per_run=1)
    return sweep, states


def test_local_sweep_completes_every_run_and_a_rerun_skips_them(local_sweep, capsys):
    sweep, states = local_sweep
    assert {rs.state for rs in states.values()} == {"completed"}
    for run in sweep.runs:
        path = sweep.out / run.id
        assert list(pd.read_parquet(path / "metrics.parquet")["epoch"]) == list(range(run.epochs))
        config = yaml.safe_load((path / "config.yaml").read_text())
        assert config["threads"] == 1
        assert attempts(sweep.out, run.id) == ["start -> completed"]
        if run.kind == "evaluation":  # trains exactly the architecture its search found
            assert config["arch"] == json.loads((sweep.out / run.after / "final.json").read_text())["arch"]
    manifest = json.loads((sweep.out / "sweep.json").read_text())
    assert list(manifest["runs"]) == [r.id for r in sweep.runs]

    stamps = {r.id: (sweep.out / r.id / "metrics.parquet").stat().st_mtime_ns for r in sweep.runs}
    t0 = time.monotonic()
    again = run_sweep(sweep, progress=False, workers=2)
    assert time.monotonic() - t0 < 30 and {rs.state for rs in again.values()} == {"completed"}
    assert stamps == {r.id: (sweep.out / r.id / "metrics.parquet").stat().st_mtime_ns for r in sweep.runs}
    assert all(len(attempts(sweep.out, r.id)) == 1 for r in sweep.runs)  # not even handed to a worker

    assert main(["sweep", "status", str(sweep.out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["state"], r["epochs_done"]) for r in shown["runs"]] == \
        [(r.id, "completed", r.epochs) for r in sweep.runs]
    assert main(["sweep", "status", str(sweep.out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[-1] == "8 runs: 8 completed" and "epoch 2/2" in text

    # the output directory is a directory of run stores, as every reader of runs takes it
    assert main(["runs", str(sweep.out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((r["name"], r["kind"], r["status"]) for r in listed) == \
        sorted((r.id, r.kind, "completed") for r in sweep.runs)


def test_status_from_the_spec_shows_queued_and_waiting_runs(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"out": str(tmp_path / "out"), **SPEC}))
    assert main(["sweep", "status", str(spec)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:9]] == ["queued"] * 4 + ["waiting"] * 4
    assert lines[-1] == "8 runs: 4 queued, 4 waiting"
    assert not (tmp_path / "out").exists()  # reading the state writes nothing


def kill_mid_search(sweep) -> tuple[list[tuple[str, int]], "threading.Thread"]:
    """Start a thread that kills (SIGKILL) the process writing the first search caught between its epochs;
    returns the list it fills with (run id, pid) and the thread."""
    import threading

    searches = {r.id for r in sweep.runs if r.kind == "search"}
    killed: list[tuple[str, int]] = []

    def watch() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            for rs in sweep_states(sweep).values():
                if rs.spec.id in searches and rs.state == "running" and rs.epochs_done == 1 and rs.pid:
                    os.kill(rs.pid, signal.SIGKILL)
                    killed.append((rs.spec.id, rs.pid))
                    return
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    return killed, thread


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_ctrl_c_stops_every_run_where_it_is_and_the_rerun_resumes(local_sweep, tmp_path):
    local, _ = local_sweep
    out = tmp_path / "out"
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"out": str(out), "search": {**SPEC["search"], "method": "darts-v1"}}))
    sweep = load_sweep(spec)  # two of the local sweep's runs, both running when Ctrl-C comes
    searches = [r.id for r in sweep.runs if r.kind == "search"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "suite.cli", "sweep", str(spec), "--workers", "2"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def mid_run() -> bool:
            return any(s.state == "running" and 1 <= s.epochs_done < s.spec.epochs
                       for s in sweep_states(sweep).values() if s.spec.id in searches)

        _wait_for(mid_run, 120, "a search between its epochs")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    states = sweep_states(sweep)
    assert "running" not in {s.state for s in states.values()}  # each run recorded where it stopped
    stopped = [s for s in states.values() if s.state == "interrupted"]
    assert stopped and any(s.epochs_done >= 1 for s in stopped)

    again = run_sweep(sweep, progress=False, workers=2)
    assert {rs.state for rs in again.values()} == {"completed"}
    for s in stopped:
        assert attempts(out, s.spec.id) == ["start -> interrupted",
                                            f"resume after epoch {s.epochs_done} -> completed"]
    assert_same_stores(local.out, out, [r.id for r in sweep.runs])  # as if never interrupted


def test_two_sweeps_on_one_directory_never_run_a_run_twice(local_sweep, tmp_path):
    """Two sweeps (each with its own worker process) on one directory, and one of their workers killed
    mid-search: every run is written by one process, the killed one resumed once, the stores as local's."""
    import threading

    local, _ = local_sweep
    sweep = expand(SEARCHES, "test", out=tmp_path / "shared")
    results: dict[str, dict] = {}

    def one(name: str) -> None:
        results[name] = run_sweep(sweep, progress=False, workers=1, cpus_per_run=1)

    killed, watcher = kill_mid_search(sweep)
    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in [*threads, watcher]:
        t.join(timeout=300)
    assert killed, "no search was caught between its epochs"
    assert {rs.state for r in results.values() for rs in r.values()} == {"completed"}, \
        {n: {k: (rs.state, rs.reason) for k, rs in r.items() if rs.state != "completed"} for n, r in results.items()}
    for run in sweep.runs:
        expected = ["resume after epoch 1 -> completed"] if run.id == killed[0][0] else ["start -> completed"]
        assert writes(sweep.out, run.id) == expected, attempts(sweep.out, run.id)
    assert_same_stores(local.out, sweep.out, [r.id for r in sweep.runs])


# ---- Ray ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster of 2 CPUs (Ray is in the test extras: CI must have it)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Ray is missing in CI: pip install -e '.[test]' installs it")
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_sweep_equals_local_and_survives_a_killed_worker(local_sweep, ray_cluster, tmp_path):
    """Under a real Ray cluster the stores equal the local executor's, even though one Ray worker is
    killed in the middle of a search: Ray runs the task again, which resumes the run from its checkpoint;
    every run completes once, none is duplicated or lost."""
    local, _ = local_sweep
    sweep = expand(SPEC, "test", out=tmp_path / "ray")
    killed, watcher = kill_mid_search(sweep)
    states = run_sweep(sweep, progress=False, kind="ray", cpus_per_run=1, retries=2)
    watcher.join()
    assert killed, "no search was caught between its epochs"
    victim, pid = killed[0]
    assert pid != os.getpid()
    assert {rs.state for rs in states.values()} == {"completed"}
    assert sorted(p.name for p in sweep.out.iterdir() if not p.name.startswith((".", "sweep"))) == \
        sorted(r.id for r in sweep.runs)  # no duplicated or stray run directories
    for run in sweep.runs:
        expected = ["resume after epoch 1 -> completed"] if run.id == victim else ["start -> completed"]
        assert writes(sweep.out, run.id) == expected, attempts(sweep.out, run.id)
    assert_same_stores(local.out, sweep.out, [r.id for r in sweep.runs])


def test_a_finished_sweep_feeds_report_and_baseline_directly(local_sweep, tmp_path, capsys):
    """Hand-off: the sweep's output directory is what `dnas report` and `dnas baseline save` take."""
    sweep, _ = local_sweep
    assert main(["report", str(sweep.out), "--out", str(tmp_path / "report"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (tmp_path / "report" / "report.html").is_file(), shown
    comparison = pd.read_csv(next((tmp_path / "report" / "tables").glob("*.csv")))
    assert {"darts-v1", "gdas"} <= set(comparison.astype(str).stack()), comparison

    baseline = tmp_path / "baseline.jsonl"
    assert main(["baseline", "save", str(sweep.out), "--out", str(baseline), "--metric", "derived_weight"]) == 0
    capsys.readouterr()
    assert main(["regress", str(sweep.out), "--baseline", str(baseline), "--mode", "changed"]) == 0
    verdict = capsys.readouterr().out
    assert "darts-v1" in verdict and "gdas" in verdict
