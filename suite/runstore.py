"""The run store: one directory per run, which everything downstream reads.

    config.yaml        the resolved configuration (method hyperparameters included)
    environment.json   package versions, device, git commit, host
    metrics.parquet    one row per finished epoch, rewritten atomically: readable mid-run
    status.json        running / completed / failed (with the reason) / interrupted
    final.json         the final derived architecture and totals, when completed
    checkpoints/last.pt  everything needed to resume after the last finished epoch
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from suite.errors import DnasError, FormatError, MissingFileError
from suite.io import atomic_path, write_json

CHECKPOINT = "checkpoints/last.pt"


def environment(device: str) -> dict[str, Any]:
    """What produced a run: versions, device and the code's git commit."""
    import numpy
    import torch

    import suite

    info: dict[str, Any] = {"dnas_suite": suite.__version__, "python": platform.python_version(),
                            "torch": torch.__version__, "numpy": numpy.__version__, "pandas": pd.__version__,
                            "platform": platform.platform(), "host": socket.gethostname(), "device": device,
                            "cpu_threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    try:
        root = Path(__file__).resolve().parents[1]
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

    from suite.runner import _peak_memory_mb

    gpus = world if device.startswith("cuda") else 0
    return {"wall_time_s": seconds, "device": device,
            "gpu": torch.cuda.get_device_name(torch.device(device)) if gpus else None, "gpu_count": gpus,
            "gpu_days": gpus * seconds / 86400 if gpus else None,
            "cpu_hours": None if gpus else world * seconds / 3600, "processes": world,
            "peak_memory_mb": _peak_memory_mb(device), "params_m": params, "flops_m": flops}


class RunStore:
    """Read and write one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ---- writing ----------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike, name: str, config: dict[str, Any], env: dict[str, Any]) -> "RunStore":
        path = Path(root) / name
        if path.exists():
            raise DnasError(f"run directory {path} exists: resume it with --resume {path}, or pick another --name")
        path.mkdir(parents=True)
        store = cls(path)
        with atomic_path(path / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        write_json(path / "environment.json", env)
        store.set_status("running")
        return store

    def set_status(self, status: str, **extra: Any) -> None:
        write_json(self.path / "status.json",
                   {"status": status, "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(), **extra})

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        with atomic_path(self.path / "metrics.parquet") as tmp:
            pd.DataFrame(rows).to_parquet(tmp, index=False)

    def write_final(self, final: dict[str, Any]) -> None:
        write_json(self.path / "final.json", final)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        import torch

        (self.path / "checkpoints").mkdir(exist_ok=True)
        with atomic_path(self.path / CHECKPOINT) as tmp:
            torch.save(state, tmp)

    # ---- reading ----------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        file = self.path / "config.yaml"
        if not file.is_file():
            raise MissingFileError(f"{self.path} is not a run directory (no config.yaml)")
        try:
            return yaml.safe_load(file.read_text())
        except yaml.YAMLError as exc:
            raise FormatError(f"corrupt run config {file}: {str(exc).splitlines()[0]}") from None

    @property
    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "status.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {"status": "unknown"}

    @property
    def environment(self) -> dict[str, Any]:
        return json.loads((self.path / "environment.json").read_text())

    @property
    def metrics(self) -> pd.DataFrame:
        """Per-epoch metrics so far (an empty frame before the first epoch ends)."""
        file = self.path / "metrics.parquet"
        return pd.read_parquet(file) if file.is_file() else pd.DataFrame()

    @property
    def final(self) -> dict[str, Any] | None:
        file = self.path / "final.json"
        return json.loads(file.read_text()) if file.is_file() else None

    def load_checkpoint(self) -> dict[str, Any] | None:
        import torch

        file = self.path / CHECKPOINT
        if not file.is_file():
            return None
        try:
            return torch.load(file, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises many types for a damaged file
            raise FormatError(f"corrupt checkpoint {file}: {str(exc).splitlines()[0]}; delete it to restart "
                              f"the run from scratch") from None


def open_run(path: str | os.PathLike) -> RunStore:
    """Open a run directory for reading (``.config``, ``.metrics``, ``.status``, ``.final``)."""
    store = RunStore(path)
    store.config  # validates
    return store
