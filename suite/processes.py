"""Which process writes: this host and process, and whether a recorded writer still runs (Linux /proc
tells a reused PID apart by the process's start time)."""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any


def this_host() -> str:
    return socket.gethostname()



def host_tag() -> str:
    """This host's name as a file-name-safe tag."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", this_host())



def proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/PID/stat`` (state first), or None where there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None



def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), so that a reused PID is told apart."""
    fields = proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None



def pid_alive(pid: Any, start: str | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (and, given ``start``, is the same process)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    except (OverflowError, OSError):
        return False
    fields = proc_stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):  # killed, not yet reaped
            return False
        if start is not None and len(fields) > 19 and fields[19] != start:
            return False
    return True



def owner() -> dict[str, Any]:
    """This process as the owner of a write: pid, host and start time."""
    return {"pid": os.getpid(), "host": this_host(), "proc_start": process_start(os.getpid())}

