"""A small file system that fills up: a tmpfs of a few hundred KB mounted for one test, to see commands
meet ENOSPC. Mounting needs root (CI runs as root); elsewhere the test skips with the reason, and in CI
a refused mount fails."""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def small_disk(path: Path, size_kb: int = 512) -> Iterator[Path]:
    """``path`` (created) as a tmpfs of ``size_kb`` KB for the body; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True, text=True) if shutil.which("mount") else None
    if done is None or done.returncode != 0:
        why = done.stderr.strip() if done is not None else "no mount command"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs at {path} in CI ({why}): CI runs as root")
        pytest.skip(f"mounting a small tmpfs needs root ({why})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path, leave_kb: int = 0) -> None:
    """Fill the file system of ``path`` until at most ``leave_kb`` KB are free."""
    block = b"\0" * 4096
    with open(path / ".filler", "wb") as fh:
        try:
            while shutil.disk_usage(path).free > leave_kb * 1024:
                fh.write(block)
                fh.flush()
        except OSError:
            pass
