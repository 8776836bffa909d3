"""The search run: train the supernet, derive and look up every epoch, into a resumable run directory."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any

import torch

from suite import numerics
from suite.checks import writable_dir
from suite.device import choose_threads, print_busy_note, reset_peak_memory, resolve_device, using_threads
from suite.errors import DnasError, WrongType
from suite.runstore import RunStore
from suite.tensorboard import open_stream

from . import lifecycle
from .config import SearchConfig
from .lookup import Lookup
from .record import cost_summary, environment, note_resumed_numerics


def _entropy(weights: dict[str, torch.Tensor]) -> float:
    """Mean per-edge entropy (nats) of the op distribution the derivation reads."""
    vals = []
    for w in weights.values():
        p = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
        vals.append(-(p * p.clamp_min(1e-12).log()).sum(-1))
    return float(torch.cat(vals).mean())


def run_search(cfg: SearchConfig, *, progress: bool = True, stop_after: int | None = None,
               tensorboard: str | os.PathLike | None = None) -> RunStore:
    """Run a search from scratch; ``stop_after`` ends it after that many epochs (to test resuming).

    Every input (device, output place, data, split files, hyperparameters, benchmark) is checked
    before the run directory exists; after that, any failure marks the run failed with the reason."""
    from benchmarks.builtin import NO_BENCH, resolve_bench
    from methods import create_method
    from suite.data import search_split

    if not isinstance(cfg, SearchConfig):
        raise WrongType(f"run_search takes a SearchConfig, got {type(cfg).__name__}")
    # the space's built-in table when no --bench is given; the config records which (or 'none')
    cfg = dataclasses.replace(cfg, bench=resolve_bench(cfg.bench, cfg.space) or NO_BENCH)
    device = resolve_device(cfg.device)
    out = writable_dir(cfg.out)
    threads = choose_threads(cfg.threads)
    numerics.apply()
    with using_threads(threads):
        train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.splits_dir)
        method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                               device=device, channels_last=cfg.channels_last, amp=cfg.amp, **cfg.hparams)
        lookup = Lookup(cfg.bench, method.space)
        config = {**cfg.record(), "device": device, "threads": threads, "channels_last": method.channels_last,
                  "amp": method.amp, "hparams": method.hp}
        name = cfg.name or f"{cfg.method}-{cfg.space}-{cfg.dataset}-seed{cfg.seed}-{lifecycle.name_stamp()}"
        env = environment(device)
        if lookup.bench is not None:
            env["benchmark"] = {"path": str(cfg.bench), "version": lookup.bench.version}
        store = RunStore.create(out, name, config, env, unique=cfg.name is None)
        if progress:
            print_busy_note(threads)
        reset_peak_memory(device)
        with store.writing():
            return _loop(store, method, train, valid, lookup, device, 0, [], progress, stop_after, tensorboard)


def resume_search(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None,
                  data_dir: str | None = None, splits_dir: str | None = None, bench: str | None = None,
                  threads: int | None = None, tensorboard: str | os.PathLike | None = None) -> RunStore:
    """Continue a run from its last finished epoch; refused while another process writes it.

    ``data_dir``, ``splits_dir`` and ``bench`` replace paths that moved since the run started
    (they are written to its config); ``threads`` replaces the recorded thread count, which CPU
    results depend on. Inputs are checked before the run is touched."""
    moved = {"data_dir": data_dir, "splits_dir": splits_dir, "bench": bench, "threads": threads}
    store, config, changed = lifecycle.reopen(run_dir, "search", moved)
    try:
        cfg = SearchConfig.from_dict({**config, "hparams": {}})
        device = resolve_device(config["device"])
        n_threads = choose_threads(cfg.threads)
        numerics.apply()
        with using_threads(n_threads):
            cfg, method, train, valid, ckpt = restore_search(store, device, config)
            lookup = Lookup(cfg.bench, method.space)
            start, elapsed, rows = 0, 0.0, []
            if ckpt is not None:
                start, elapsed = ckpt["epoch"] + 1, ckpt["elapsed"]
                rows = [r for r in store.metrics.to_dict("records") if r["epoch"] < start]
            lifecycle.record_moved(store, config, changed, n_threads)
            note_resumed_numerics(store.path, device)
            store.start(wall_time_s=elapsed, resumed_from_epoch=start)
            if progress:
                print_busy_note(n_threads)
            reset_peak_memory(device)
            with store.writing():
                return _loop(store, method, train, valid, lookup, device, start, rows, progress, stop_after,
                             tensorboard)
    finally:
        store.release()


def restore_search(store: RunStore, device: str, config: dict[str, Any] | None = None
                   ) -> tuple[SearchConfig, Any, Any, Any, dict[str, Any] | None]:
    """A search run's config, its method (with the checkpoint's state when there is one), its
    search data and the checkpoint: what resuming and reading the final supernet both need.
    ``config`` replaces the stored one (e.g. with moved paths)."""
    from methods import create_method, method_class
    from suite.data import search_split

    config = store.config if config is None else config
    if config.get("kind") == "evaluation" or "method" not in config:
        raise DnasError(f"{store.path} is not a search run (it has no search method)")
    cfg = SearchConfig.from_dict({**config, "hparams": {}})
    train, valid = search_split(cfg.dataset, cfg.data_dir, cfg.splits_dir)
    fixed = method_class(cfg.method)[1]  # a variant's fixed values are in the config but not settable
    method = create_method(cfg.method, cfg.space, train.num_classes, train.images.shape[1], seed=cfg.seed,
                           device=device, channels_last=cfg.channels_last, amp=cfg.amp,
                           **{k: v for k, v in config["hparams"].items() if k not in fixed})
    ckpt = store.load_checkpoint()
    if ckpt is not None:
        method.load_state_dict(ckpt["method"])
    return cfg, method, train, valid, ckpt


def _loop(store: RunStore, method: Any, train: Any, valid: Any, lookup: Lookup, device: str, start: int,
          rows: list[dict[str, Any]], progress: bool, stop_after: int | None,
          tensorboard: str | os.PathLike | None = None) -> RunStore:
    from tqdm.auto import tqdm

    from suite.data import DeviceLoader
    from suite.spaces.cost import count_params

    bs = min(method.batch_size, len(train), len(valid))
    seed = store.config["seed"]
    tl = DeviceLoader(train, bs, device, augment=True, seed=seed)
    vl = DeviceLoader(valid, bs, device, augment=True, seed=seed + 10_000)
    steps = min(len(tl), len(vl), method.steps_per_epoch or len(tl))
    epochs = method.epochs
    check_every = 1 if device == "cpu" else 20
    method.bind_lookup(lookup if lookup.bench is not None and method.space.benchmark_space else None)
    store.progress(start, epochs)
    bar = tqdm(total=epochs * steps, initial=start * steps, desc=f"{method.name} {method.space.name}",
               unit="step", disable=not progress or None, leave=False)
    events = open_stream(tensorboard, store.path)
    try:
        for epoch in range(start, epochs):
            if lifecycle.stop_requested(store, epoch, stop_after):
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
                        lifecycle.fail_non_finite(store, rows, f"non-finite {bad[0]} at epoch {epoch}, step {i}",
                                                  "; lower the learning rate or check the data", epoch=epoch, step=i)
                bar.update(1)
            arch = method.derive()
            weights = method.arch_weights()
            row: dict[str, Any] = {"epoch": epoch, "arch": str(arch)}
            row.update(lookup(arch) if method.space.benchmark_space else {})
            row.update({k: float(v) / steps for k, v in sums.items()})
            row.update({"lr": method.lr, "arch_entropy": _entropy(weights),
                        "arch_weights": json.dumps({g: [[round(float(x), 6) for x in r] for r in w]
                                                    for g, w in weights.items()})})
            row.update(lifecycle.epoch_cost(store, device, t0, 2 * steps * bs if method.weight_sharing else None))
            row.update(method.epoch_metrics())
            rows.append(row)
            lifecycle.record_epoch(store, rows, epoch, epochs, {"method": method.state_dict(), "epoch": epoch,
                                                                "elapsed": row["wall_time_s"]}, events)
            bar.set_postfix_str(f"epoch {epoch} loss {row.get('train_loss', math.nan):.3f}")
    finally:
        bar.close()
        if events is not None:
            events.close()
    elapsed = store.wall_time()
    final = {"arch": rows[-1]["arch"] if rows else None, "epochs": epochs, "bench": lookup.describe(),
             "wall_time_s": elapsed, "gpu_days": elapsed / 86400 if device.startswith("cuda") else None,
             "device": device, "lookups": {k: v for k, v in rows[-1].items() if "@" in k} if rows else {},
             "cost": cost_summary(elapsed, device, count_params(method.network), None)}
    return lifecycle.finish(store, final)
