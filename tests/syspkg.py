"""System packages some tests need (Chromium, a LaTeX engine): found on PATH, or in CI (``CI=true``)
installed with ``apt-get`` (as root, or through ``sudo -n``) before the first test that needs them, so
those tests never skip there; elsewhere they skip with the install command."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Sequence

import pytest


def find(names: Sequence[str]) -> str | None:
    """Path of the first of ``names`` on PATH, else None."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def install(packages: Sequence[str], names: Sequence[str]) -> str | None:
    """``apt-get install PACKAGES`` (as root, or through sudo); then the binary's path, or None."""
    apt = shutil.which("apt-get")
    if apt is None:
        return None
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *packages]):
        subprocess.run(prefix + cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=900, check=False)
    return find(names)


def require(packages: Sequence[str], names: Sequence[str], what: str) -> str:
    """The binary a test needs: found, installed in CI, or the test skips (elsewhere) / fails (in CI)."""
    binary = find(names)
    in_ci = os.environ.get("CI", "").lower() == "true"
    if binary is None and in_ci:
        binary = install(packages, names)
    command = f"apt-get install -y {' '.join(packages)}"
    if binary is None:
        if in_ci:
            pytest.fail(f"{what} is missing in CI and '{command}' did not provide it")
        pytest.skip(f"no {what} on PATH: install it with '{command}' (Debian/Ubuntu)")
    return binary
