"""Reader for NATS-Bench's own files, through the ``nats_bench`` package.

Two official layouts exist: the fast-mode directory (``NATS-tss-v1_0-3ffb9-simple/`` with
``meta.pickle.pbz2`` and one ``NNNNNN.pickle.pbz2`` per architecture) and the single full
archive (``NATS-tss-v1_0-3ffb9.pickle.pbz2``). Both are bz2-compressed pickles; this module
is the only place in the suite that unpickles them, and only to convert them once.
"""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from suite.errors import FormatError, MissingFileError
from suite.spaces import TabularSpace, get_tabular_space

PICKLE_EXT = "pickle.pbz2"
NATS_README = "https://github.com/D-X-Y/NATS-Bench#preparation-and-download"
_RECORD_RE = re.compile(r"^(\d+)\.pickle\.pbz2$")


def download_hint(space: TabularSpace) -> str:
    """Where to get the official files of a space, in one sentence."""
    return (f"download {space.official_prefix}-simple.tar (fast mode) or {space.official_prefix}.{PICKLE_EXT} "
            f"from the links in {NATS_README} and extract it into $TORCH_HOME (default ~/.torch)")


def load_pbz2(path: str | os.PathLike) -> Any:
    """Unpickle an official .pickle.pbz2 file; any damage becomes a one-line FormatError."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"missing NATS-Bench file {path}")
    try:
        from nats_bench.api_utils import pickle_load  # the official loader

        return pickle_load(str(path))
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError,
            IndexError, KeyError, TypeError, MemoryError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormatError(f"corrupt or truncated NATS-Bench file {path}: {reason}; "
                          f"download it again") from None


@dataclass(frozen=True)
class OfficialSource:
    """A located official benchmark: its layout, space and files."""

    path: Path
    space: TabularSpace
    layout: str  # "fast-dir" or "single-file"

    @property
    def meta_path(self) -> Path:
        return self.path / f"meta.{PICKLE_EXT}" if self.layout == "fast-dir" else self.path

    def record_files(self) -> dict[int, Path]:
        """index -> record file, for the fast-mode layout."""
        out: dict[int, Path] = {}
        for name in os.listdir(self.path):
            m = _RECORD_RE.match(name)
            if m:
                out[int(m.group(1))] = self.path / name
        return dict(sorted(out.items()))


def _space_of_name(name: str) -> str | None:
    if name.startswith("NATS-tss"):
        return "tss"
    if name.startswith("NATS-sss"):
        return "sss"
    return None


def locate(path: str | os.PathLike, space: str) -> OfficialSource:
    """Check that ``path`` is an official file/dir of ``space``; say exactly what is wrong if not."""
    sp = get_tabular_space(space)
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingFileError(f"no NATS-Bench data at {path}: {download_hint(sp)}")
    named = _space_of_name(path.name)
    if named is not None and named != sp.name:
        raise FormatError(f"{path} is a NATS-Bench '{named}' file but --space {sp.name} was given; "
                          f"pass --space {named}")
    if path.is_dir():
        meta = path / f"meta.{PICKLE_EXT}"
        if not meta.is_file():
            raise MissingFileError(f"missing meta file {meta}: the fast-mode directory is incomplete; "
                                   f"{download_hint(sp)}")
        return OfficialSource(path, sp, "fast-dir")
    if not path.name.endswith(PICKLE_EXT):
        raise FormatError(f"{path} is neither a NATS-Bench fast-mode directory nor a .{PICKLE_EXT} archive")
    return OfficialSource(path, sp, "single-file")


def check_meta_archs(archs: Any, source: Path, space: TabularSpace) -> list[str]:
    """Validate the architecture list of a meta file against the expected space."""
    if not isinstance(archs, list) or not archs:
        raise FormatError(f"{source} has no 'meta_archs' list: not a NATS-Bench meta file")
    if len(archs) != space.num_archs:
        other = "sss" if space.name == "tss" else "tss"
        hint = f" (it looks like the '{other}' space: pass --space {other})" \
            if len(archs) == get_tabular_space(other).num_archs else ""
        raise FormatError(f"{source} lists {len(archs)} architectures, the '{space.name}' space has "
                          f"{space.num_archs}{hint}")
    try:
        for text in (archs[0], archs[-1]):
            space.parse(text)
    except ValueError as exc:
        raise FormatError(f"{source} does not hold '{space.name}' architectures ({exc})") from None
    return list(archs)


def read_meta(src: OfficialSource) -> list[str]:
    """The architecture strings in official index order."""
    data = load_pbz2(src.meta_path)
    if not isinstance(data, dict) or "meta_archs" not in data:
        raise FormatError(f"{src.meta_path} has no 'meta_archs': not a NATS-Bench file")
    return check_meta_archs(data["meta_archs"], src.meta_path, src.space)


# ---- flattening one record ---------------------------------------------------------------

def _series(values: Any, keys: list, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    nan = float("nan")
    return np.array([nan if (v := values.get(k)) is None else float(v) for k in keys], dtype=np.float64)


def flatten_record(index: int, hp2state: dict) -> dict[str, np.ndarray]:
    """Turn one architecture's official record into flat float64 arrays.

    Keys are ``"{hp}/{dataset}/{seed}/{set}.{field}"`` (per-epoch arrays, ``set`` is
    ``train``/``x-valid``/``x-test``/``ori-test``, ``field`` is ``loss``/``acc``/``acc5``/``time``/
    ``alltime``) and ``"{hp}/{dataset}/{seed}/{params|flops|latency}"`` (scalars). ``alltime``
    is the running sum of ``time`` in epoch order, i.e. what the official API calls all_time.
    """
    if not isinstance(hp2state, dict) or not hp2state:
        raise _bad_record(index, "is not a dict of hp -> results")
    try:
        out = _flatten(index, hp2state)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        if isinstance(exc, FormatError):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _bad_record(index, f"does not have NATS-Bench's structure ({type(exc).__name__}: {reason})") from None
    if not any(k.endswith("/train.loss") for k in out):
        raise _bad_record(index, "holds no training results (expected NATS-Bench ArchResults per hp)")
    return out


def _bad_record(index: int, what: str) -> FormatError:
    exc = FormatError(f"the record of arch {index} {what}; download it again")
    exc.index = index  # type: ignore[attr-defined]  # lets the converter name the file
    return exc


def _flatten(index: int, hp2state: dict) -> dict[str, np.ndarray]:
    from nats_bench.api_utils import ArchResults

    out: dict[str, np.ndarray] = {}
    for hp, state in hp2state.items():
        if not str(hp).isdigit():
            raise _bad_record(index, f"has hp {hp!r}, not an epoch count such as '12' or '200'")
        res = state if isinstance(state, ArchResults) else ArchResults.create_from_state_dict(state)
        if res.arch_index not in (-1, index):
            raise _bad_record(index, f"holds arch {res.arch_index}")
        for (dataset, seed), rc in res.all_results.items():
            n = int(rc.epochs)
            ep = list(range(n))
            base = f"{int(hp)}/{dataset}/{int(seed)}"
            times = rc.train_times if isinstance(rc.train_times, dict) else None
            out[f"{base}/train.loss"] = _series(rc.train_losses, ep, n)
            out[f"{base}/train.acc"] = _series(rc.train_acc1es, ep, n)
            if rc.train_acc5es is not None:
                out[f"{base}/train.acc5"] = _series(rc.train_acc5es, ep, n)
            out[f"{base}/train.time"] = _series(times, ep, n)
            out[f"{base}/train.alltime"] = np.cumsum(out[f"{base}/train.time"])  # sequential, as sum()
            for name in rc.eval_names:
                keys = [f"{name}@{i}" for i in ep]
                etimes = rc.eval_times if isinstance(rc.eval_times, dict) and rc.eval_times else None
                out[f"{base}/{name}.loss"] = _series(rc.eval_losses, keys, n)
                out[f"{base}/{name}.acc"] = _series(rc.eval_acc1es, keys, n)
                out[f"{base}/{name}.time"] = _series(etimes, keys, n)
                out[f"{base}/{name}.alltime"] = np.cumsum(out[f"{base}/{name}.time"])
            out[f"{base}/params"] = np.array(float(rc.params))
            out[f"{base}/flops"] = np.array(float(rc.flop))
            out[f"{base}/latency"] = np.array(float(rc.get_latency()))
    return out


def record_config(hp2state: dict) -> dict[str, dict[str, Any]]:
    """Per-dataset network config of a record (class count, channels ...), JSON-safe."""
    from nats_bench.api_utils import ArchResults

    configs: dict[str, dict[str, Any]] = {}
    for state in hp2state.values():
        res = state if isinstance(state, ArchResults) else ArchResults.create_from_state_dict(state)
        for (dataset, _seed), rc in res.all_results.items():
            cfg = {k: v for k, v in (rc.arch_config or {}).items()
                   if k not in ("arch_str", "genotype", "channels") and isinstance(v, (int, str, float))}
            configs.setdefault(dataset, cfg)
    return configs


def iter_fast_records(src: OfficialSource, indices: list[int],
                      files: dict[int, Path] | None = None) -> Iterator[tuple[int, dict]]:
    files = files if files is not None else src.record_files()
    for i in indices:
        data = load_pbz2(files[i])
        if not isinstance(data, dict):
            raise FormatError(f"{files[i]} is not a NATS-Bench record (expected a dict of hp -> results)")
        yield i, data


def load_single_file(src: OfficialSource) -> tuple[list[str], dict[int, dict]]:
    """Meta archs and index -> record of a single full archive (loads it whole, as the official API does)."""
    data = load_pbz2(src.path)
    if not isinstance(data, dict) or "meta_archs" not in data or "arch2infos" not in data:
        raise FormatError(f"{src.path} lacks 'meta_archs'/'arch2infos': not a full NATS-Bench archive")
    archs = check_meta_archs(data["meta_archs"], src.path, src.space)
    records = {int(k): v for k, v in (data["arch2infos"] or {}).items()}
    return archs, records
