"""Pickled dataset batches, read with an unpickler that resolves only the numpy globals they hold,
so a tampered file is a :class:`FormatError`, never code execution."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from suite.errors import FormatError


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals a dataset batch holds."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which no dataset batch holds")
        return super().find_class(module, name)


def load_pickle(path: Path, layout: str) -> dict:
    """Read one dataset pickle (Python 2 or 3); any damage is a one-line FormatError naming it."""
    try:
        with open(path, "rb") as fh:
            obj = _BatchUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, ImportError, UnicodeDecodeError, MemoryError) as exc:
        msg = " ".join(str(exc).split())
        raise FormatError(f"{path} is not a readable {layout} pickle ({type(exc).__name__}: {msg}); "
                          f"re-download or re-extract it") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{path} holds a {type(obj).__name__}, not the dict of a {layout} batch; re-download it")
    return obj
