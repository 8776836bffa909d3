"""The search runner: train, derive and look up every epoch, into a resumable run store."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from suite.errors import DnasError, NonFiniteLoss
from suite.runstore import RunStore, environment, open_run


@dataclass
class SearchConfig:
    """Everything that defines a search run; ``hparams`` go to the method (validated there)."""

    method: str
    space: str = "nb201"
    dataset: str = "cifar10"
    data_dir: str | None = None
    protocol_dir: str | None = None
    bench: str | None = None
    seed: int = 0
    device: str = "auto"
    channels_last: bool | None = None
    """Channels-last network and inputs; None: the device's default (``methods.base.fast_path``)."""
    amp: bool | None = None
    """bf16 autocast; None: the device's default (on for CUDA, off for CPU)."""
    out: str = "runs"
    name: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config key {unknown[0]!r}; known: {', '.join(sorted(known))} "
                             f"(method hyperparameters go under 'hparams:')")
        if "method" not in data:
            raise ValueError("the config needs 'method' (see 'dnas list methods')")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "SearchConfig":
        import yaml

        file = Path(path)
        if not file.is_file():
            raise DnasError(f"config file {file} does not exist")
        data = yaml.safe_load(file.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{file} must hold a mapping of config keys")
        return cls.from_dict(data)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DnasError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    return device


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _entropy(weights: dict[str, torch.Tensor]) -> float:
    """Mean per-edge entropy (nats) of the op distribution the derivation reads."""
    vals = []
    for w in weights.values():
        p = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
        vals.append(-(p * p.clamp_min(1e-12).log()).sum(-1))
    return float(torch.cat(vals).mean())


class Lookup:
    """Look a derived architecture up on every dataset and epochs setting a benchmark holds."""

    METRICS = ("valid-accuracy", "test-accuracy")

    def __init__(self, bench_path: str | None, search_space: Any) -> None:
        self.bench = None
        if bench_path:
            import benchmarks

            self.bench = benchmarks.open(bench_path)
            if search_space.benchmark_space != self.bench.space.name:
                raise DnasError(f"benchmark {bench_path} holds the {self.bench.space.name} space; a "
                                f"{search_space.name} search can only be looked up in a "
                                f"{search_space.benchmark_space or 'no'} benchmark")
            self.columns = [(d, e, m) for d in self.bench.datasets() for e in self.bench.epochs_settings(d)
                            for m in self.METRICS if m in self.bench.metric_names(d, e)]

    def __call__(self, arch: Any) -> dict[str, float]:
        if self.bench is None:
            return {}
        out = {}
        for d, e, m in self.columns:
            out[f"{d}@{e}/{m}"] = float(self.bench.query_many([arch], d, m, e)[0])
        return out


def _name_stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _name(cfg: SearchConfig) -> str:
    return cfg.name or f"{cfg.method}-{cfg.space}-{cfg.dataset}-seed{cfg.seed}-{_name_stamp()}"


def run_search(cfg: SearchConfig, *, progress: bool = True, stop_after: int | None = None) -> RunStore:
    """Run a search from scratch; ``stop_after`` ends it after that many epochs (to test resuming)."""
    from methods import create_method
    from suite.data import search_split

    device = resolve_device(cfg.device)
    train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.protocol_dir)
    method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                           device=device, channels_last=cfg.channels_last, amp=cfg.amp, **cfg.hparams)
    lookup = Lookup(cfg.bench, method.space)
    config = {**dataclasses.asdict(cfg), "device": device, "channels_last": method.channels_last, "amp": method.amp,
              "hparams": method.hp}
    store = RunStore.create(cfg.out, _name(cfg), config, environment(device))
    return _loop(store, method, train, valid, lookup, device, start=0, rows=[], elapsed=0.0,
                 progress=progress, stop_after=stop_after)


def resume_search(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None) -> RunStore:
    """Continue an interrupted run from its last finished epoch."""
    from methods import create_method
    from suite.data import search_split

    store = open_run(run_dir)
    status = store.status.get("status")
    if status == "completed":
        raise DnasError(f"run {store.path} already completed; nothing to resume")
    config = store.config
    cfg = SearchConfig.from_dict({**config, "hparams": {}})
    device = resolve_device(config["device"])
    train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.protocol_dir)
    method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                           device=device, channels_last=cfg.channels_last, amp=cfg.amp,
                           **{k: v for k, v in config["hparams"].items() if k not in _fixed(cfg.method)})
    ckpt = store.load_checkpoint()
    rows = store.metrics.to_dict("records")
    if ckpt is None:
        start, rows, elapsed = 0, [], 0.0
    else:
        method.load_state_dict(ckpt["method"])
        start, elapsed = ckpt["epoch"] + 1, ckpt["elapsed"]
        rows = [r for r in rows if r["epoch"] < start]
    store.set_status("running", resumed_from_epoch=start)
    return _loop(store, method, train, valid, Lookup(cfg.bench, method.space), device, start, rows, elapsed,
                 progress, stop_after)


def _fixed(method: str) -> dict[str, Any]:
    from methods import method_class

    return method_class(method)[1]


def _loop(store: RunStore, method: Any, train: Any, valid: Any, lookup: Lookup, device: str, start: int,
          rows: list[dict[str, Any]], elapsed: float, progress: bool, stop_after: int | None) -> RunStore:
    from tqdm.auto import tqdm

    from suite.data import DeviceLoader

    hp = method.hp
    bs = min(hp["batch_size"], len(train), len(valid))
    seed = store.config["seed"]
    tl = DeviceLoader(train, bs, device, augment=True, seed=seed)
    vl = DeviceLoader(valid, bs, device, augment=True, seed=seed + 10_000)
    steps = min(len(tl), len(vl))
    epochs = hp["epochs"]
    check_every = 1 if device == "cpu" else 20
    bar = tqdm(total=epochs * steps, initial=start * steps, desc=f"{method.name} {method.space.name}",
               unit="step", disable=not progress or None, leave=False)
    try:
        for epoch in range(start, epochs):
            if stop_after is not None and epoch >= stop_after:
                store.set_status("interrupted", after_epoch=epoch - 1)
                return store
            t0 = time.time()
            method.on_epoch_start(epoch)
            tl.set_epoch(epoch)
            vl.set_epoch(epoch)
            sums: dict[str, torch.Tensor] = {}
            for i, (tb, vb) in enumerate(zip(tl, vl)):
                if i >= steps:
                    break
                out = method.step(tb, vb)
                for k, v in out.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                if (i + 1) % check_every == 0 or i + 1 == steps:
                    bad = [k for k, v in out.items() if k.endswith("loss") and not torch.isfinite(v)]
                    if bad:
                        reason = f"non-finite {bad[0]} at epoch {epoch}, step {i}"
                        store.write_metrics(rows)
                        store.set_status("failed", reason=reason, epoch=epoch, step=i)
                        raise NonFiniteLoss(f"run {store.path} stopped: {reason}; lower the learning rate "
                                            f"or check the data")
                bar.update(1)
            arch = method.derive()
            weights = method.arch_weights()
            elapsed += time.time() - t0
            row: dict[str, Any] = {"epoch": epoch, "arch": str(arch)}
            row.update(lookup(arch) if method.space.benchmark_space else {})
            row.update({k: float(v) / steps for k, v in sums.items()})
            row.update({"lr": method.lr, "arch_entropy": _entropy(weights),
                        "arch_weights": json.dumps({g: [[round(float(x), 6) for x in r] for r in w]
                                                    for g, w in weights.items()}),
                        "epoch_time_s": time.time() - t0, "wall_time_s": elapsed, "device": device,
                        "peak_memory_mb": _peak_memory_mb(device)})
            if hasattr(method, "tau"):
                row["tau"] = method.tau
            rows.append(row)
            store.write_metrics(rows)
            store.save_checkpoint({"method": method.state_dict(), "epoch": epoch, "elapsed": elapsed})
            bar.set_postfix_str(f"epoch {epoch} loss {row.get('train_loss', math.nan):.3f}")
    except KeyboardInterrupt:
        store.set_status("interrupted", after_epoch=len(rows) - 1)
        raise
    finally:
        bar.close()
    from suite.runstore import cost_summary
    from suite.spaces.cost import count_params

    final = {"arch": rows[-1]["arch"] if rows else None, "epochs": epochs, "wall_time_s": elapsed,
             "gpu_days": elapsed / 86400 if device.startswith("cuda") else None,
             "device": device, "lookups": {k: v for k, v in rows[-1].items() if "@" in k} if rows else {},
             "cost": cost_summary(elapsed, device, count_params(method.net), None)}
    store.write_final(final)
    store.set_status("completed")
    return store
