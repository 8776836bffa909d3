"""``torchrun`` helpers: this process's rank, and the few collectives a training run needs."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch


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


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` job, or a process without one (before the group is joined)."""
    return os.environ.get("RANK", "0") == "0"


def broadcast(obj: Any, d: Dist) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather(obj: Any, d: Dist) -> list[Any]:
    """``obj`` from every rank, in rank order."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """``t`` summed over ranks, in place."""
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


def barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def wrap_ddp(model: torch.nn.Module, device: str, d: Dist) -> torch.nn.Module:
    """``model`` under DistributedDataParallel in a multi-process job, else itself."""
    if d.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[torch.device(device).index] if device.startswith("cuda")
                                   else None)
