"""Peak memory of this process on its device: the number every run's cost record carries."""
from __future__ import annotations

import resource


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
