"""The one check of runs against a baseline, behind ``dnas regress``, the pytest plugin and the Python API.

Bad input is an error (``DnasError``), never a verdict: an unknown mode or metric, a malformed
baseline, runs of no baseline group, or nothing compared at all.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from suite.errors import DnasError

from .baseline import read_baseline
from .output import render
from .snapshot import Settings, Snapshot, add_scores, available_scores, collect, score_of
from .verdicts import NEUTRAL, UNCHECKED, Verdict, compare_changed, compare_published, compare_worse

MODES = ("changed", "worse", "both")


@dataclasses.dataclass
class Outcome:
    """The verdicts of one check and what they add up to (``exit_code``: 0 pass, 1 regression)."""

    verdicts: list[Verdict]
    source: str
    settings: Settings
    runs: Snapshot
    require_replay: bool = False

    @property
    def failed(self) -> list[Verdict]:
        """Failing verdicts; "not replayable" too when exact replay was required."""
        return [v for v in self.verdicts if v.failed or (self.require_replay and v.status in UNCHECKED)]

    @property
    def unreplayable(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in UNCHECKED]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def text(self) -> str:
        """The verdict table and the closing lines a person reads."""
        lines = [f"{self.source}; runs: {len(self.runs.runs)} in {len(self.runs.groups())} group(s)",
                 render(self.verdicts).rstrip("\n")]
        if self.unreplayable:
            lines.append(f"exact replay NOT checked for {len(self.unreplayable)} group(s): "
                         f"{self.unreplayable[0].summary.split(': ', 1)[1]}"
                         + ("" if self.require_replay else " (--require-replay makes this a failure)"))
        n = len(self.failed)
        lines.append(f"{n} of {len(self.verdicts)} verdict(s) failed" if n else
                     f"no regression ({len(self.verdicts)} verdict(s))")
        return "\n".join(lines) + "\n"


def regress(runs: str | os.PathLike | Sequence[str | os.PathLike], baseline: str | os.PathLike, *,
            mode: str = "both", settings: Settings | None = None, overrides: Mapping[str, Any] | None = None,
            require_replay: bool = False, protocol_epochs: Mapping[tuple[str, str], int] | None = None) -> Outcome:
    """Check run directories against a baseline file (or ``"published"`` / a reference CSV).

    ``mode``: changed (exact replay), worse (statistics and cost) or both. ``settings`` replaces the
    baseline's verdict settings, ``overrides`` changes some of them (minimum effects are added). ``require_replay``: a replay that
    is not possible on this machine fails. ``protocol_epochs``: (method, space) -> published search
    epochs, for published baselines."""
    if mode not in MODES:
        raise DnasError(f"unknown mode {mode!r}: choose changed, worse or both")
    paths = [runs] if isinstance(runs, (str, os.PathLike)) else list(runs)
    published = str(baseline) == "published" or str(baseline).endswith(".csv")
    if published and mode == "changed":
        raise DnasError(f"published numbers have no per-epoch trajectories: use mode worse with baseline {baseline}")
    if published and str(baseline) != "published" and not Path(baseline).is_file():
        raise DnasError(f"reference table {baseline} does not exist (the reviewed ones are in reports/references/)")
    base = None if published else read_baseline(baseline)
    cur = collect(*paths)
    s = settings or (base.settings if base else Settings())
    changes = dict(overrides or {})
    if "min_effect" in changes:  # added to the baseline's
        changes["min_effect"] = {**s.min_effect, **changes["min_effect"]}
    s = dataclasses.replace(s, **changes)
    held = cur.metrics() | (base.metrics() if base else set())
    s.check_metrics(held | available_scores(held), "the runs" + ("" if base is None else " and the baseline"))
    if any(score_of(m) for m in s.metrics):
        bench = _bench_of(cur)
        for snap in (cur, base):
            if snap is not None:
                add_scores(snap, s.metrics, bench)
    if base is None:
        from ..tables import load_references

        verdicts = compare_published(cur, load_references(None if str(baseline) == "published" else baseline), s,
                                     protocol_epochs=protocol_epochs)
        source = "published references" if str(baseline) == "published" else str(baseline)
    else:
        verdicts = compare_changed(base, cur, s) if mode in ("changed", "both") else []
        verdicts += compare_worse(base, cur, s) if mode in ("worse", "both") else []
        source = f"baseline {baseline} ({len(base.runs)} runs in {len(base.groups())} groups)"
        lone = sorted({v.group.label() for v in verdicts if v.status == "no baseline"})
        if lone:
            raise DnasError(f"runs of no baseline group: {'; '.join(lone)} (the baseline holds "
                            f"{'; '.join(g.label() for g in base.groups())}): name runs of the baseline's groups, "
                            f"or save a baseline of these runs")
    if not any(v.status not in (*NEUTRAL, *UNCHECKED) for v in verdicts):
        statuses = " or ".join(sorted({v.status for v in verdicts})) or "absent"
        why = ("a published number is a test of a search on its dataset with its published protocol (e.g. DARTS-V1: "
               "CIFAR-10, 50 epochs, on a GPU)") if published else (
            "compare in mode worse, or save the baseline on this machine" if any(v.status in UNCHECKED for v in verdicts)
            else "name runs of the baseline's groups")
        raise DnasError(f"nothing to compare: every group is {statuses}; {why}")
    return Outcome(verdicts, source, s, cur, require_replay)


def _bench_of(snap: Snapshot) -> Any:
    """The tabular benchmark the runs looked their architectures up in (normalised scores need its table)."""
    import benchmarks

    names = {r.get("bench") for r in snap.runs.values()} - {None, "none"}
    if len(names) != 1:
        raise DnasError(f"normalised scores need the runs' benchmark table; the runs name "
                        f"{', '.join(sorted(map(str, names))) or 'none'}: compare runs looked up in one benchmark")
    return benchmarks.open(names.pop())
