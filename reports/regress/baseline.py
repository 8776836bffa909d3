"""The baseline file: JSON lines to commit (``save_baseline``), read back as a ``Snapshot``."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from suite.errors import DnasError, FormatError, MissingFileError

from .snapshot import Group, Settings, Snapshot

FORMAT = 1
"""Version of the baseline file layout; another version is refused with a one-line error."""


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)


def save_baseline(snap: Snapshot, path: str | os.PathLike, settings: Settings | None = None) -> Path:
    """Write ``snap`` as a baseline file (atomically); every run must be complete."""
    from suite.io import atomic_path

    bad = [f"{g.label()} seed {s}: {r.get('flag') or r.get('status')}" for (g, s), r in snap.runs.items()
           if r.get("status") != "completed"]
    if bad:
        raise DnasError(f"{len(bad)} run(s) are not complete ({bad[0]}{'; ...' if len(bad) > 1 else ''}): a baseline "
                        f"holds finished runs only; finish (dnas search --resume) or leave them out")
    settings = settings or snap.settings
    lines = [_line({"record": "baseline", "format": FORMAT, "settings": settings.to_json(),
                    "about": "dnas-suite regression baseline: compare runs with 'dnas regress RUNS --baseline FILE'"})]
    for group in snap.groups():
        seeds = snap.seeds(group)
        setups = sorted({snap.runs[(group, s)]["setup"] for s in seeds})
        lines += [_line({"record": "setup", "id": k, **snap.setups[k]}) for k in setups]
        for s in seeds:
            r = {k: v for k, v in snap.runs[(group, s)].items() if k not in ("path", "status", "flag")}
            lines.append(_line({"record": "run", **r}))
            lines += [_line({"record": "epoch", "group": group.to_json(), "seed": s, **e})
                      for e in snap.epochs[(group, s)]]
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return out


def read_baseline(path: str | os.PathLike) -> Snapshot:
    """Read a baseline file written by ``save_baseline``."""
    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"baseline {file} does not exist: write one with 'dnas baseline save RUNS --out {file}'")
    try:
        lines = file.read_text().splitlines()
    except UnicodeDecodeError:
        raise FormatError(f"{file} is not a text file: write baselines with 'dnas baseline save'") from None
    snap = Snapshot(source=str(file))
    header = False
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
            kind = rec["record"]
            if kind == "baseline":
                if rec.get("format") != FORMAT:
                    raise FormatError(f"{file} is a baseline of format {rec.get('format')}; this dnas-suite reads "
                                      f"format {FORMAT}: save it again with 'dnas baseline save'")
                snap.settings = Settings.from_json(rec.get("settings") or {})
                header = True
            elif kind == "setup":
                snap.setups[rec["id"]] = {k: rec[k] for k in ("group", "config", "environment")}
            elif kind == "run":
                key = (Group(**rec["group"]), int(rec["seed"]))
                snap.runs[key] = {**rec, "status": "completed"}
                snap.epochs.setdefault(key, [])
            elif kind == "epoch":
                key = (Group(**rec["group"]), int(rec["seed"]))
                snap.epochs.setdefault(key, []).append({k: rec[k] for k in ("epoch", "arch", "values")})
            else:
                raise KeyError("record")
        except FormatError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{file} line {n} is not a baseline record ({type(exc).__name__}: {exc}); write "
                              f"baselines with 'dnas baseline save'") from None
        if n == 1 and not header:
            raise FormatError(f"{file} does not start with a baseline header: write baselines with "
                              f"'dnas baseline save'")
    if not header:
        raise FormatError(f"{file} is empty: write baselines with 'dnas baseline save'")
    for key in snap.epochs:
        snap.epochs[key].sort(key=lambda e: e["epoch"])
    return snap
