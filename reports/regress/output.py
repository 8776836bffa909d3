"""Verdicts for people (a text table) and for CI servers (JUnit XML)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from .verdicts import NEUTRAL, UNCHECKED, Verdict


def render(verdicts: Sequence[Verdict], *, details: bool = True) -> str:
    """The verdict table, one line per group and mode (groups with no runs in one line per mode), then
    the full detail of what failed or is not comparable."""
    shown = [v for v in verdicts if v.status != "not run"]
    lines = []
    if shown:
        width = max(len(v.group.label()) for v in shown)
        lines.append(f"  {'MODE':<9} {'GROUP':<{width}}  {'VERDICT':<18} SUMMARY")
        for v in shown:
            summary = v.summary if len(v.summary) <= 160 else v.summary[:157] + "..."
            verdict = v.status.upper() if v.failed else v.status
            lines.append(f"  {v.mode:<9} {v.group.label():<{width}}  {verdict:<18} {summary}")
    for mode in dict.fromkeys(v.mode for v in verdicts):
        idle = [v.group.method for v in verdicts if v.mode == mode and v.status == "not run"]
        if idle:
            lines.append(f"  {mode:<9} not run ({len(idle)} group(s) of the baseline without runs): {', '.join(idle)}")
    if details:
        for v in verdicts:
            shown_details = v.details if v.failed or v.status in ("not comparable", *UNCHECKED) else \
                [d for d in v.details if d.startswith("diagnostics")]  # run flags, whatever the verdict
            if shown_details:
                lines.append(f"\n{v.mode} {v.group.label()}: {v.status}")
                lines += [f"  {d}" for d in shown_details]
    return "\n".join(lines) + "\n" if lines else "no verdicts\n"


def write_junit(verdicts: Sequence[Verdict], path: str | os.PathLike, *, name: str = "dnas regress",
                properties: Mapping[str, str] | None = None, require_replay: bool = False) -> Path:
    """JUnit XML (the Jenkins/Ant schema that CI servers read): one testsuite per mode, one testcase per
    group; a failing verdict is a ``failure`` ("insufficient seeds": an ``error``, the test could not be
    made), a neutral one ``skipped``, "not replayable" ``skipped`` (a ``failure`` with ``require_replay``)."""
    import datetime as _dt
    import socket
    import xml.etree.ElementTree as ET

    from suite.io import atomic_path

    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    stamp = _dt.datetime.now().replace(microsecond=0).isoformat()
    for mode in dict.fromkeys(v.mode for v in verdicts):
        cases = [v for v in verdicts if v.mode == mode]
        failing = [v for v in cases if v.failed or (require_replay and v.status in UNCHECKED)]
        failures = sum(v.status != "insufficient seeds" for v in failing)
        errors = sum(v.status == "insufficient seeds" for v in failing)
        skipped = sum(v.status in (*NEUTRAL, *UNCHECKED) and v not in failing for v in cases)
        suite = ET.SubElement(root, "testsuite", name=f"{name}: {mode}", tests=str(len(cases)),
                              failures=str(failures), errors=str(errors), skipped=str(skipped), time="0",
                              timestamp=stamp, hostname=socket.gethostname())
        if properties:
            props = ET.SubElement(suite, "properties")
            for k, v in properties.items():
                ET.SubElement(props, "property", name=str(k), value=str(v))
        for v in cases:
            case = ET.SubElement(suite, "testcase", classname=f"dnas.regress.{mode}", name=v.group.label(), time="0")
            text = "\n".join([v.summary, *v.details])
            if v.status == "insufficient seeds":
                ET.SubElement(case, "error", type=v.status, message=v.summary).text = text
            elif v in failing:
                ET.SubElement(case, "failure", type=v.status, message=v.summary).text = text
            elif v.status in (*NEUTRAL, *UNCHECKED):
                ET.SubElement(case, "skipped", message=f"{v.status}: {v.summary}")
            else:
                ET.SubElement(case, "system-out").text = text
        totals["tests"] += len(cases)
        totals["failures"] += failures
        totals["errors"] += errors
    for k, v in totals.items():
        root.set(k, str(v))
    out = Path(path)
    with atomic_path(out) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return out
