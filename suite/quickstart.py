"""The quickstart job: search with eight methods and random search on digits, look every epoch up in the NB201
table, train each found cell briefly, and leave the run directories for the report.

Everything it needs ships with the package (scikit-learn's digits, the built-in NB201 table),
so it runs on a fresh install with no download. Runs are named ``<method>-seed<k>`` and
``eval-<method>-seed<k>`` under ``OUT/runs``, so running it again into the same ``OUT``
resumes unfinished runs and skips finished ones. Work is spread over worker processes (one
torch thread each: small tensors gain nothing from intra-op threads); one progress bar counts
finished epochs across all of them.

"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from suite.errors import DnasError, NonFiniteLoss
from suite.io import write_json

METHODS = ("darts-v1", "gdas", "entrannas", "entrannas-dst", "ista-nas", "ista-nas-one-stage", "rarts", "fp-darts",
           "random")
"""DARTS-V1 and GDAS as baselines, the six newer methods, and random search (one cell drawn per epoch)."""
COST_ORDER = ("rarts", "darts-v2", "darts-v1", "entrannas-dst", "fp-darts", "pc-darts", "gdas", "entrannas",
              "ista-nas-one-stage", "ista-nas", "random")
"""Most expensive first (measured per search step on digits), so the workers finish together."""


@dataclasses.dataclass(frozen=True)
class QuickstartConfig:
    """What the quickstart runs; stored as ``OUT/quickstart.json`` so a rerun can check it matches."""

    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0, 1)
    search_epochs: int = 5
    eval_epochs: int = 3
    eval_protocol: str = "nats-12"
    eval_overrides: tuple[tuple[str, Any], ...] = (("batch_size", 64),)
    dataset: str = "digits"
    space: str = "nb201"
    bench: str = "nb201"
    search_hparams: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
                for k, v in d.items()}

    def check(self) -> None:
        from methods import list_methods

        known = list_methods()
        bad = [m for m in self.methods if m not in known]
        if bad:
            raise DnasError(f"unknown method {bad[0]!r}; registered: {', '.join(known)}")
        if not self.seeds or self.search_epochs < 1 or self.eval_epochs < 0:
            raise DnasError("the quickstart needs at least one seed, one search epoch and eval epochs >= 0")


def search_dir(out: Path, method: str, seed: int) -> Path:
    return out / "runs" / f"{method}-seed{seed}"


def eval_dir(out: Path, method: str, seed: int) -> Path:
    return out / "runs" / f"eval-{method}-seed{seed}"


def _status(path: Path) -> str | None:
    try:
        return json.loads((path / "status.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return None


def _fresh(path: Path) -> bool:
    """True when ``path`` should be started from scratch (absent, or created but never configured)."""
    if path.exists() and not (path / "config.yaml").is_file():
        shutil.rmtree(path)  # a run directory whose creation was cut short: nothing in it to keep
    return not path.exists()


def _one(method: str, seed: int, out: str, cfg: dict[str, Any], threads: int) -> dict[str, Any]:
    """Search (or resume, or skip) and then train the found cell; runs in a worker process."""
    import torch

    from suite.runs import EvalConfig, resume_training, run_training
    from suite.runs import SearchConfig, resume_search, run_search

    torch.set_num_threads(threads)  # the runs below record and use this count
    root = Path(out)
    s_path, e_path = search_dir(root, method, seed), eval_dir(root, method, seed)
    result = {"method": method, "seed": seed, "search": str(s_path), "eval": str(e_path)}
    try:
        status = _status(s_path)
        if status in ("completed", "failed"):
            pass  # done: a failed search is a result too, and would fail the same way again
        elif _fresh(s_path):
            run_search(SearchConfig(method=method, space=cfg["space"], dataset=cfg["dataset"], bench=cfg["bench"],
                                    seed=seed, device="cpu", out=str(s_path.parent), name=s_path.name,
                                    threads=threads,
                                    hparams={**dict(cfg["search_hparams"]), "epochs": cfg["search_epochs"]}),
                       progress=False)
        else:
            resume_search(s_path, progress=False, threads=threads)
    except NonFiniteLoss as exc:
        result["error"] = str(exc)
    if _status(s_path) != "completed" or cfg["eval_epochs"] == 0:
        return result
    arch = json.loads((s_path / "final.json").read_text())["arch"]
    try:
        if _status(e_path) in ("completed", "failed"):
            pass
        elif _fresh(e_path):
            run_training(EvalConfig(arch, cfg["eval_protocol"], cfg["dataset"], seed=seed, device="cpu",
                                    out=str(e_path.parent), name=e_path.name,
                                    overrides={**dict(cfg["eval_overrides"]), "epochs": cfg["eval_epochs"]},
                                    threads=threads, from_run=str(s_path.resolve())), progress=False)
        else:
            resume_training(e_path, progress=False, threads=threads)
    except NonFiniteLoss as exc:
        result["error"] = str(exc)
    return result


def _epochs_done(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path / "metrics.parquet").num_rows
    except Exception:  # absent, or being replaced this instant
        return 0


def run_quickstart(out: str | os.PathLike, cfg: QuickstartConfig = QuickstartConfig(), *, workers: int | None = None,
                   progress: bool = True) -> list[dict[str, Any]]:
    """Run (or resume) every search and evaluation of ``cfg`` under ``out/runs``; one result per search."""
    from tqdm.auto import tqdm

    cfg.check()
    if cfg.bench:
        import benchmarks

        benchmarks.open(cfg.bench)  # fail now, in one line and before writing anything, not in every worker
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "quickstart.json"
    settings = cfg.to_json()
    if manifest.is_file():
        before = json.loads(manifest.read_text())
        if before != settings:
            diff = sorted(k for k in settings if before.get(k) != settings[k])
            raise DnasError(f"{root} holds a quickstart with other settings ({', '.join(diff)}): use another --out "
                            f"or the same settings")
    else:
        write_json(manifest, settings)
    jobs = sorted(((m, s) for m in cfg.methods for s in cfg.seeds),
                  key=lambda j: (COST_ORDER.index(j[0]) if j[0] in COST_ORDER else len(COST_ORDER), j[1]))
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    threads = 1  # tiny tensors: a process per core beats intra-op threads, which thrash on a busy machine
    per_job = cfg.search_epochs + cfg.eval_epochs
    bar = tqdm(total=per_job * len(jobs), desc="quickstart", unit="epoch", disable=not progress or None)

    def count() -> int:
        return sum(min(_epochs_done(search_dir(root, m, s)), cfg.search_epochs)
                   + min(_epochs_done(eval_dir(root, m, s)), cfg.eval_epochs) for m, s in jobs)

    results: list[dict[str, Any]] = []
    import multiprocessing as mp

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futures: dict[Future, tuple[str, int]] = {
            pool.submit(_one, m, s, str(root), settings, threads): (m, s) for m, s in jobs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for f in done:
                results.append(f.result())
            bar.n = count()
            running = sorted({futures[f][0] for f in pending})[:3]
            bar.set_postfix_str(", ".join(running), refresh=False)
            bar.refresh()
    bar.n = count()
    bar.close()
    order = {j: i for i, j in enumerate((m, s) for m in cfg.methods for s in cfg.seeds)}
    return sorted(results, key=lambda r: order[(r["method"], r["seed"])])


def record_time(out: str | os.PathLike, wall_s: float, cpu_s: float) -> tuple[float, float, int]:
    """Add this invocation's wall and CPU time to ``OUT/timing.json``; totals and invocation count."""
    path = Path(out) / "timing.json"
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError):
        runs = []
    runs.append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_s": wall_s, "cpu_s": cpu_s,
                 "cores": os.cpu_count()})
    write_json(path, runs)
    return sum(r["wall_s"] for r in runs), sum(r["cpu_s"] for r in runs), len(runs)


def notes(cfg: QuickstartConfig, bench_version: str | None, wall_s: float, cpu_s: float,
          invocations: int = 1) -> list[str]:
    """What a reader of the quickstart report must know first, in plain words."""
    methods = ", ".join(cfg.methods)
    overrides = ", ".join(f"{k}={v}" for k, v in cfg.eval_overrides)
    return [
        f"<b>Search data is scikit-learn's <code>digits</code></b> (1,797 real 8x8 grey images), not CIFAR. "
        f"<b>Lookups are NATS-Bench numbers</b> ({bench_version or 'benchmark'}): every epoch's derived cell is "
        "looked up in the NB201 table, i.e. how that cell does when trained on CIFAR-10, CIFAR-100 or "
        "ImageNet16-120. They say which cells the searches pick, not how the cells do on digits.",
        f"Methods: {methods}; seeds {', '.join(map(str, cfg.seeds))}; {cfg.search_epochs} search epochs each with the "
        f"published NB201 supernet (C=16, N=5); random search draws one cell per epoch and keeps the best by the "
        "table's 12-epoch CIFAR-10 valid accuracy (NATS-Bench's rule). The published searches run 50-250 epochs "
        "on CIFAR-10: this is a demonstration of the pipeline, not a reproduction.",
        f"Trained accuracy: each found cell trained {cfg.eval_epochs} epochs on digits ({cfg.eval_protocol} "
        f"protocol shortened, {overrides}) as a stand-in for final validation; test accuracy on digits' held-out "
        "20 %.",
        f"Searches and training took {wall_s / 60:.1f} min wall time and {cpu_s / 60:.1f} min of CPU time (all "
        f"processes) on "
        f"{os.cpu_count()} cores" + (f", over {invocations} invocations (resumed)." if invocations > 1 else "."),
    ]
