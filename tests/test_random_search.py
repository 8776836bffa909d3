"""The ``random`` search method: uniform draws, the incumbent kept by the benchmark, resumable like any run."""
from __future__ import annotations

import collections

import numpy as np
import pytest

from methods import create_method
from suite.errors import DnasError
from suite.runs import SearchConfig, run_search
from suite.runs.lookup import Lookup

SELECT = "cifar10-valid@12/valid-accuracy"


def _draws(seed: int, n: int, lookup=None) -> list[str]:
    m = create_method("random", "nb201", 10, 3, seed=seed, epochs=n)
    m.bind_lookup(lookup)
    out = []
    for e in range(n):
        m.on_epoch_start(e)
        assert m.step(None, None) == {}
        out.append(str(m.derive()))
    return out


def test_draws_are_uniform_over_nb201_cells():
    """Without a benchmark every epoch's cell is a fresh draw: each edge's op uniform (5 sd of 1/5), edges
    independent (a pair of edges uniform over the 25 op pairs), and different seeds draw differently."""
    archs = _draws(0, 6000)
    ops = [[tok.split("~")[0] for tok in a.replace("+", "").split("|") if tok] for a in archs]
    n = len(ops)
    sd = (0.2 * 0.8 / n) ** 0.5
    for edge in range(6):
        freq = collections.Counter(o[edge] for o in ops)
        assert len(freq) == 5 and all(abs(c / n - 0.2) < 5 * sd for c in freq.values()), (edge, freq)
    pair = collections.Counter((o[0], o[5]) for o in ops)
    sd2 = (0.04 * 0.96 / n) ** 0.5
    assert len(pair) == 25 and all(abs(c / n - 0.04) < 5 * sd2 for c in pair.values())
    assert archs[:20] != _draws(1, 20)
    assert archs[:20] == _draws(0, 20)  # the run seed decides everything


def test_incumbent_is_the_best_candidate_so_far():
    """With a benchmark the derived cell is the first candidate with the highest ``select`` value so far."""
    bench = Lookup("nb201", create_method("random", "nb201", 10, 3).space)
    seen: list[tuple[str, float]] = []

    def recording(arch):
        row = bench(arch)
        seen.append((str(arch), row[SELECT]))
        return row

    derived = _draws(5, 40, recording)
    for e, arch in enumerate(derived):
        scores = [s for _, s in seen[:e + 1]]
        first_best = seen[int(np.argmax(scores))][0]
        assert arch == first_best and bench(arch)[SELECT] == max(scores)
    assert len(set(derived)) > 1 and len(set(a for a, _ in seen)) > len(set(derived))


def test_run_looks_up_a_non_decreasing_incumbent(tmp_path):
    run = run_search(SearchConfig(method="random", dataset="digits", out=str(tmp_path), name="r", bench="nb201",
                                  hparams={"epochs": 15}), progress=False)
    sel = run.metrics[SELECT].to_numpy()
    assert (np.diff(sel) >= 0).all() and sel[-1] > sel[0]
    assert run.final["arch"] == run.metrics["arch"].iloc[-1] and run.final["cost"]["params_m"] == 0


def test_select_names_a_column_or_fails_in_one_line(tmp_path):
    with pytest.raises(DnasError, match="select='cifar10@200/valid-accuracy' is not a lookup column.*choose one of"):
        run_search(SearchConfig(method="random", dataset="digits", out=str(tmp_path), name="bad", bench="nb201",
                                hparams={"epochs": 2, "select": "cifar10@200/valid-accuracy"}), progress=False)
    run = run_search(SearchConfig(method="random", dataset="digits", out=str(tmp_path), name="c100", bench="nb201",
                                  hparams={"epochs": 6, "select": "cifar100@12/valid-accuracy"}), progress=False)
    assert (np.diff(run.metrics["cifar100@12/valid-accuracy"].to_numpy()) >= 0).all()


# ---- random search at the same simulated time (reports) ----------------------------------------

class _Clocked:
    """A benchmark whose cells cost 10 s each to "train" and whose valid accuracy is the cell's index."""

    n_archs = 4

    def __init__(self) -> None:
        self.calls = 0

    def simulate_train_eval(self, index, dataset, epochs, rng=None, clock=None):
        self.calls += 1
        return float(index), None, 10.0, clock.advance(10.0)


def test_simulated_random_search_spends_the_budget_by_the_official_rule():
    """Budget 25 s at 10 s a cell: a cell is drawn while the time so far is below the budget, so 3 cells per
    search; the incumbent is the best of them: P(index 3) = 1 - (3/4)^3. Budget 0 still draws one cell."""
    from reports.baselines import simulated_random_search

    bench = _Clocked()
    got = simulated_random_search(bench, "cifar10", 25.0, repeats=2000, seed=3)
    assert bench.calls == 3 * 2000
    p = 1 - 0.75 ** 3
    assert abs(np.mean(got == 3) - p) < 5 * (p * (1 - p) / 2000) ** 0.5
    bench.calls = 0
    once = simulated_random_search(bench, "cifar10", 0.0, repeats=500, seed=3)
    assert bench.calls == 500 and set(once) == {0, 1, 2, 3}


def test_a_table_without_training_times_gets_no_time_comparison():
    import benchmarks
    from reports.baselines import simulated_random_search

    assert simulated_random_search(benchmarks.open("nb201"), "cifar10", 100.0, repeats=2) is None


def _runs(version: str, values: dict[str, list[float]], seconds: float):
    import pandas as pd

    rows = [{"kind": "search", "space": "nb201", "dataset": "cifar10", "bench_version": version, "method": m,
             "config_hash": "h", "seed": s, "complete": True, "diagnostics": "", "search_wall_time_s": seconds,
             "archs_looked_up": 1, "epochs_done": 1, KEY12: v} for m, vs in values.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


KEY12 = "cifar10@12/test-accuracy"


def test_better_than_random_search_at_the_same_time_both_ways(full_tss_store):
    """Seeds at the benchmark's best cell beat random search given 10 simulated minutes (p at its floor,
    1 / C(103, 3)); seeds at its worst cell do not (p = 1). The budget is the method's median seconds."""
    import benchmarks
    from reports import tables
    from reports.baselines import random_architecture

    bench = benchmarks.open(full_tss_store)
    dist = random_architecture(bench, KEY12, None)
    best, worst = float(np.nanmax(dist.values)), float(np.nanmin(dist.values))
    frame = tables.comparison(_runs(bench.version, {"top": [best] * 3, "bottom": [worst] * 3}, 600.0), [KEY12],
                              baselines={(bench.version, KEY12): dist}, n_resamples=100)
    rows = frame[frame["row"] == "runs"].set_index("method")
    assert rows.loc["top", "p_beats_random_search_time"] > 0.95 and rows.loc["bottom", "p_beats_random_search_time"] < 0.05
    assert rows.loc["top", "p_random_search_time"] < 1e-4  # 3 seeds above every one of 100 searches
    assert rows.loc["bottom", "p_random_search_time"] > 0.9 and (rows["random_search_budget_s"] == 600.0).all()
    assert worst < rows.loc["top", "random_search_time"] < best
    shown = tables.display(frame[frame["row"] == "runs"])
    assert shown["P(better than random search, same time)"].str.match(r"^\d\.\d\d \(p ").all()
