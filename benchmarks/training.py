"""The training benchmark: an architecture's worth measured by training it from scratch under a protocol.

``TrainingBenchmark(protocol).evaluate(arch, dataset, ...)`` shares the ``Benchmark`` interface
with the tabular lookups; each evaluation is an evaluation run (``suite.runs.evaluate``) whose
run directory holds the per-epoch metrics, checkpoints and cost.
"""
from __future__ import annotations

from typing import Any

from suite.train.protocols import get_protocol

from . import metrics as M
from .base import Benchmark, Evaluation


class TrainingBenchmark(Benchmark):
    """Evaluate by training from scratch; results and cost go to a run directory under ``out``."""

    kind = "training"

    def __init__(self, protocol: str, *, data_dir: str | None = None, splits_dir: str | None = None,
                 device: str = "auto", out: str = "runs", overrides: dict[str, Any] | None = None,
                 progress: bool = True, protocol_dir: str | None = None) -> None:
        """``protocol_dir``: the former name of ``splits_dir``."""
        self.protocol = get_protocol(protocol, overrides)
        self.kw = {"data_dir": data_dir, "splits_dir": splits_dir or protocol_dir, "device": device, "out": out,
                   "overrides": dict(overrides or {})}
        self.progress = progress

    def datasets(self, epochs: int | None = None) -> list[str]:
        return list(self.protocol.datasets)

    def evaluate(self, arch: Any, dataset: str, *, epochs: int | None = None, seed: Any = 0) -> Evaluation:
        from suite.runs.config import EvalConfig
        from suite.runs.evaluate import run_training

        overrides = {**self.kw["overrides"], **({"epochs": epochs} if epochs is not None else {})}
        cfg = EvalConfig(str(arch), self.protocol.name, dataset, seed=seed, **{**self.kw, "overrides": overrides})
        return evaluation_of(run_training(cfg, progress=self.progress))


def evaluation_of(store: Any) -> Evaluation:
    """The ``Evaluation`` an evaluation run's final record makes, with the metrics also under the
    split names (``valid-accuracy`` beside ``x-valid-accuracy``) the tabular benchmarks use."""
    final = store.final or {}
    dataset = final.get("dataset", store.config.get("dataset"))
    metrics = dict(final.get("metrics", {}))
    for split, set_name in M.SPLIT_SETS.get(dataset, {}).items():
        for field in ("loss", "accuracy"):
            if f"{set_name}-{field}" in metrics and split != "train":
                metrics[f"{split}-{field}"] = metrics[f"{set_name}-{field}"]
    return Evaluation(arch=final.get("arch", store.config.get("arch")), dataset=dataset, metrics=metrics,
                      cost=final.get("cost", {}), source=f"trained ({final.get('protocol')}) in {store.path}")
