"""Find benchmarks on disk (``$TORCH_HOME``, else ``~/.torch``, like the official API) and say what is missing."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from suite.spaces import SPACES

from . import nats
from .layout import FORMAT, METADATA


def torch_home() -> Path:
    """NATS-Bench's default directory: ``$TORCH_HOME``, else ``~/.torch``."""
    return Path(os.environ["TORCH_HOME"]).expanduser() if os.environ.get("TORCH_HOME") else Path.home() / ".torch"


def _store_summary(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((path / METADATA).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    groups = meta.get("groups", [])
    return {"kind": "dnas-store", "path": str(path), "space": meta.get("space"),
            "version": meta.get("benchmark_version"), "format_version": meta.get("format_version"),
            "datasets": sorted({g["dataset"] for g in groups}), "epochs": sorted({g["epochs"] for g in groups})}


def scan(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What benchmarks ``root`` holds (official files and dnas stores, one level deep) and what is missing."""
    root = Path(root).expanduser() if root else torch_home()
    found: list[dict[str, Any]] = []
    if root.is_dir():
        for entry in sorted([root, *[p for p in root.iterdir() if p.is_dir() or p.is_file()]]):
            if entry.is_dir() and (entry / METADATA).is_file():
                summary = _store_summary(entry)
                if summary:
                    found.append(summary)
            for space in SPACES.values():
                if entry.name == f"{space.official_prefix}-simple" and entry.is_dir():
                    n = len(nats.OfficialSource(entry, space, "fast-dir").record_files())
                    has_meta = (entry / f"meta.{nats.PICKLE_EXT}").is_file()
                    found.append({"kind": "nats-fast-dir", "path": str(entry), "space": space.name,
                                  "records": n, "of": space.num_archs, "meta": has_meta})
                elif entry.name == f"{space.official_prefix}.{nats.PICKLE_EXT}" and entry.is_file():
                    found.append({"kind": "nats-archive", "path": str(entry), "space": space.name,
                                  "size_mb": round(entry.stat().st_size / 2**20, 1)})
    missing = []
    for space in SPACES.values():
        if not any(f["space"] == space.name and f["kind"].startswith("nats") for f in found):
            missing.append({"space": space.name, "files": [f"{space.official_prefix}-simple/",
                                                          f"{space.official_prefix}.{nats.PICKLE_EXT}"],
                            "how": nats.download_hint(space)
                            + f"; then run: dnas bench convert --nats {root}/{space.official_prefix}-simple "
                              f"--space {space.name} --out {root}/dnas-{space.name}"})
    return {"root": str(root), "exists": root.is_dir(), "found": found, "missing": missing, "builtin": builtin()}


def builtin() -> list[dict[str, Any]]:
    """The tables shipped with the package: name, space, version, what they hold."""
    from .builtin import BUILTIN, builtin_path

    out = []
    for name in BUILTIN:
        summary = _store_summary(builtin_path(name))
        if summary:
            meta = json.loads((builtin_path(name) / METADATA).read_text())
            summary.update(kind="builtin", name=name, holds=meta.get("source", {}).get("holds"),
                           columns=[f"{g['dataset']}@{g['epochs']}/{m}" for g in meta["groups"] for m in g["metrics"]])
            out.append(summary)
    return out
