"""Training-based evaluation: train an architecture from scratch under a named protocol.

``TrainingBenchmark(protocol).evaluate(arch, dataset, ...)`` shares the ``Benchmark``
interface with the tabular lookups and writes a run store like a search does (config,
environment, per-epoch Parquet metrics, checkpoints, final metrics and cost), so a run can be
resumed after any finished epoch and the reports read searches and evaluations alike.
Cost: wall time, device, GPU model and count, GPU-days (GPU-seconds / 86,400), peak memory,
params and FLOPs of the evaluated network.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.checks import (check_path, check_run_config, choose_threads, print_busy_note, resolve_device, using_threads,
                          writable_dir)
from suite.errors import DnasError, NonFiniteLoss
from suite.runner import _name_stamp, _peak_memory_mb
from suite.runstore import RunStore, cost_summary, environment, open_run, resumable
from suite.spaces.cost import count_flops, count_params

from . import metrics as M
from .base import Benchmark, Evaluation
from .protocols import Protocol, get_protocol


# ---- building blocks --------------------------------------------------------------------------

def build_network(protocol: Protocol, arch: Any, num_classes: int, in_channels: int) -> nn.Module:
    """The stand-alone network of ``arch`` for ``protocol`` (NB201 network or DARTS evaluation network)."""
    hp = protocol.hp
    if protocol.space == "nb201":
        from suite.spaces.nb201_net import NB201Network

        return NB201Network(hp["channels"], hp["depth"], num_classes, arch=arch, in_channels=in_channels)
    from suite.spaces.darts_eval import DartsEvalNetwork

    return DartsEvalNetwork(arch, hp["channels"], hp["depth"], num_classes, auxiliary=hp["auxiliary"] > 0,
                            imagenet=protocol.name == "darts-imagenet", in_channels=in_channels)


def learning_rate(hp: dict[str, Any], epoch: float) -> float:
    """The protocol's learning rate at (fractional) ``epoch``."""
    if hp["schedule"] == "exp":
        return hp["lr"] * hp["lr_gamma"] ** math.floor(epoch)
    e = epoch if hp["schedule"] == "cosine-step" else math.floor(epoch)
    return hp["lr_min"] + (hp["lr"] - hp["lr_min"]) * (1 + math.cos(math.pi * e / hp["epochs"])) / 2


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one random ``size`` x ``size`` square per image (its centre may lie near the border)."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy[:, None, None]).abs() * 2 < size) & ((xs - cx[:, None, None]).abs() * 2 < size)
    return x * (~inside)[:, None].to(x.dtype)


class _Data:
    """Train batches and named evaluation sets for a dataset, on the device."""

    def __init__(self, dataset: str, protocol: Protocol, data_dir: Any, protocol_dir: Any, device: str, seed: int,
                 channels_last: bool, shard: tuple[int, int] = (0, 1)) -> None:
        from suite.data import DeviceLoader, ImageFolderDataset, train_test

        self.imagenet = dataset == "imagenet"
        bs = protocol.hp["batch_size"]
        if self.imagenet:
            if data_dir is None:
                raise DnasError("imagenet needs --data-dir: a folder with train/ and val/ class folders")
            self.folder = ImageFolderDataset(data_dir)
            self.num_classes, self.in_channels = self.folder.num_classes, 3
            self.shape = (3, protocol.hp["image_size"], protocol.hp["image_size"])
            self.evals = {"val": None}
            self.seed, self.bs, self.device, self.cl, self.shard = seed, bs, device, channels_last, shard
            return
        tt = train_test(dataset, data_dir, protocol_dir)
        self.num_classes, self.in_channels = tt.train.num_classes, tt.train.images.shape[1]
        self.shape = tuple(tt.train.images.shape[1:])
        self.train = DeviceLoader(tt.train, min(bs, len(tt.train)), device, augment=True, seed=seed,
                                  channels_last=channels_last, shard=shard)
        sets = tt.evals or {"ori-test": tt.test}
        self.evals = {name: DeviceLoader(ds, min(bs, len(ds)), device, augment=False, seed=seed, drop_last=False,
                                         shuffle=False, channels_last=channels_last) for name, ds in sets.items()}

    def train_batches(self, epoch: int):
        if self.imagenet:
            from suite.data import normalize

            for x, y in self.folder.batches("train", self.bs, seed=self.seed, epoch=epoch, size=self.shape[1],
                                            shard=self.shard):
                x = normalize(x.to(self.device), self.folder.mean, self.folder.std)
                yield (x.contiguous(memory_format=torch.channels_last) if self.cl else x), y.to(self.device)
            return
        self.train.set_epoch(epoch)
        yield from self.train

    def train_steps(self) -> int | None:
        return None if self.imagenet else len(self.train)

    def eval_batches(self, name: str):
        if self.imagenet:
            from suite.data import normalize

            for x, y in self.folder.batches("val", self.bs, size=self.shape[1]):
                yield normalize(x.to(self.device), self.folder.mean, self.folder.std), y.to(self.device)
            return
        loader = self.evals[name]
        loader.set_epoch(0)
        yield from loader


def _logits(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return out if isinstance(out, tuple) else (out, None)


# ---- distributed (torchrun) -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Dist:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[Dist, str]:
    """Join the process group ``torchrun`` describes (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(), device
    import torch.distributed as dist

    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size()), device


def _broadcast(obj: Any, d: Dist) -> Any:
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _all_gather(obj: Any, d: Dist) -> list[Any]:
    """``obj`` from every rank, in rank order."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def _all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


# ---- the run ----------------------------------------------------------------------------------

@dataclasses.dataclass
class EvalConfig:
    """Everything that defines an evaluation run; field types and ranges are checked on construction."""

    arch: str
    protocol: str
    dataset: str
    data_dir: str | None = None
    protocol_dir: str | None = None
    bench: str | None = None
    seed: int = 0
    device: str = "auto"
    out: str = "runs"
    name: str | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    threads: int | None = None
    from_run: str | None = None
    """The search run the architecture came from (``--from-run``), so reports can link the two."""

    def __post_init__(self) -> None:
        check_run_config(self, ("arch", "protocol", "dataset", "device"), "overrides", "{epochs: 1, lr: 0.05}")
        self.from_run = check_path("from_run", self.from_run)


def _parse_arch(protocol: Protocol, arch: str) -> Any:
    if protocol.space == "nb201":
        from suite.spaces.nb201 import Arch

        return Arch.parse(arch)
    from suite.spaces.darts import Genotype

    return Genotype.parse(arch)


def _open_bench(cfg: EvalConfig, protocol: Protocol) -> Any:
    """The tabular store whose recorded numbers go beside the trained ones (checked before training)."""
    from .builtin import resolve_bench

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
    return protocol, _parse_arch(protocol, cfg.arch), _open_bench(cfg, protocol), resolve_device(cfg.device), \
        choose_threads(cfg.threads)


def run_training(cfg: EvalConfig, *, progress: bool = True, stop_after: int | None = None) -> RunStore:
    """Train ``cfg.arch`` from scratch under ``cfg.protocol``; returns the finished run store.

    Every input (protocol, arch, benchmark, device, output place, data and split files) is checked
    before the run directory exists; after that, any failure marks the run failed with the reason."""
    if not isinstance(cfg, EvalConfig):
        raise TypeError(f"run_training takes an EvalConfig, got {type(cfg).__name__}")
    protocol, arch, bench, device, threads = _inputs(cfg)
    from .builtin import NO_BENCH, resolve_bench

    cfg = dataclasses.replace(cfg, bench=resolve_bench(cfg.bench, protocol.space) or NO_BENCH)  # the config says which
    out = writable_dir(cfg.out)
    d, device = init_distributed(device)
    with using_threads(threads):
        hp = protocol.hp
        data = _Data(cfg.dataset, protocol, cfg.data_dir, cfg.protocol_dir, device, cfg.seed, hp["channels_last"],
                     (d.rank, d.world))
        config = {**dataclasses.asdict(cfg), "arch": str(arch), "device": device, "threads": threads,
                  "overrides": protocol.hp, "kind": "evaluation", "space": protocol.space, "world_size": d.world}
        name = cfg.name or f"eval-{protocol.name}-{cfg.dataset}-seed{cfg.seed}-{_name_stamp()}"
        if d.main:
            env = environment(device)
            if bench is not None:
                env["benchmark"] = {"path": str(cfg.bench), "version": bench.version}
            store = RunStore.create(out, name, config, env, unique=cfg.name is None)
            name = store.path.name
            if progress:
                print_busy_note(threads)
        name = _broadcast(name, d)  # the name rank 0 got
        if not d.main:
            store = open_run(out / name)
        with store.writing():
            return _train(store, protocol, arch, cfg, device, data, bench, progress and d.main, stop_after, d)


def resume_training(run_dir: str | os.PathLike, *, progress: bool = True, stop_after: int | None = None,
                    data_dir: str | None = None, protocol_dir: str | None = None, bench: str | None = None,
                    threads: int | None = None) -> RunStore:
    """Continue an evaluation from its last finished epoch; refused while another process writes it.

    ``data_dir``, ``protocol_dir`` and ``bench`` replace paths that moved (written to the config);
    ``threads`` replaces the recorded thread count. Inputs are checked before the run is touched."""
    main = os.environ.get("RANK", "0") == "0"
    store = resumable(run_dir) if main else open_run(run_dir)
    try:
        config = store.config
        if config.get("kind") != "evaluation":
            raise DnasError(f"{store.path} is a search run: resume it with 'dnas search --resume'")
        changed = {k: v for k, v in (("data_dir", data_dir), ("protocol_dir", protocol_dir), ("bench", bench),
                                     ("threads", threads)) if v is not None}
        config = {**config, **changed}
        fields = {f.name for f in dataclasses.fields(EvalConfig)}
        cfg = EvalConfig(**{**{k: v for k, v in config.items() if k in fields},
                            "device": "cuda" if config["device"].startswith("cuda") else "cpu"})
        protocol, arch, bench_store, device, n_threads = _inputs(cfg)
        d, device = init_distributed(device)
        with using_threads(n_threads):
            data = _Data(cfg.dataset, protocol, cfg.data_dir, cfg.protocol_dir, device, cfg.seed,
                         protocol.hp["channels_last"], (d.rank, d.world))
            if d.main and (changed or config.get("threads") != n_threads):
                store.write_config({**config, "threads": n_threads})
            if progress and d.main:
                print_busy_note(n_threads)
            with store.writing():
                return _train(store, protocol, arch, cfg, device, data, bench_store, progress and d.main, stop_after,
                              d, resumed=True)
    finally:
        store.release()


def _barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def _train(store: RunStore, protocol: Protocol, arch: Any, cfg: EvalConfig, device: str, data: _Data, bench: Any,
           progress: bool, stop_after: int | None, d: Dist = Dist(), resumed: bool = False) -> RunStore:
    """Train (every rank), evaluate and write the store (rank 0); resumes from the store's checkpoint."""
    from tqdm.auto import tqdm

    hp = protocol.hp
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_network(protocol, arch, data.num_classes, data.in_channels)
    params, flops = count_params(model), count_flops(model, data.shape)
    model = model.to(device)
    if hp["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(cfg.seed + 7 + 1000 * d.rank)  # drop-path and cutout, per rank
    if hasattr(model, "generator"):
        model.generator = gen
    opt = torch.optim.SGD(model.parameters(), hp["lr"], momentum=hp["momentum"],
                          nesterov=hp["nesterov"] and hp["momentum"] > 0, weight_decay=hp["weight_decay"])
    start, elapsed, rows = 0, 0.0, []
    ckpt = store.load_checkpoint()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        states = ckpt["generator"]  # one state per rank (a single state from runs before DDP support)
        gen.set_state(states[d.rank] if isinstance(states, list) else states)
        start, elapsed = ckpt["epoch"] + 1, ckpt["elapsed"]
        rows = [r for r in store.metrics.to_dict("records") if r["epoch"] < start]
    if d.main:
        if resumed:
            store.start(wall_time_s=elapsed, resumed_from_epoch=start)
        store.progress(start, hp["epochs"])
    forward: nn.Module = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(model, device_ids=[torch.device(device).index] if device.startswith("cuda")
                                          else None)
    forward = torch.compile(forward) if hp["compile"] else forward
    amp = torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                         enabled=hp["amp"])
    steps = data.train_steps()
    bar = tqdm(total=hp["epochs"] * steps if steps else None, initial=start * (steps or 0),
               desc=f"train {protocol.name} {cfg.dataset}", unit="step", disable=not progress or None, leave=False)
    try:
        for epoch in range(start, hp["epochs"]):
            if stop_after is not None and epoch >= stop_after:
                if d.main:
                    store.set_status("interrupted", after_epoch=epoch - 1)
                return store
            t0 = time.time()
            if hasattr(model, "drop_path_prob"):
                model.drop_path_prob = hp["drop_path"] * epoch / hp["epochs"]
            model.train()
            loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
            for i, (x, y) in enumerate(data.train_batches(epoch)):
                for g in opt.param_groups:
                    g["lr"] = learning_rate(hp, epoch + (i / steps if steps else 0.0))
                if hp["cutout"]:
                    x = cutout(x, hp["cutout"], gen)
                with amp:
                    logits, aux = _logits(forward(x))
                    loss = F.cross_entropy(logits, y, label_smoothing=hp["label_smoothing"])
                    if aux is not None:
                        loss = loss + hp["auxiliary"] * F.cross_entropy(aux, y, label_smoothing=hp["label_smoothing"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if hp["grad_clip"]:
                    nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
                opt.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(-1) == y).sum()
                seen += len(y)
                bar.update(1)
            totals = _all_sum(torch.stack([loss_sum, correct.to(loss_sum.dtype),
                                           torch.tensor(float(seen), device=device)]), d)
            loss_sum, correct, seen = totals[0], totals[1], float(totals[2])
            if not torch.isfinite(loss_sum):
                if d.main:
                    store.write_metrics(rows)
                    store.set_status("failed", reason=f"non-finite training loss in epoch {epoch}", epoch=epoch)
                raise NonFiniteLoss(f"run {store.path} stopped: non-finite training loss in epoch {epoch}")
            row: dict[str, Any] = {"epoch": epoch, "train-loss": float(loss_sum) / seen,
                                   "train-accuracy": 100.0 * float(correct) / seen, "lr": opt.param_groups[0]["lr"]}
            if d.main and ((epoch + 1) % hp["eval_every"] == 0 or epoch + 1 == hp["epochs"]):
                row.update(_evaluate(model, data, amp))
            elapsed = store.wall_time()  # every session's time, killed ones included (rank 0)
            row.update({"epoch_time_s": time.time() - t0, "wall_time_s": elapsed, "device": device,
                        "peak_memory_mb": _peak_memory_mb(device)})
            rows.append(row)
            gen_states = _all_gather(gen.get_state(), d)  # every rank's drop-path / cutout stream
            if d.main:
                store.write_metrics(rows)
                store.progress(epoch + 1, hp["epochs"])  # before the checkpoint: status.json never counts less
                store.save_checkpoint({"model": model.state_dict(), "opt": opt.state_dict(),
                                       "generator": gen_states, "epoch": epoch, "elapsed": elapsed})
            _barrier(d)
            bar.set_postfix_str(f"epoch {epoch} loss {row['train-loss']:.3f}")
    finally:
        bar.close()
    if not d.main:
        return store
    final_metrics = {k: v for k, v in rows[-1].items() if k.endswith(("loss", "accuracy"))}
    elapsed = store.wall_time()
    store.write_final({"arch": str(arch), "protocol": protocol.name, "dataset": cfg.dataset, "epochs": hp["epochs"],
                       "metrics": final_metrics, "cost": cost_summary(elapsed, device, params, flops, d.world),
                       "benchmark": _recorded(bench, cfg, protocol, arch)})
    store.set_status("completed")
    return store


@torch.no_grad()
def _evaluate(model: nn.Module, data: _Data, amp: Any) -> dict[str, float]:
    """Loss and accuracy on every evaluation set, under the set's official name and its split name."""
    model.eval()
    out: dict[str, float] = {}
    for name in data.evals:
        loss, correct, n = 0.0, 0, 0
        for x, y in data.eval_batches(name):
            with amp:
                logits, _ = _logits(model(x))
            loss += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
            n += len(y)
        out[f"{name}-loss"], out[f"{name}-accuracy"] = loss / n, 100.0 * correct / n
    return out


def _recorded(bench: Any, cfg: EvalConfig, protocol: Protocol, arch: Any) -> dict[str, float] | None:
    """The benchmark's recorded numbers for the same arch, dataset and epochs, to set beside ours."""
    if bench is None:
        return None
    from .protocols import PROTOCOLS

    epochs = PROTOCOLS[protocol.name].hp["epochs"]  # the published schedule, even for a shortened run
    if cfg.dataset not in bench.datasets() or epochs not in bench.epochs_settings(cfg.dataset):
        return None
    try:
        return {k: v for k, v in bench.record(arch, cfg.dataset, epochs).items() if k.endswith(("loss", "accuracy"))}
    except KeyError:
        return None


class TrainingBenchmark(Benchmark):
    """Evaluate by training from scratch; results and cost go to a run store under ``out``."""

    kind = "training"

    def __init__(self, protocol: str, *, data_dir: str | None = None, protocol_dir: str | None = None,
                 device: str = "auto", out: str = "runs", overrides: dict[str, Any] | None = None,
                 progress: bool = True) -> None:
        self.protocol = get_protocol(protocol, overrides)
        self.kw = {"data_dir": data_dir, "protocol_dir": protocol_dir, "device": device, "out": out,
                   "overrides": dict(overrides or {})}
        self.progress = progress

    def datasets(self, epochs: int | None = None) -> list[str]:
        return list(self.protocol.datasets)

    def evaluate(self, arch: Any, dataset: str, *, epochs: int | None = None, seed: Any = 0) -> Evaluation:
        overrides = {**self.kw["overrides"], **({"epochs": epochs} if epochs is not None else {})}
        cfg = EvalConfig(str(arch), self.protocol.name, dataset, seed=seed, **{**self.kw, "overrides": overrides})
        store = run_training(cfg, progress=self.progress)
        final = store.final or {}
        metrics = dict(final.get("metrics", {}))
        for split, set_name in M.SPLIT_SETS.get(dataset, {}).items():  # also the official split names
            for field in ("loss", "accuracy"):
                if f"{set_name}-{field}" in metrics and split != "train":
                    metrics[f"{split}-{field}"] = metrics[f"{set_name}-{field}"]
        return Evaluation(arch=final.get("arch", str(arch)), dataset=dataset, metrics=metrics,
                          cost=final.get("cost", {}), source=f"trained ({self.protocol.name}) in {store.path}")
