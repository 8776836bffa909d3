"""The baseline file: JSON lines to commit (``save_baseline``), read back as a ``Snapshot``."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from suite.checks import existing_file
from suite.errors import DnasError, FormatError, InvalidInput, WrongType

from .snapshot import Group, Settings, Snapshot, available_scores

FORMAT = 2
"""Version of the baseline file layout (2: the header counts the records after it; 1 is still read)."""
READ = (1, 2)


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)


def _is_baseline(file: Path) -> bool:
    """Whether ``file`` starts with a baseline header (a file this command wrote before)."""
    try:
        with open(file, encoding="utf-8") as fh:
            return json.loads(fh.readline()).get("record") == "baseline"
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def save_baseline(snap: Snapshot, path: str | os.PathLike, settings: Settings | None = None, *,
                  force: bool = False) -> Path:
    """Write ``snap`` as a baseline file (atomically); every run must be complete. An existing file that is
    not a baseline is never replaced unless ``force``."""
    from suite.io import atomic_path

    target = Path(path)
    if target.is_dir():
        raise DnasError(f"{target} is a directory: name the baseline file to write, e.g. {target}/baseline.jsonl")
    if target.exists() and not force and not _is_baseline(target):
        raise DnasError(f"{target} exists and is not a baseline: choose another --out, or pass --force to replace "
                        f"it")

    bad = [f"{g.label()} seed {s}: {r.get('flag') or r.get('status')}" for (g, s), r in snap.runs.items()
           if r.get("status") != "completed"]
    if bad:
        raise DnasError(f"{len(bad)} run(s) are not complete ({bad[0]}{'; ...' if len(bad) > 1 else ''}): a baseline "
                        f"holds finished runs only; finish (dnas search --resume) or leave them out")
    settings = settings or snap.settings
    settings.check_metrics(snap.metrics() | available_scores(snap.metrics()), "the runs")
    lines = []
    for group in snap.groups():
        seeds = snap.seeds(group)
        setups = sorted({snap.runs[(group, s)]["setup"] for s in seeds})
        lines += [_line({"record": "setup", "id": k, **snap.setups[k]}) for k in setups]
        for s in seeds:
            r = {k: v for k, v in snap.runs[(group, s)].items() if k not in ("path", "status", "flag", "diagnostics", "bench")}
            lines.append(_line({"record": "run", **r}))
            lines += [_line({"record": "epoch", "group": group.to_json(), "seed": s, **e})
                      for e in snap.epochs[(group, s)]]
    header = _line({"record": "baseline", "format": FORMAT, "records": len(lines), "settings": settings.to_json(),
                    "about": "dnas-suite regression baseline: compare runs with 'dnas regress RUNS --baseline FILE'"})
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join([header, *lines]) + "\n")
    return out


def read_baseline(path: str | os.PathLike) -> Snapshot:
    """Read a baseline file written by ``save_baseline``; anything cut, edited out of shape or of the wrong
    type is a one-line error naming the line."""
    file = existing_file(path, "baseline", "name the baseline file ('dnas baseline save RUNS --out FILE' writes one)",
                         f"write one with 'dnas baseline save RUNS --out {path}'")
    try:
        lines = file.read_text().splitlines()
    except UnicodeDecodeError:
        raise FormatError(f"{file} is not a text file: write baselines with 'dnas baseline save'") from None
    fix = "write baselines with 'dnas baseline save' (and do not edit them)"
    snap = Snapshot(source=str(file))
    declared: int | None = None
    count = 0
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
            if not isinstance(rec, dict):
                raise WrongType("not a JSON object")
            kind = rec["record"]
            if n == 1 and kind != "baseline":
                raise FormatError(f"{file} does not start with a baseline header: {fix}")
            if kind == "baseline":
                if n != 1:
                    raise InvalidInput("a second header")
                if rec.get("format") not in READ:
                    raise FormatError(f"{file} is a baseline of format {rec.get('format')}; this dnas-suite reads "
                                      f"formats {', '.join(map(str, READ))}: save it again with 'dnas baseline save'")
                snap.settings = Settings.from_json(_typed(rec.get("settings") or {}, dict, "settings"))
                if rec["format"] >= 2:
                    declared = _typed(rec["records"], int, "records")
                continue
            count += 1
            if kind == "setup":
                snap.setups[_typed(rec["id"], str, "id")] = {
                    "group": _group(rec).to_json(), "config": _typed(rec["config"], dict, "config"),
                    "environment": _typed(rec["environment"], dict, "environment")}
            elif kind == "run":
                key = (_group(rec), _typed(rec["seed"], int, "seed"))
                if key in snap.runs:
                    raise InvalidInput(f"a second run record of seed {key[1]}")
                _typed(rec["setup"], str, "setup")
                _typed(rec["epochs_done"], int, "epochs_done")
                for field in ("final", "cost"):
                    _numbers(rec.get(field, {}), field)
                snap.runs[key] = {**rec, "status": "completed"}
            elif kind == "epoch":
                key = (_group(rec), _typed(rec["seed"], int, "seed"))
                arch = rec["arch"]
                if arch is not None and not isinstance(arch, str):
                    raise WrongType(f"arch must be a string, got {arch!r}")
                snap.epochs.setdefault(key, []).append({"epoch": _typed(rec["epoch"], int, "epoch"), "arch": arch,
                                                        "values": _numbers(rec["values"], "values")})
            else:
                raise InvalidInput(f"unknown record {kind!r}")
        except DnasError as exc:
            if str(file) in str(exc):
                raise
            raise FormatError(f"{file} line {n}: {exc}; {fix}") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise FormatError(f"{file} line {n} is not a baseline record ({what}); {fix}") from None
    if not lines or not any(t.strip() for t in lines):
        raise FormatError(f"{file} is empty: {fix}")
    if declared is not None and declared != count:
        raise FormatError(f"{file} holds {count} records after its header, which says {declared}: the file was cut "
                          f"or edited; {fix}")
    _check_complete(snap, file, fix)
    return snap


def _typed(value: Any, kind: type, name: str) -> Any:
    """``value`` when it is a ``kind`` (a bool is no int), else a TypeError naming the field."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WrongType(f"{name} must be {'an' if kind is int else 'a'} {kind.__name__}, got {value!r}")
    return value


def _group(rec: Mapping[str, Any]) -> Group:
    g = _typed(rec["group"], dict, "group")
    if set(g) != set(Group._fields):
        raise InvalidInput(f"group must have the fields {', '.join(Group._fields)}")
    return Group(*(_typed(g[f], int if f == "epochs" else str, f"group {f}") for f in Group._fields))


def _numbers(values: Any, name: str) -> dict[str, float]:
    for k, v in _typed(values, dict, name).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise WrongType(f"{name} {k} must be a number, got {v!r}")
    return values


def _check_complete(snap: Snapshot, file: Path, fix: str) -> None:
    """Every run's setup is there and it has exactly the epochs 0..epochs_done-1; no epoch without its run."""
    for key, records in snap.epochs.items():
        records.sort(key=lambda e: e["epoch"])
        if key not in snap.runs:
            raise FormatError(f"{file}: epoch records of {key[0].label()} seed {key[1]} have no run record; {fix}")
    for (group, seed), run in snap.runs.items():
        where = f"{file}: {group.label()} seed {seed}"
        if run["setup"] not in snap.setups:
            raise FormatError(f"{where} names setup {run['setup']!r}, which the file does not hold; {fix}")
        epochs = [e["epoch"] for e in snap.epochs.setdefault((group, seed), [])]
        if epochs != list(range(run["epochs_done"])):
            raise FormatError(f"{where} has epoch records {_span(epochs)}, its run record says {run['epochs_done']} "
                              f"epochs: the file was cut or edited; {fix}")


def _span(epochs: list[int]) -> str:
    return "none" if not epochs else f"{epochs[0]}..{epochs[-1]} ({len(epochs)})"
