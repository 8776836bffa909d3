"""Checks of input at the public boundary, each failing with one line that names the value and the fix.

Wrong types raise ``TypeError``, values out of range ``ValueError``, unusable places on disk
``DnasError``. Runs call these before their directory exists, so bad input leaves nothing behind.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Mapping

from suite.errors import DnasError, InvalidInput, WrongType


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; bools and floats (even 12.0) are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise WrongType(f"{name} must be an int, {_got(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        bounds = f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}]"
        raise InvalidInput(f"{name} must be {bounds}, got {v}")
    return v


def check_real(name: str, value: Any, *, low: float | None = None) -> float:
    """``value`` as a finite float (ints accepted) that is at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongType(f"{name} must be a number, {_got(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInput(f"{name} must be a finite number, got {v}")
    if low is not None and v < low:
        raise InvalidInput(f"{name} must be >= {low}, got {v}")
    return v


def check_str(name: str, value: Any, choices: tuple[str, ...] | None = None) -> str:
    """A non-empty string (one of ``choices`` when given)."""
    if not isinstance(value, str):
        raise WrongType(f"{name} must be a string, {_got(value)}")
    if not value:
        raise InvalidInput(f"{name} must not be empty")
    if choices is not None and value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_path(name: str, value: Any, *, optional: bool = True) -> str | None:
    """A path given as str or ``os.PathLike``, returned as str (None allowed when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise WrongType(f"{name} must be a path (str), {_got(value)}")
    return os.fspath(value)


def check_mapping(name: str, value: Any, example: str) -> dict[str, Any]:
    """A mapping with string keys, e.g. ``hparams`` in a config."""
    if not isinstance(value, Mapping):
        raise WrongType(f"{name} must be a mapping of names to values (e.g. {example}), {_got(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise WrongType(f"{name} keys must be strings, got {bad[0]!r}")
    return dict(value)


def check_name(name: Any) -> str | None:
    """A run name: one path component (no separators, not '.' or '..')."""
    if name is None:
        return None
    check_str("name", name)
    if "/" in name or os.sep in name or name in (".", "..") or "\0" in name:
        raise InvalidInput(f"run name {name!r} must be a single directory name; put the parent in --out")
    return name


def check_seed(seed: Any) -> int:
    """A run seed: an int in [0, 2**31)."""
    return check_int("seed", seed, low=0, high=2**31 - 1)


def check_tokens(values: tuple[Any, ...], allowed: Any, count: int, what: str, item: str, unknown: str) -> None:
    """``count`` values, each in ``allowed``: "an NB201 arch has 6 edge ops, got 5: (...)" or "unknown NB201 op
    'x'; allowed values: [...]" otherwise."""
    if len(values) != count:
        raise InvalidInput(f"{what} has {count} {item}, got {len(values)}: {values!r}")
    for v in values:
        if v not in allowed:
            raise InvalidInput(f"{unknown} {v!r}; allowed values: {list(allowed)}")


def existing_file(path: str | os.PathLike, what: str, if_dir: str, if_missing: str) -> Path:
    """``path`` as a file that exists; a directory or a missing file is one line ending in the fix given."""
    from suite.errors import MissingFileError

    file = Path(path)
    if file.is_dir():
        raise DnasError(f"{what} {file} is a directory: {if_dir}")
    if not file.exists():
        raise MissingFileError(f"{what} {file} does not exist: {if_missing}")
    return file


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def writable_dir(path: Any, what: str = "--out") -> Path:
    """``path`` as a directory that exists, or can be created, and can be written; one line if not."""
    p = Path(check_path(what, path, optional=False)).expanduser()  # type: ignore[arg-type]
    probe = p
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        where = f"{p} is" if probe == p else f"{p}: {probe} is"
        raise DnasError(f"{what} {where} a file, not a directory; choose another {what}")
    if _read_only(probe):
        raise DnasError(f"{what} {p}: {probe} is on a read-only file system; choose another {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DnasError(f"{what} {p}: {probe} is not writable by you; choose another {what}")
    return p
