"""The device and CPU threads a run uses (chosen and checked), and its peak memory (the number every run's
cost record carries)."""
from __future__ import annotations

import contextlib
import os
import re
import resource
import sys
from typing import Any, Iterator

from suite.checks import check_int, check_str
from suite.errors import DnasError, InvalidInput


def reset_peak_memory(device: str) -> None:
    """Count peak memory afresh from here: a worker process may run several runs one after another.

    CUDA: the allocator's peak; CPU (Linux): the process's resident-set high-water mark (VmHWM)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux, or not allowed: the peak stays the process's
        pass


def peak_memory_mb(device: str) -> float:
    """Peak memory since ``reset_peak_memory`` (else since the process started), in MB."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resolve_device(device: Any) -> str:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked here."""
    import torch

    check_str("device", device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", device)
    if not m or (m.group(1) != "cuda" and m.group(2) is not None):
        raise InvalidInput(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    if m.group(1) == "cuda":
        if not torch.cuda.is_available():
            raise DnasError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        if m.group(2) is not None and int(m.group(2)) >= torch.cuda.device_count():
            raise InvalidInput(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                               f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if m.group(1) == "mps" and not torch.backends.mps.is_available():
        raise DnasError("device 'mps' requested but MPS is not available here; use --device cpu")
    return device



def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a scheduler's allocation)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1



def choose_threads(threads: Any = None) -> int:
    """Intra-op threads for a run: ``threads`` when given, else PyTorch's setting (``OMP_NUM_THREADS`` or
    the physical cores) capped by the cores this process may use, shared among ``torchrun``'s local ranks.

    Deterministic on purpose: CPU results depend on the thread count, so it never follows the load.
    """
    if threads is not None:
        return check_int("threads", threads, low=1)
    import torch

    local = os.environ.get("LOCAL_WORLD_SIZE", "1")
    share = usable_cores() // (int(local) if local.isdigit() and int(local) > 0 else 1)
    return max(1, min(torch.get_num_threads(), share))



def busy_note(threads: int) -> str | None:
    """A one-line note when other processes already keep the cores busy and ``threads`` > 1."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cores = usable_cores()
    if threads > 1 and load >= cores:
        return (f"this machine is busy (load {load:.1f} on {cores} cores): {threads} threads per run can be several "
                f"times slower than --threads 1 when runs share the cores")
    return None



def print_busy_note(threads: int) -> None:
    """Print ``busy_note`` on stderr; runs call it once their inputs passed the checks, so an error stays one line."""
    if text := busy_note(threads):
        print(f"dnas: note: {text}", file=sys.stderr)



@contextlib.contextmanager
def using_threads(threads: int) -> Iterator[int]:
    """Run the body with ``threads`` intra-op threads, restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)

