"""What a sweep shows: a live table (running with its epoch, held elsewhere, failed with the reason)
over one progress bar on a terminal, one line per change otherwise, and the status table."""
from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

from .schedule import RunState

ORDER = ("running", "starting", "creating", "held", "failed", "interrupted", "lost", "dead", "stale", "queued", "waiting", "completed",
         "skipped")
DONE = ("completed", "failed", "skipped")


def counts(states: dict[str, RunState]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rs in states.values():
        out[rs.state] = out.get(rs.state, 0) + 1
    return {k: out[k] for k in sorted(out, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))}


def summary(states: dict[str, RunState]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts(states).items())


def _epoch(rs: RunState) -> str:
    return f"epoch {min(rs.epochs_done, rs.spec.epochs)}/{rs.spec.epochs}"


def _where(rs: RunState) -> str:
    return f"pid {rs.pid} on {rs.host}" if rs.pid is not None else ""


def row(rs: RunState) -> str:
    """One run as a line: state, id, epoch, and where it runs or why it failed."""
    note = rs.reason if rs.state not in ("running",) else _where(rs)
    if rs.state == "held":
        note = f"run by another process ({rs.reason or _where(rs)})"
    return f"  {rs.state:<11} {rs.spec.id:<52} {_epoch(rs):<14} {note or ''}".rstrip()


def status_table(states: dict[str, RunState]) -> str:
    """Every run, in sweep order (``dnas sweep status``)."""
    lines = [row(rs) for rs in states.values()]
    return "\n".join([*lines, f"{len(states)} runs: {summary(states)}"])


class Live:
    """The sweep's display; call it with the states whenever they may have changed."""

    def __init__(self, title: str, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.title, self.total = title, total
        self.t0 = time.monotonic()
        self.drawn = 0
        self.last_draw = 0.0
        self.seen: dict[str, str] = {}

    def __call__(self, states: dict[str, RunState], force: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            if force or time.monotonic() - self.last_draw >= 0.5:
                self._draw(states)
            return
        for rs in states.values():
            if self.seen.get(rs.spec.id) != rs.state:
                if rs.spec.id in self.seen or rs.state not in ("queued", "waiting", "completed"):
                    self._line(rs, states)
                self.seen[rs.spec.id] = rs.state

    def _line(self, rs: RunState, states: dict[str, RunState]) -> None:
        done = sum(s.state in DONE for s in states.values())
        took = f" in {rs.seconds:.1f} s" if rs.seconds is not None and rs.state in DONE else ""
        why = f": {rs.reason}" if rs.reason and rs.state not in ("running", "completed") else ""
        print(f"[{done:>{len(str(self.total))}}/{self.total}] {rs.state:<11} {rs.spec.id}{took}{why}",
              file=self.stream, flush=True)

    def _draw(self, states: dict[str, RunState]) -> None:
        from tqdm import tqdm

        width, height = shutil.get_terminal_size((120, 40))
        shown = [rs for rs in states.values() if rs.state not in ("queued", "waiting", "completed", "skipped")]
        shown.sort(key=lambda rs: ORDER.index(rs.state) if rs.state in ORDER else len(ORDER))
        room = max(1, height - 4)
        lines = [self.title, *[row(rs) for rs in shown[:room]]]
        if len(shown) > room:
            lines.append(f"  ... and {len(shown) - room} more")
        lines.append(f"  {summary(states)}")
        done = sum(rs.state in DONE for rs in states.values())
        lines.append(tqdm.format_meter(done, self.total, time.monotonic() - self.t0, ncols=width - 1, unit="run",
                                       prefix="runs"))
        text = "".join(line[: width - 1] + "\n" for line in lines)
        up = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        self.stream.write(up + text)
        self.stream.flush()
        self.drawn, self.last_draw = len(lines), time.monotonic()

    def close(self, states: dict[str, RunState]) -> None:
        if self.enabled:
            self(states, force=True)


def as_json(states: dict[str, RunState]) -> list[dict[str, Any]]:
    return [rs.to_json() for rs in states.values()]
