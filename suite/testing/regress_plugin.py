"""pytest plugin (entry point ``dnas_regress``): a regression test of search quality in a few lines.

    def test_my_method(dnas_search, dnas_regress):
        runs = dnas_search("my-method", seeds=range(5), hparams={"epochs": 2, "steps_per_epoch": 4})
        dnas_regress(runs, "tests/baselines/my-method.jsonl")

``dnas_search`` runs short CPU searches (one process per core, one thread each, so the numbers
are exactly reproducible) and caches them for the session; ``dnas_regress`` checks them against a
committed baseline (``reports.regress``: "changed" and "worse") and fails with the verdict table.
``pytest --dnas-save-baseline`` writes the baselines instead (commit them). The logic lives in
``reports.regress``; this module only runs searches and turns verdicts into assertions.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pytest

from suite.errors import InvalidInput

COST_ORDER = ("rarts", "darts-v2", "darts-v1", "fp-darts", "pc-darts", "entrannas-dst", "entrannas",
              "ista-nas-one-stage", "ista-nas", "gdas")
"""Most expensive first (measured per step), so the worker processes finish together."""


def _start_worker(env: dict[str, str] | None = None) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads in this process
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.update(env or {})  # e.g. suite.numerics.PORTABLE_ENV


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One search in this process (a worker): ``task`` holds SearchConfig fields and ``regression``
    (an injected regression from ``suite.testing.regressions``, or None)."""
    from suite.errors import NonFiniteLoss
    from suite.runs import SearchConfig, run_search
    from suite.testing.regressions import inject

    task = dict(task)
    regression = task.pop("regression", None)
    undo = inject(regression, task["method"]) if regression else (lambda: None)
    try:
        store = run_search(SearchConfig(**task), progress=False)
        return {"path": str(store.path), "status": store.status.get("status")}
    except NonFiniteLoss as exc:  # a result: the run records it as failed
        return {"path": str(Path(task["out"]) / task["name"]), "status": "failed", "error": str(exc)}
    finally:
        undo()


class Searcher:
    """Runs searches for a list of methods and seeds in worker processes; the same request twice in a
    session returns the folder of the first (a search is never run twice)."""

    def __init__(self, root: Path, workers: int | None = None, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.env = dict(env or {})
        self.cache: dict[str, Path] = {}
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing as mp

            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_start_worker, initargs=(self.env,))
        return self._pool

    def __call__(self, methods: str | Sequence[str], seeds: Iterable[int], *, space: str = "nb201",
                 dataset: str = "digits", bench: str | None = "nb201", hparams: dict[str, Any] | None = None,
                 per_method: dict[str, dict[str, Any]] | None = None, regression: str | None = None) -> Path:
        """Search every method with every seed (CPU, one thread) and return the folder holding the runs.

        ``hparams`` apply to every method, ``per_method[name]`` on top for that method; ``regression``
        injects one of ``suite.testing.regressions.REGRESSIONS`` into every run (to prove a gate)."""
        names = [methods] if isinstance(methods, str) else list(methods)
        seeds = [int(s) for s in seeds]
        if not names or not seeds:
            raise InvalidInput("dnas_search needs at least one method and one seed")
        request = {"methods": names, "seeds": seeds, "space": space, "dataset": dataset, "bench": bench,
                   "hparams": hparams or {}, "per_method": per_method or {}, "regression": regression,
                   "env": self.env}
        key = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:12]
        if key in self.cache:
            return self.cache[key]
        out = self.root / key
        tasks = [{"method": m, "space": space, "dataset": dataset, "bench": bench, "seed": s, "device": "cpu",
                  "out": str(out), "name": f"{m}-seed{s}", "threads": 1, "regression": regression,
                  "hparams": {**(hparams or {}), **(per_method or {}).get(m, {})}} for m in names for s in seeds]
        tasks.sort(key=lambda t: (COST_ORDER.index(t["method"]) if t["method"] in COST_ORDER else -1, t["seed"]))
        futures: list[Future] = [self.pool().submit(run_one, t) for t in tasks]
        results = [f.result() for f in futures]
        broken = [r for r in results if r["status"] not in ("completed", "failed")]
        if broken:
            raise RuntimeError(f"{len(broken)} search(es) did not finish: {broken[0]}")
        self.cache[key] = out
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def assert_no_regression(runs: str | os.PathLike | Sequence[str | os.PathLike], baseline: str | os.PathLike, *,
                         mode: str = "both", settings: Any = None, require_replay: bool = False) -> Any:
    """Fail (AssertionError with the verdict table) when the runs changed, got worse or have too few seeds;
    bad input (unknown mode or metric, malformed baseline, runs of no baseline group, nothing compared)
    fails the test with its one-line error. Returns the ``reports.regress.Outcome``; ``settings``
    (``reports.regress.Settings``) replaces the baseline's own. The check is ``reports.regress.regress``."""
    from reports.regress import regress, render
    from suite.errors import DnasError

    try:
        outcome = regress(runs, baseline, mode=mode, settings=settings, require_replay=require_replay)
    except DnasError as exc:
        hint = "; save one with pytest --dnas-save-baseline" if not Path(baseline).exists() or "no baseline" in \
            str(exc) else ""
        pytest.fail(f"dnas_regress: {exc}{hint}", pytrace=False)
    if outcome.failed:
        raise AssertionError(f"{len(outcome.failed)} regression verdict(s) against {baseline}:\n"
                             + render(outcome.failed))
    return outcome


def save_or_check(save: bool) -> Callable[..., Any]:
    """The ``dnas_regress`` helper: check runs against a baseline, or (``save``) write the baseline."""

    def check(runs: str | os.PathLike | Sequence[str | os.PathLike], baseline: str | os.PathLike, *,
              mode: str = "both", settings: Any = None, require_replay: bool = False) -> Any:
        from reports.regress import MODES

        if mode not in MODES:  # before anything is saved or run
            pytest.fail(f"dnas_regress: unknown mode {mode!r}: choose {', '.join(MODES)}", pytrace=False)
        if save:
            from reports.regress import Settings, collect, save_baseline

            paths = [runs] if isinstance(runs, (str, os.PathLike)) else list(runs)
            path = save_baseline(collect(*paths), baseline, settings or Settings())
            pytest.skip(f"wrote baseline {path} (--dnas-save-baseline): commit it")
        return assert_no_regression(runs, baseline, mode=mode, settings=settings, require_replay=require_replay)

    return check


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dnas-regress", "dnas-suite search regression tests")
    group.addoption("--dnas-save-baseline", action="store_true", default=False,
                    help="write the baselines dnas_regress checks against, instead of checking (commit them)")
    group.addoption("--dnas-workers", type=int, default=None,
                    help="search processes of dnas_search (default: one per core)")
    group.addoption("--dnas-numerics", choices=("native", "portable"), default="native",
                    help="numerics mode of dnas_search's processes: portable replays across CPUs, at a cost "
                         "(suite.numerics; README, Replay)")


@pytest.fixture(scope="session")
def dnas_search(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Run short searches for methods x seeds (cached per session): ``dnas_search(method, seeds, hparams=...)``
    returns the folder holding the runs."""
    from suite.numerics import PORTABLE_ENV

    portable = request.config.getoption("--dnas-numerics") == "portable"
    searcher = Searcher(tmp_path_factory.mktemp("dnas-search"), request.config.getoption("--dnas-workers"),
                        PORTABLE_ENV if portable else None)
    yield searcher
    searcher.close()


@pytest.fixture(scope="session")
def dnas_regress(request: pytest.FixtureRequest):
    """``dnas_regress(runs, baseline_file, mode="both")``: assert no regression (or, with
    ``--dnas-save-baseline``, write the baseline and skip)."""
    return save_or_check(request.config.getoption("--dnas-save-baseline"))
