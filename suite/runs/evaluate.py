"""The evaluation run: train an architecture from scratch under a named protocol, into a run directory.

It writes what a search writes (config, environment, per-epoch Parquet metrics, checkpoints,
final metrics and cost), so a run resumes after any finished epoch and reports read searches
and evaluations alike. Cost: wall time, device, GPU model and count, GPU-days (GPU-seconds /
86,400), peak memory, params and FLOPs of the trained network. Under ``torchrun`` every rank
trains its shard and rank 0 writes the run.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

from suite import numerics
from suite.checks import writable_dir
from suite.device import choose_threads, print_busy_note, resolve_device, using_threads
from suite.errors import DnasError, WrongType
from suite.runstore import RunStore, open_run
from suite.tensorboard import open_stream
from suite.train.batches import TrainData
from suite.train.distributed import Dist, barrier, broadcast, init_distributed, is_main_process
from suite.train.loop import Trainer
from suite.train.networks import parse_arch
from suite.train.protocols import PROTOCOLS, Protocol, get_protocol

from . import lifecycle
from .config import EvalConfig
from .record import cost_summary, environment, note_resumed_numerics


def _open_bench(cfg: EvalConfig, protocol: Protocol) -> Any:
    """The tabular benchmark whose recorded numbers go beside the trained ones (checked before training)."""
    from benchmarks.builtin import resolve_bench

    name = resolve_bench(cfg.bench, protocol.space)  # the built-in table for NB201 when none is given
    if not name:
        return None
    if protocol.space != "nb201":
        raise DnasError(f"--bench sets a benchmark's recorded numbers beside an NB201 training; protocol "
                        f"{protocol.name} trains a DARTS network, which no tabular benchmark holds: drop --bench")
    import benchmarks

    bench = benchmarks.open(name)
    if bench.space.name != "tss":
        raise DnasError(f"benchmark {cfg.bench} holds the {bench.space.name} space; protocol {protocol.name} "
                        f"trains NB201 (tss) networks")
    return bench


def _inputs(cfg: EvalConfig) -> tuple[Protocol, Any, Any, str, int]:
    """Protocol, parsed arch, opened benchmark, device and threads of ``cfg``, all checked."""
    protocol = get_protocol(cfg.protocol, cfg.overrides)
    if cfg.dataset not in protocol.datasets and not (protocol.space == "nb201" and cfg.dataset == "digits"):
        raise DnasError(f"protocol {protocol.name} trains on {', '.join(protocol.datasets)}, not {cfg.dataset!r}")
    return protocol, parse_arch(protocol, cfg.arch), _open_bench(cfg, protocol), resolve_device(cfg.device), \
        choose_threads(cfg.threads)


def run_training(cfg: EvalConfig, *, progress: bool = True, stop_after: int | None = None,
                 tensorboard: str | os.PathLike | None = None) -> RunStore:
    """Train ``cfg.arch`` from scratch under ``cfg.protocol``; returns the finished run store.

    Every input (protocol, arch, benchmark, device, output place, data and split files) is checked
    before the run directory exists; after that, any failure marks the run failed with the reason."""
    from benchmarks.builtin import NO_BENCH, resolve_bench

    if not isinstance(cfg, EvalConfig):
        raise WrongType(f"run_training takes an EvalConfig, got {type(cfg).__name__}")
    protocol, arch, bench, device, threads = _inputs(cfg)
    cfg = dataclasses.replace(cfg, bench=resolve_bench(cfg.bench, protocol.space) or NO_BENCH)  # the config says which
    out = writable_dir(cfg.out)
    numerics.apply()
    d, device = init_distributed(device)
    with using_threads(threads):
        hp = protocol.hp
        data = TrainData(cfg.dataset, protocol, cfg.data_dir, cfg.splits_dir, device, cfg.seed, hp["channels_last"],
                         (d.rank, d.world))
        config = {**cfg.record(), "arch": str(arch), "device": device, "threads": threads,
                  "overrides": protocol.hp, "kind": "evaluation", "space": protocol.space, "world_size": d.world}
        name = cfg.name or f"eval-{protocol.name}-{cfg.dataset}-seed{cfg.seed}-{lifecycle.name_stamp()}"
        if d.main:
            env = environment(device)
            if bench is not None:
                env["benchmark"] = {"path": str(cfg.bench), "version": bench.version}
            store = RunStore.create(out, name, config, env, unique=cfg.name is None)
            name = store.path.name
            if progress:
                print_busy_note(threads)
        name = broadcast(name, d)  # the name rank 0 got
        if not d.main:
            store = open_run(out / name)
        with store.writing():
            return _train(store, protocol, arch, cfg, device, data, bench, progress and d.main, stop_after, d,
                          tensorboard=tensorboard)


def resume_training(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None,
                    data_dir: str | None = None, splits_dir: str | None = None, bench: str | None = None,
                    threads: int | None = None, tensorboard: str | os.PathLike | None = None) -> RunStore:
    """Continue an evaluation from its last finished epoch; refused while another process writes it.

    ``data_dir``, ``splits_dir`` and ``bench`` replace paths that moved (written to the config);
    ``threads`` replaces the recorded thread count. Inputs are checked before the run is touched."""
    moved = {"data_dir": data_dir, "splits_dir": splits_dir, "bench": bench, "threads": threads}
    store, config, changed = lifecycle.reopen(run_dir, "evaluation", moved, writer=is_main_process())
    try:
        fields = EvalConfig.known_fields()
        cfg = EvalConfig(**{**{k: v for k, v in config.items() if k in fields},
                            "device": "cuda" if config["device"].startswith("cuda") else "cpu"})
        protocol, arch, bench_store, device, n_threads = _inputs(cfg)
        numerics.apply()
        d, device = init_distributed(device)
        with using_threads(n_threads):
            data = TrainData(cfg.dataset, protocol, cfg.data_dir, cfg.splits_dir, device, cfg.seed,
                             protocol.hp["channels_last"], (d.rank, d.world))
            if d.main:
                lifecycle.record_moved(store, config, changed, n_threads)
                note_resumed_numerics(store.path, device)
            if progress and d.main:
                print_busy_note(n_threads)
            with store.writing():
                return _train(store, protocol, arch, cfg, device, data, bench_store, progress and d.main, stop_after,
                              d, resumed=True, tensorboard=tensorboard)
    finally:
        store.release()


def _train(store: RunStore, protocol: Protocol, arch: Any, cfg: EvalConfig, device: str, data: TrainData, bench: Any,
           progress: bool, stop_after: int | None, d: Dist = Dist(), resumed: bool = False,
           tensorboard: str | os.PathLike | None = None) -> RunStore:
    """Train (every rank), evaluate and write the run (rank 0); resumes from the run's checkpoint."""
    from tqdm.auto import tqdm

    hp = protocol.hp
    trainer = Trainer(protocol, arch, data, device, cfg.seed, d)
    start, elapsed, rows = 0, 0.0, []
    ckpt = store.load_checkpoint()
    if ckpt is not None:
        trainer.load_state(ckpt)
        start, elapsed = ckpt["epoch"] + 1, ckpt["elapsed"]
        rows = [r for r in store.metrics.to_dict("records") if r["epoch"] < start]
    if d.main:
        if resumed:
            store.start(wall_time_s=elapsed, resumed_from_epoch=start)
        store.progress(start, hp["epochs"])
    steps = data.train_steps()
    bar = tqdm(total=hp["epochs"] * steps if steps else None, initial=start * (steps or 0),
               desc=f"train {protocol.name} {cfg.dataset}", unit="step", disable=not progress or None, leave=False)
    events = open_stream(tensorboard, store.path) if d.main else None
    try:
        for epoch in range(start, hp["epochs"]):
            if lifecycle.stop_requested(store, epoch, stop_after, d.main):
                return store
            t0 = time.time()
            row: dict[str, Any] = {"epoch": epoch, **trainer.train_epoch(epoch, lambda: bar.update(1))}
            if not math.isfinite(row["train-loss"]):
                lifecycle.fail_non_finite(store, rows, f"non-finite training loss in epoch {epoch}", main=d.main,
                                          epoch=epoch)
            if d.main and ((epoch + 1) % hp["eval_every"] == 0 or epoch + 1 == hp["epochs"]):
                row.update(trainer.evaluate())
            row.update(lifecycle.epoch_cost(store, device, t0, steps * hp["batch_size"] * d.world if steps else None))
            rows.append(row)
            state = trainer.state()  # a collective: every rank's drop-path / cutout stream
            if d.main:
                lifecycle.record_epoch(store, rows, epoch, hp["epochs"],
                                       {**state, "epoch": epoch, "elapsed": row["wall_time_s"]}, events)
            barrier(d)
            bar.set_postfix_str(f"epoch {epoch} loss {row['train-loss']:.3f}")
    finally:
        bar.close()
        if events is not None:
            events.close()
    if not d.main:
        return store
    final_metrics = {k: v for k, v in rows[-1].items() if k.endswith(("loss", "accuracy"))}
    elapsed = store.wall_time()
    return lifecycle.finish(store, {
        "arch": str(arch), "protocol": protocol.name, "dataset": cfg.dataset, "epochs": hp["epochs"],
        "metrics": final_metrics, "cost": cost_summary(elapsed, device, trainer.params, trainer.flops, d.world),
        "benchmark": _recorded(bench, cfg, protocol, arch)})


def _recorded(bench: Any, cfg: EvalConfig, protocol: Protocol, arch: Any) -> dict[str, float] | None:
    """The benchmark's recorded numbers for the same arch, dataset and epochs, to set beside ours."""
    if bench is None:
        return None
    epochs = PROTOCOLS[protocol.name].hp["epochs"]  # the published schedule, even for a shortened run
    if cfg.dataset not in bench.datasets() or epochs not in bench.epochs_settings(cfg.dataset):
        return None
    try:
        return {k: v for k, v in bench.record(arch, cfg.dataset, epochs).items() if k.endswith(("loss", "accuracy"))}
    except KeyError:
        return None
