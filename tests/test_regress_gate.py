"""This project's own regression gate: every registered method on digits in the NB201 space, checked
in both modes, on any machine.

- **worse** against the committed baseline ``tests/regress/gate-baseline.jsonl`` (statistics: holds
  wherever the floats differ a little);
- **changed** (exact replay) against a baseline saved in this test session from the gate's runs, replayed
  by new worker processes and by the test process; against the committed baseline too when this
  machine's numerics fingerprint is the committed one's (else that verdict must be "not replayable",
  never changed);
- injected regressions are caught as worse (committed baseline) and as changed (session baseline).

Regenerate the committed baseline after an intended change (and commit it):

    python -m pytest tests/test_regress_gate.py --dnas-save-baseline

The gate searches are tiny (2 epochs of 4 steps, 4 channels, one cell per stage) but run each
method's real update rule, with a large architecture learning rate so that α moves in 8 steps;
5 seeds, so a one-sided Mann-Whitney U test can reach p = 1/252. Its quality metrics are
``derived_weight`` (how much of each edge's architecture weight the derived op holds: falls when
α does not learn or the derivation ignores α) and the looked-up CIFAR-10 test accuracy of the final
cell (see README, "Regression-testing search quality", for what each catches).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from reports.regress import Settings, collect, compare_changed, compare_worse, read_baseline, regress, save_baseline
from suite.testing.regress_plugin import Searcher

BASELINE = Path(__file__).parent / "regress" / "gate-baseline.jsonl"
SEEDS = range(5)
REPLAYED = (0, 1)
"""Seeds every method replays in new processes (each run is a few seconds of the default test run)."""
HPARAMS = {"epochs": 2, "steps_per_epoch": 4, "batch_size": 32, "channels": 4, "depth": 1, "arch_start_epoch": 0,
           "arch_lr": 0.3}
PER_METHOD = {"ista-nas": {"arch_lr": 1.0}, "ista-nas-one-stage": {"arch_lr": 1.0}}
"""ISTA-NAS learns b ~ N(0, 1) (not α ~ 1e-3): it needs a larger step for its codes to move in 8 steps."""
SETTINGS = Settings(metrics=("derived_weight", "cifar10@200/test-accuracy"), time_threshold=None,
                    memory_threshold=0.5)
"""Wall time is off: the test run shares its 2 cores with other jobs (2-5x slower at times)."""
OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"}
"""Another CPU as far as one machine can show it: other vector kernels in ATen, MKL and oneDNN."""


def _methods() -> list[str]:
    from methods import list_methods

    return list_methods()


@pytest.fixture(scope="session")
def gate_runs(dnas_search, request) -> Path:
    """Every registered method x 5 seeds with the gate's settings (with --dnas-save-baseline: saved)."""
    runs = dnas_search(_methods(), SEEDS, hparams=HPARAMS, per_method=PER_METHOD)
    if request.config.getoption("--dnas-save-baseline"):
        save_baseline(collect(runs), BASELINE, SETTINGS)
    return runs


@pytest.fixture(scope="session")
def gate_baseline(request):
    """The committed baseline."""
    if request.config.getoption("--dnas-save-baseline"):
        request.getfixturevalue("gate_runs")  # writes the baseline first
    return read_baseline(BASELINE)


@pytest.fixture(scope="session")
def session_baseline(gate_runs, tmp_path_factory) -> Path:
    """The gate's runs of this session as a baseline: what exact replay is checked against on any machine."""
    return save_baseline(collect(gate_runs), tmp_path_factory.mktemp("gate") / "session.jsonl", SETTINGS)


def _search_elsewhere(tmp_path_factory, name: str, env: dict[str, str] | None, methods: list[str],
                      seeds) -> Path:
    """The gate's searches in new worker processes (with ``env`` set before torch loads there)."""
    searcher = Searcher(tmp_path_factory.mktemp(name), env=env)
    try:
        return searcher(methods, seeds, hparams=HPARAMS, per_method=PER_METHOD)
    finally:
        searcher.close()


def _same_machine(base, cur) -> bool:
    """Whether the first runs of the two snapshots share a numerics fingerprint (an exact replay is possible)."""
    from suite.numerics import differences

    (bg, bs), (cg, cs) = next(iter(base.runs)), next(iter(cur.runs))
    return not differences(base.numerics(bg, bs)[0], cur.numerics(cg, cs)[0])


def test_the_gate_covers_every_registered_method(gate_baseline):
    held = {g.method for g in gate_baseline.groups()}
    missing = sorted(set(_methods()) - held)
    assert not missing, (f"no gate baseline for {', '.join(missing)}: regenerate it with "
                         f"'python -m pytest tests/test_regress_gate.py --dnas-save-baseline' and commit it")
    assert all(gate_baseline.seeds(g) == list(SEEDS) for g in gate_baseline.groups())
    assert gate_baseline.settings == SETTINGS
    assert all(gate_baseline.numerics(g, 0) for g in gate_baseline.groups())  # it says where it was made


def test_new_processes_replay_the_gate_exactly(tmp_path_factory, session_baseline):
    """The gate's seeds 0 and 1 of every method, searched again by new worker processes: every epoch's
    architecture and numbers as in this session's baseline."""
    replay = _search_elsewhere(tmp_path_factory, "replay", None, _methods(), REPLAYED)
    outcome = regress(replay, session_baseline, mode="changed")
    assert {v.group.method: v.status for v in outcome.verdicts} == {m: "unchanged" for m in _methods()}
    assert outcome.exit_code == 0


def test_the_gate_is_not_worse_than_the_committed_baseline(gate_runs, gate_baseline):
    """The gate on any machine: 'worse' against the committed baseline passes; 'changed' replays it exactly
    where the numerics fingerprint is the committed one's, and is 'not replayable' (never changed) elsewhere."""
    from suite.testing.regress_plugin import assert_no_regression

    outcome = assert_no_regression(gate_runs, BASELINE)
    worse = {v.group.method: v.status for v in outcome.verdicts if v.mode == "worse"}
    assert worse == {m: "not worse" for m in _methods()}
    expected = "unchanged" if _same_machine(gate_baseline, collect(gate_runs)) else "not replayable"
    changed = {v.group.method: v.status for v in outcome.verdicts if v.mode == "changed"}
    assert changed == {m: expected for m in _methods()}, [v.summary for v in outcome.verdicts if v.failed]


def test_another_cpus_kernels_are_not_replayable_and_not_worse(tmp_path_factory, session_baseline):
    """GDAS's five seeds under other vector kernels (``OTHER_KERNELS``): their numbers may differ in the
    last digits, so the exact replay is 'not replayable' (what differs named), never CHANGED; worse runs."""
    other = _search_elsewhere(tmp_path_factory, "other-kernels", OTHER_KERNELS, ["gdas"], SEEDS)
    outcome = regress(other, session_baseline)
    (changed,) = [v for v in outcome.verdicts if v.mode == "changed" and v.group.method == "gdas"]
    assert changed.status == "not replayable" and not changed.failed
    assert "torch_cpu_capability" in " ".join(changed.details) and "MKL_ENABLE_INSTRUCTIONS" in " ".join(changed.details)
    (worse,) = [v for v in outcome.verdicts if v.mode == "worse" and v.group.method == "gdas"]
    assert worse.status == "not worse"
    assert regress(other, session_baseline, require_replay=True).exit_code == 1


def test_portable_numerics_replay_across_kernels(tmp_path_factory):
    """Portable mode (``suite.numerics``): the same searches under other vector kernels and without libm's FMA
    paths replay each other exactly, where native mode does not."""
    from suite.numerics import PORTABLE_ENV

    methods = ["gdas", "darts-v1"]
    here = _search_elsewhere(tmp_path_factory, "portable", dict(PORTABLE_ENV), methods, (0,))
    elsewhere = _search_elsewhere(tmp_path_factory, "portable-other", {
        **PORTABLE_ENV, "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"},
        methods, (0,))
    base = save_baseline(collect(here), tmp_path_factory.mktemp("portable-base") / "b.jsonl", SETTINGS)
    outcome = regress(elsewhere, base, mode="changed")
    assert {v.group.method: v.status for v in outcome.verdicts} == {m: "unchanged" for m in methods}
    assert collect(here).numerics(collect(here).groups()[0], 0)[0]["mode"] == "portable"


@pytest.mark.parametrize("method, regression", [("darts-v1", "arch-lr-0"), ("gdas", "random-derive"),
                                                ("ista-nas", "freeze-arch"), ("entrannas-dst", "random-derive")])
def test_an_injected_regression_is_caught(dnas_search, gate_baseline, session_baseline, method, regression):
    """Worse against the committed baseline (any machine); changed against this session's."""
    runs = dnas_search(method, SEEDS, hparams=HPARAMS, per_method=PER_METHOD, regression=regression)
    cur = collect(runs)
    (worse,) = [v for v in compare_worse(gate_baseline, cur) if v.mode == "worse" and v.group.method == method]
    assert worse.status == "worse", worse.details
    (stat,) = [s for s in worse.stats if s["metric"] == "derived_weight"]
    assert stat["status"] == "worse" and stat["p_value"] < 0.05 and stat["difference"] <= -0.01
    assert worse.summary.startswith(f"{method}: derived_weight")
    (changed,) = [v for v in compare_changed(read_baseline(session_baseline), cur) if v.group.method == method]
    assert changed.status == "changed" and changed.summary.startswith(f"{method}: seed 0: first difference")


def test_too_few_seeds_is_insufficient_never_a_pass(gate_runs, gate_baseline):
    cur = collect(*[gate_runs / f"gdas-seed{s}" for s in (0, 1)])
    base = read_baseline(BASELINE)
    group = next(g for g in base.groups() if g.method == "gdas")
    for s in (2, 3, 4):  # a baseline of 2 seeds: 2 vs 2 can never reach p < 0.05
        del base.runs[(group, s)]
    (verdict,) = [v for v in compare_worse(base, cur) if v.mode == "worse" and v.group.method == "gdas"]
    assert verdict.status == "insufficient seeds" and verdict.failed
    assert all(s["min_reachable_p"] >= 1 / 6 - 1e-12 for s in verdict.stats)  # ties can only raise it
    assert "smallest reachable p is 0.167" in " ".join(verdict.details)


def test_a_hyperparameter_default_edit_is_caught_as_changed(tmp_path, session_baseline, monkeypatch):
    """Seed 0 of GDAS in this process replays the worker processes' run exactly; with one default edited it
    is 'changed', naming the setting and the first epoch and quantity that moved."""
    import dataclasses

    from methods.gdas import GDAS
    from suite.testing.regress_plugin import run_one

    def search(name: str) -> Path:
        run_one({"method": "gdas", "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": 0,
                 "device": "cpu", "out": str(tmp_path), "name": name, "threads": 1, "hparams": dict(HPARAMS)})
        return tmp_path / name

    base = read_baseline(session_baseline)
    same = search("same")
    # the edit: "tau_max": positive("Gumbel temperature at the first epoch", 10.0 -> 9.0, float)
    monkeypatch.setitem(GDAS.PARAMS, "tau_max", dataclasses.replace(GDAS.PARAMS["tau_max"], default=9.0))
    edited = search("edited")
    (replay,) = [v for v in compare_changed(base, collect(same)) if v.group.method == "gdas"]
    assert replay.status == "unchanged", replay.details  # this process replays the worker processes' runs
    (verdict,) = [v for v in compare_changed(base, collect(edited)) if v.group.method == "gdas"]
    assert verdict.status == "changed" and verdict.failed
    assert "hparams.tau_max 10.0 -> 9.0" in verdict.summary
    assert "seed 0: first difference at epoch 0: " in verdict.summary


@pytest.mark.perf
def test_every_injected_regression_of_every_method_is_caught(dnas_search, gate_baseline):
    """The whole matrix (every method x every injected regression, 150 searches; README table):
    python -m pytest -m perf tests/test_regress_gate.py -s"""
    from suite.testing.regressions import REGRESSIONS

    rows, missed = [], []
    for regression in REGRESSIONS:
        cur = collect(dnas_search(_methods(), SEEDS, hparams=HPARAMS, per_method=PER_METHOD, regression=regression))
        for v in compare_worse(gate_baseline, cur):
            if v.mode != "worse":
                continue
            by = {s["metric"]: s for s in v.stats}
            w, a = by["derived_weight"], by["cifar10@200/test-accuracy"]
            rows.append(f"| {v.group.method} | {regression} | {w['baseline_mean']:.3f} -> {w['current_mean']:.3f} "
                        f"(p = {w['p_value']:.3f}) | {a['baseline_mean']:.2f} -> {a['current_mean']:.2f} "
                        f"(p = {a['p_value']:.2f}) | {v.status} |")
            if v.status != "worse":
                missed.append(f"{v.group.method} {regression}: {v.summary}")
    print("\n| method | injected | derived_weight (one-sided p) | cifar10 test acc. looked up (p) | verdict |")
    print("|---|---|---|---|---|")
    print("\n".join(sorted(rows)))
    assert not missed, missed
