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

from suite.checks import (check_run_config, choose_threads, print_busy_note, resolve_device, using_threads,
                          writable_dir)
from suite.errors import DnasError, FormatError, MissingFileError, NonFiniteLoss
from suite.runstore import RunStore, environment, resumable


@dataclass
class SearchConfig:
    """Everything that defines a search run; ``hparams`` go to the method (validated there).

    Field types and ranges are checked on construction (``TypeError`` / ``ValueError`` naming the field).
    ``threads`` is the number of intra-op CPU threads (default: see ``suite.checks.choose_threads``)."""

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
    threads: int | None = None

    def __post_init__(self) -> None:
        check_run_config(self, ("method", "space", "dataset", "device"), "hparams", "hparams: {lr: 0.025}")

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
        return cls.from_dict(read_yaml_config(path))


def read_yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML config file as a dict; a missing file or bad YAML is a one-line error with the line number."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"config file {file} does not exist")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FormatError(f"config {file} is not valid YAML: {problem}{where}") from None
    except UnicodeDecodeError:
        raise FormatError(f"config {file} is not a text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(f"{file} must hold a mapping of config keys, not a {type(data).__name__}")
    return data


def reset_peak_memory(device: str) -> None:
    """Count peak memory afresh from here: a worker process may run several runs one after another.

    CUDA: the allocator's peak; CPU (Linux): the process's resident-set high-water mark (VmHWM)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux, or not allowed: the peak stays the process's
        pass


def _peak_memory_mb(device: str) -> float:
    """Peak memory since ``reset_peak_memory`` (else since the process started), in MB."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
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
        from benchmarks.builtin import NO_BENCH

        self.bench = None
        if bench_path and bench_path != NO_BENCH:
            import benchmarks

            self.bench = benchmarks.open(bench_path)
            if search_space.benchmark_space != self.bench.space.name:
                raise DnasError(f"benchmark {bench_path} holds the {self.bench.space.name} space; a "
                                f"{search_space.name} search can only be looked up in a "
                                f"{search_space.benchmark_space or 'no'} benchmark")
            self.columns = [(d, e, m) for d in self.bench.datasets() for e in self.bench.epochs_settings(d)
                            for m in self.METRICS if m in self.bench.metric_names(d, e)]

    def __call__(self, arch: Any) -> dict[str, float]:
        """Every column for one arch: exactly ``query(arch, ...)``, NaN where the benchmark has no value."""
        if self.bench is None:
            return {}
        index = self.bench.index(arch)  # resolve the arch once, not once per column
        out = {}
        for d, e, m in self.columns:
            try:
                out[f"{d}@{e}/{m}"] = self.bench.query(index, d, m, e)
            except KeyError:  # no record of this arch (or of this split) in the benchmark
                out[f"{d}@{e}/{m}"] = math.nan
        return out


def _name_stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def run_search(cfg: SearchConfig, *, progress: bool = True, stop_after: int | None = None) -> RunStore:
    """Run a search from scratch; ``stop_after`` ends it after that many epochs (to test resuming).

    Every input (device, output place, data, split files, hyperparameters, benchmark) is checked
    before the run directory exists; after that, any failure marks the run failed with the reason."""
    from methods import create_method
    from suite.data import search_split

    if not isinstance(cfg, SearchConfig):
        raise TypeError(f"run_search takes a SearchConfig, got {type(cfg).__name__}")
    from benchmarks.builtin import NO_BENCH, resolve_bench

    # the space's built-in table when no --bench is given; the config records which (or 'none')
    cfg = dataclasses.replace(cfg, bench=resolve_bench(cfg.bench, cfg.space) or NO_BENCH)
    device = resolve_device(cfg.device)
    out = writable_dir(cfg.out)
    threads = choose_threads(cfg.threads)
    with using_threads(threads):
        train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.protocol_dir)
        method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                               device=device, channels_last=cfg.channels_last, amp=cfg.amp, **cfg.hparams)
        lookup = Lookup(cfg.bench, method.space)
        config = {**dataclasses.asdict(cfg), "device": device, "threads": threads, "channels_last": method.channels_last,
                  "amp": method.amp, "hparams": method.hp}
        name = cfg.name or f"{cfg.method}-{cfg.space}-{cfg.dataset}-seed{cfg.seed}-{_name_stamp()}"
        env = environment(device)
        if lookup.bench is not None:
            env["benchmark"] = {"path": str(cfg.bench), "version": lookup.bench.version}
        store = RunStore.create(out, name, config, env, unique=cfg.name is None)
        if progress:
            print_busy_note(threads)
        reset_peak_memory(device)
        with store.writing():
            return _loop(store, method, train, valid, lookup, device, 0, [], progress, stop_after)


def resume_search(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None,
                  data_dir: str | None = None, protocol_dir: str | None = None, bench: str | None = None,
                  threads: int | None = None) -> RunStore:
    """Continue a run from its last finished epoch; refused while another process writes it.

    ``data_dir``, ``protocol_dir`` and ``bench`` replace paths that moved since the run started
    (they are written to its config); ``threads`` replaces the recorded thread count, which CPU
    results depend on. Inputs are checked before the run is touched."""
    store = resumable(run_dir)
    try:
        config = store.config
        if config.get("kind") == "evaluation":
            raise DnasError(f"{store.path} is an evaluation run: resume it with 'dnas evaluate --resume'")
        changed = {k: v for k, v in (("data_dir", data_dir), ("protocol_dir", protocol_dir), ("bench", bench),
                                     ("threads", threads)) if v is not None}
        config = {**config, **changed}
        cfg = SearchConfig.from_dict({**config, "hparams": {}})
        device = resolve_device(config["device"])
        n_threads = choose_threads(cfg.threads)
        with using_threads(n_threads):
            cfg, method, train, valid, ckpt = restore_search(store, device, config)
            lookup = Lookup(cfg.bench, method.space)
            start, elapsed, rows = 0, 0.0, []
            if ckpt is not None:
                start, elapsed = ckpt["epoch"] + 1, ckpt["elapsed"]
                rows = [r for r in store.metrics.to_dict("records") if r["epoch"] < start]
            if changed or config.get("threads") != n_threads:
                store.write_config({**config, "threads": n_threads})
            store.start(wall_time_s=elapsed, resumed_from_epoch=start)
            if progress:
                print_busy_note(n_threads)
            reset_peak_memory(device)
            with store.writing():
                return _loop(store, method, train, valid, lookup, device, start, rows, progress, stop_after)
    finally:
        store.release()


def restore_search(store: RunStore, device: str, config: dict[str, Any] | None = None
                   ) -> tuple[SearchConfig, Any, Any, Any, dict[str, Any] | None]:
    """A search run's config, its method (with the checkpoint's state when there is one), its
    search data and the checkpoint: what resuming and reading the final supernet both need.
    ``config`` replaces the stored one (e.g. with moved paths)."""
    from methods import create_method
    from suite.data import search_split

    config = store.config if config is None else config
    if config.get("kind") == "evaluation" or "method" not in config:
        raise DnasError(f"{store.path} is not a search run (it has no search method)")
    cfg = SearchConfig.from_dict({**config, "hparams": {}})
    train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.protocol_dir)
    method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                           device=device, channels_last=cfg.channels_last, amp=cfg.amp,
                           **{k: v for k, v in config["hparams"].items() if k not in _fixed(cfg.method)})
    ckpt = store.load_checkpoint()
    if ckpt is not None:
        method.load_state_dict(ckpt["method"])
    return cfg, method, train, valid, ckpt


def _fixed(method: str) -> dict[str, Any]:
    from methods import method_class

    return method_class(method)[1]


def _loop(store: RunStore, method: Any, train: Any, valid: Any, lookup: Lookup, device: str, start: int,
          rows: list[dict[str, Any]], progress: bool, stop_after: int | None) -> RunStore:
    from tqdm.auto import tqdm

    from suite.data import DeviceLoader

    hp = method.hp
    bs = min(hp["batch_size"], len(train), len(valid))
    seed = store.config["seed"]
    tl = DeviceLoader(train, bs, device, augment=True, seed=seed)
    vl = DeviceLoader(valid, bs, device, augment=True, seed=seed + 10_000)
    steps = min(len(tl), len(vl), hp.get("steps_per_epoch") or len(tl))
    epochs = hp["epochs"]
    check_every = 1 if device == "cpu" else 20
    store.progress(start, epochs)
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
            row: dict[str, Any] = {"epoch": epoch, "arch": str(arch)}
            row.update(lookup(arch) if method.space.benchmark_space else {})
            row.update({k: float(v) / steps for k, v in sums.items()})
            elapsed = store.wall_time()  # every session's time, killed ones included
            row.update({"lr": method.lr, "arch_entropy": _entropy(weights),
                        "arch_weights": json.dumps({g: [[round(float(x), 6) for x in r] for r in w]
                                                    for g, w in weights.items()}),
                        "epoch_time_s": time.time() - t0, "wall_time_s": elapsed, "device": device,
                        "peak_memory_mb": _peak_memory_mb(device)})
            if hasattr(method, "tau"):
                row["tau"] = method.tau
            rows.append(row)
            store.write_metrics(rows)
            store.progress(epoch + 1, epochs)  # before the checkpoint: status.json never counts less time
            store.save_checkpoint({"method": method.state_dict(), "epoch": epoch, "elapsed": elapsed})
            bar.set_postfix_str(f"epoch {epoch} loss {row.get('train_loss', math.nan):.3f}")
    finally:
        bar.close()
    from suite.runstore import cost_summary
    from suite.spaces.cost import count_params

    elapsed = store.wall_time()
    bench = {"name": lookup.bench.name, "version": lookup.bench.version} if lookup.bench is not None else None
    final = {"arch": rows[-1]["arch"] if rows else None, "epochs": epochs, "bench": bench, "wall_time_s": elapsed,
             "gpu_days": elapsed / 86400 if device.startswith("cuda") else None,
             "device": device, "lookups": {k: v for k, v in rows[-1].items() if "@" in k} if rows else {},
             "cost": cost_summary(elapsed, device, count_params(method.net), None)}
    store.write_final(final)
    store.set_status("completed")
    return store
