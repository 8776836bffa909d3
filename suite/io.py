"""Atomic file and directory writes, and the owner of each write: readers never see half-written
output, and what a killed writer left behind is recognised and cleaned up by the next one."""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from suite.processes import host_tag, pid_alive

if TYPE_CHECKING:
    import numpy as np


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
"""Errors of a full disk (or an exhausted quota): trying the same write again fails the same way."""


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed because the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def naming(exc: OSError, path: str | os.PathLike, *hidden: str | os.PathLike) -> OSError:
    """``exc`` as an OSError that names ``path``: many writes fail without a file name (a full disk
    raises ENOSPC from ``write``/``close``, pyarrow raises it without one) or name a temp file the user
    never asked for (``hidden``), and the one-line error must say which file could not be written."""
    if exc.filename is not None and str(exc.filename) not in {str(h) for h in hidden}:
        return exc
    text = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    named = OSError(exc.errno, text, str(path))  # the errno's subclass (FileNotFoundError, ...)
    named.__cause__ = exc
    return named


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``, else delete it.

    A failing write (a full disk above all) raises an OSError that names ``path``, never the temp
    file, and leaves nothing behind; an existing directory at ``path`` is refused before anything
    is written."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise naming(exc, path, exc.filename or "") from exc.__cause__
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        named = naming(exc, path, tmp_path)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz atomically (no pickled objects allowed)."""
    import numpy as np  # here, so that importing this module (every CLI command does) stays light

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def clean_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete ``atomic_path`` temp files (``.NAME.XXXX.tmp``) a killed writer left in ``directory``.

    Only for a directory whose single writer is the caller (a run holding its lock)."""
    directory = Path(directory)
    found = sorted(p for p in directory.glob(".*.tmp") if p.is_file()) if directory.is_dir() else []
    for p in found:
        p.unlink(missing_ok=True)
    return found


def work_sibling(final: Path, kind: str) -> Path:
    """A hidden working name beside ``final`` that names its owner: ``.NAME.KIND-PID@HOST``."""
    return Path(final).with_name(f".{Path(final).name}.{kind}-{os.getpid()}@{host_tag()}")


def clean_siblings(final: str | os.PathLike) -> list[Path]:
    """Clean up beside ``final`` after killed writers of this host: their ``.NAME.tmp-*`` work directories
    go, and a ``.NAME.old-*`` copy goes too, or is put back at ``final`` when a replacement was cut short.

    Work of live processes, and of other hosts (whose processes this host cannot see), is left alone."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(tmp|old)-(\d+)(?:@(.+))?")
    cleaned = []
    for p in sorted(final.parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if not m or (m.group(3) is not None and m.group(3) != host_tag()):
            continue
        pid = int(m.group(2))
        if pid != os.getpid() and pid_alive(pid):
            continue
        if m.group(1) == "old" and not os.path.lexists(final):
            os.replace(p, final)
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        cleaned.append(p)
    return cleaned


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written directory onto ``final_dir``, replacing an old one last."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        trash = work_sibling(final_dir, "old")
        os.replace(final_dir, trash)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)


def read_yaml(path: str | os.PathLike, what: str, *, unique_keys: bool = False) -> Any:
    """A YAML file's content (``what`` names it in errors: "config", "sweep spec"); a missing file,
    bad YAML or a binary file is a one-line error with the line number. ``unique_keys`` refuses a key
    given twice in one mapping (plain YAML keeps the last silently, so half of what was meant is lost)."""
    import yaml

    from suite.errors import FormatError, MissingFileError

    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"{what} file {file} does not exist")
    try:
        return yaml.load(file.read_text(), Loader=_unique_key_loader()) if unique_keys else yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FormatError(f"{what} {file} is not valid YAML: {problem}{where}") from None
    except UnicodeDecodeError:
        raise FormatError(f"{what} {file} is not a text file") from None


@functools.lru_cache(maxsize=None)
def _unique_key_loader() -> Any:
    """A SafeLoader class refusing repeated keys (made on first use: importing yaml is not free)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """A safe loader that refuses a mapping key given twice (with the line of the second one)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' may be overridden on purpose
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    repeated = False
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice in one mapping (give it once)", key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
