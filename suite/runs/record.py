"""What produced a run and what it cost: the environment and cost records, the same for searches and evaluations."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

from suite import numerics
from suite.device import peak_memory_mb
from suite.processes import this_host


def environment(device: str) -> dict[str, Any]:
    """What produced a run: versions, device, the numerics fingerprint (``suite.numerics``) and the git commit."""
    import numpy
    import pandas
    import torch

    import suite

    info: dict[str, Any] = {"dnas_suite": suite.__version__, "python": platform.python_version(),
                            "torch": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
                            "platform": platform.platform(), "host": this_host(), "device": device,
                            "cpu_threads": torch.get_num_threads(), "numerics": numerics.fingerprint(device)}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    try:
        root = Path(suite.__file__).resolve().parents[1]
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                            timeout=10).stdout.strip() or None
        info["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                                                text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def cost_summary(seconds: float, device: str, params: float | None, flops: float | None,
                 world: int = 1) -> dict[str, Any]:
    """Wall time, device, GPU model/count and GPU-days, peak memory, params (M) and FLOPs (M).

    The same record for searches and evaluations, so reports can add search and evaluation cost."""
    import torch

    gpus = world if device.startswith("cuda") else 0
    return {"wall_time_s": seconds, "device": device,
            "gpu": torch.cuda.get_device_name(torch.device(device)) if gpus else None, "gpu_count": gpus,
            "gpu_days": gpus * seconds / 86400 if gpus else None,
            "cpu_hours": None if gpus else world * seconds / 3600, "processes": world,
            "peak_memory_mb": peak_memory_mb(device), "params_m": params, "flops_m": flops}


def note_resumed_numerics(path: Path, device: str) -> None:
    """Add this process's numerics fingerprint to the run's environment record when it differs from the
    one the run started with: its later epochs are then no exact replay of a run made in one place."""
    import json

    from suite.io import write_json

    file = path / "environment.json"
    env = json.loads(file.read_text())
    now = numerics.fingerprint(device)
    if env.get("numerics") not in (None, now) and now not in env.get("numerics_on_resume", []):
        write_json(file, {**env, "numerics_on_resume": [*env.get("numerics_on_resume", []), now]})
