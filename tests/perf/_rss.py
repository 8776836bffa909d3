"""Peak resident memory of a piece of work, measured in a fresh process (a process keeps its peak)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_rss_mb(work: str, threads: int) -> float:
    """VmHWM in MB of a fresh interpreter that runs ``work`` (Python source) with ``threads`` torch threads."""
    code = (f"import torch\ntorch.set_num_threads({threads})\n{textwrap.dedent(work)}\n"
            'hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]\n'
            "print(int(hwm) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=3600,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])
