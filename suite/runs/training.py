"""The training benchmark: an architecture's worth measured by training it from scratch under a protocol.
It lives with the run layer it drives (an evaluation is an evaluation run), not in ``benchmarks``.

``TrainingBenchmark(protocol).evaluate(arch, dataset, ...)`` shares the ``Benchmark`` interface
with the tabular lookups; each evaluation is an evaluation run (``suite.runs.evaluate``) whose
run directory (``Evaluation.run``) holds the per-epoch metrics, checkpoints and cost. ``dnas
evaluate`` goes through this class too.
"""
from __future__ import annotations

import os
from typing import Any

from benchmarks.base import Benchmark, Evaluation
from benchmarks.metrics import SPLIT_SETS
from suite.train.protocols import get_protocol


class TrainingBenchmark(Benchmark):
    """Evaluate by training from scratch; results and cost go to a run directory under ``out``.

    ``bench``: the tabular benchmark whose recorded numbers go beside the trained ones (default:
    the space's built-in table, ``"none"`` for none); ``threads``: CPU threads (default: see
    ``suite.device.choose_threads``)."""

    kind = "training"

    def __init__(self, protocol: str, *, data_dir: str | None = None, splits_dir: str | None = None,
                 device: str = "auto", out: str = "runs", overrides: dict[str, Any] | None = None,
                 progress: bool = True, bench: str | None = None, threads: int | None = None,
                 tensorboard: str | os.PathLike | None = None) -> None:
        self.protocol = get_protocol(protocol, overrides)
        self.kw = {"data_dir": data_dir, "splits_dir": splits_dir, "device": device, "out": out,
                   "overrides": dict(overrides or {}), "bench": bench, "threads": threads}
        self.progress = progress
        self.tensorboard = tensorboard

    def datasets(self, epochs: int | None = None) -> list[str]:
        return list(self.protocol.datasets)

    def evaluate(self, arch: Any, dataset: str, *, epochs: int | None = None, seed: Any = 0, name: str | None = None,
                 from_run: str | None = None, stop_after: int | None = None) -> Evaluation:
        """Train ``arch`` on ``dataset`` (``epochs`` replaces the protocol's); ``name`` names the run
        directory, ``from_run`` records the search run the architecture came from."""
        from .config import EvalConfig
        from .evaluate import run_training

        overrides = {**self.kw["overrides"], **({"epochs": epochs} if epochs is not None else {})}
        cfg = EvalConfig(str(arch), self.protocol.name, dataset, seed=seed, name=name, from_run=from_run,
                         **{**self.kw, "overrides": overrides})
        return evaluation_of(run_training(cfg, progress=self.progress, stop_after=stop_after,
                                          tensorboard=self.tensorboard))

    @staticmethod
    def resume(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None,
               tensorboard: str | os.PathLike | None = None, **moved: Any) -> Evaluation:
        """Continue an evaluation run from its last finished epoch (``moved``: data_dir, splits_dir,
        bench, threads that changed since it started)."""
        from .evaluate import resume_training

        return evaluation_of(resume_training(run_dir, progress=progress, stop_after=stop_after,
                                             tensorboard=tensorboard, **moved))


def evaluation_of(store: Any) -> Evaluation:
    """The ``Evaluation`` an evaluation run's final record makes, with the metrics also under the
    split names (``valid-accuracy`` beside ``x-valid-accuracy``) the tabular benchmarks use."""
    final = store.final or {}
    dataset = final.get("dataset", store.config.get("dataset"))
    metrics = dict(final.get("metrics", {}))
    for split, set_name in SPLIT_SETS.get(dataset, {}).items():
        for field in ("loss", "accuracy"):
            if f"{set_name}-{field}" in metrics and split != "train":
                metrics[f"{split}-{field}"] = metrics[f"{set_name}-{field}"]
    return Evaluation(arch=final.get("arch", store.config.get("arch")), dataset=dataset, metrics=metrics,
                      cost=final.get("cost", {}), source=f"trained ({final.get('protocol')}) in {store.path}",
                      run=str(store.path))
