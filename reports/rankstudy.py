"""Rank-correlation studies: score columns named by SPEC strings, aligned by architecture.

A SPEC names one score per architecture of a benchmark space:

* a benchmark metric, ``BENCH:DATASET@EPOCHS/METRIC`` where BENCH is a built-in table
  (``nb201``) or a store path, e.g. ``nb201:cifar10-valid@12/valid-accuracy``;
* a table column, ``FILE:COLUMN,key=KEYCOL,format=FMT`` for a .csv/.parquet/.json table whose
  KEYCOL holds architectures as FMT (``string``, ``index``, ``ops`` or ``naslib``, the
  importer's encodings), e.g. ``nb201-zero-cost-proxies.json:synflow.score,json-key=cifar10,
  key=arch,format=naslib``.

Options after commas: ``label=NAME`` (how tables and plots name it), ``mode=max|min`` (min:
smaller is better, so the scores are negated; benchmark losses and times default to min),
``json-key=K`` (records inside a JSON file; JSON only), ``agg=mean|median|min|max|first`` (several
rows per arch; a NaN row makes its arch NaN except under ``first``), ``seed=S`` (benchmark metrics:
one seed instead of the mean). Unknown options and values are refused, never read as a default.

``where`` is checked and evaluated by ``reports.filter_expr`` (a small grammar, no ``eval``).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from suite.errors import DnasError

from .filter_expr import Filter, FilterError, parse_filter
from .ranks import RankCorr, rankcorr_pairs

_BENCH_PART = re.compile(r"^(?P<dataset>[^@/,]+)@(?P<epochs>\d+)/(?P<metric>[\w.-]+)$")
_TABLE_OPTIONS = ("key", "format", "json-key", "agg", "label", "mode")
_BENCH_OPTIONS = ("label", "mode", "seed")
_FORMATS = ("string", "index", "ops", "naslib")
AGGREGATIONS = ("mean", "median", "min", "max", "first")
"""``agg=`` values: how several table rows of one architecture become its score."""


@dataclass
class Spec:
    """A parsed SPEC: where one score per architecture comes from."""

    text: str
    kind: str  # "bench" or "table"
    source: str
    dataset: str = ""
    epochs: int = 0
    metric: str = ""
    column: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.options.get("label") or self.text.split(",")[0]


def parse_spec(text: str) -> Spec:
    """Parse ``BENCH:DATASET@EPOCHS/METRIC[,opt=v...]`` or ``FILE:COLUMN,key=K,format=F[,opt=v...]``."""
    head, *opts = text.split(",")
    options: dict[str, str] = {}
    for opt in opts:
        k, sep, v = opt.partition("=")
        if not sep or not k or not v:
            raise DnasError(f"SPEC option {opt!r} in {text!r} must read NAME=VALUE")
        options[k.strip()] = v.strip()
    source, sep, rest = head.rpartition(":")
    if not sep or not source or not rest:
        raise DnasError(f"SPEC {text!r} must read BENCH:DATASET@EPOCHS/METRIC (e.g. "
                        f"nb201:cifar10@200/test-accuracy) or FILE:COLUMN,key=KEYCOL,format=FMT")
    if "mode" in options and options["mode"] not in ("max", "min"):
        raise DnasError(f"SPEC {text!r}: mode must be max or min, got {options['mode']!r}")
    match = _BENCH_PART.match(rest)
    if match and not Path(source).expanduser().is_file():
        _check_options(text, options, _BENCH_OPTIONS)
        if "seed" in options and not options["seed"].isdigit():
            raise DnasError(f"SPEC {text!r}: seed must be a whole number (a training seed), got {options['seed']!r}")
        return Spec(text, "bench", source, match["dataset"], int(match["epochs"]), match["metric"], "", options)
    _check_options(text, options, _TABLE_OPTIONS)
    if not Path(source).expanduser().is_file():
        raise DnasError(f"SPEC {text!r}: {source} is neither a benchmark (write BENCH:DATASET@EPOCHS/METRIC) "
                        f"nor an existing table file")
    missing = [k for k in ("key", "format") if k not in options]
    if missing:
        raise DnasError(f"SPEC {text!r} names a table column: give its key column and key format explicitly, "
                        f"e.g. {head},key=arch,format=string (formats: string, index, ops, naslib)")
    if options["format"] not in _FORMATS:
        raise DnasError(f"SPEC {text!r}: format must be one of {', '.join(_FORMATS)} (how {options['key']} holds "
                        f"architectures), got {options['format']!r}")
    if "agg" in options and options["agg"] not in AGGREGATIONS:
        raise DnasError(f"SPEC {text!r}: agg must be one of {', '.join(AGGREGATIONS)}, got {options['agg']!r}")
    suffix = Path(source).suffix.lower()
    if "json-key" in options and suffix != ".json":
        raise DnasError(f"SPEC {text!r}: json-key applies to JSON files only and {source} is a "
                        f"{suffix or 'suffix-less'} table: drop ,json-key={options['json-key']}")
    return Spec(text, "table", source, column=rest, options=options)


def _check_options(text: str, options: dict[str, str], allowed: Sequence[str]) -> None:
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise DnasError(f"SPEC {text!r}: unknown option {bad[0]!r}; options here: {', '.join(allowed)}")


@dataclass
class Column:
    """A resolved SPEC: one value per architecture of the space (NaN where it has none)."""

    spec: Spec
    values: np.ndarray
    version: str
    negated: bool

    @property
    def label(self) -> str:
        return self.spec.label


def _open_bench(source: str):
    import benchmarks

    return benchmarks.open(source)


def resolve(spec: Spec, archs: list[str], space: str) -> Column:
    """The spec's values over the space's official index order ``archs``."""
    from benchmarks.metrics import default_mode

    if spec.kind == "bench":
        bench = _open_bench(spec.source)
        if bench.space.name != space or bench.n_archs != len(archs):
            raise DnasError(f"{spec.text}: benchmark {spec.source} holds the {bench.space.name} space, the study "
                            f"is on the {space} space")
        seed: Any = int(spec.options["seed"]) if "seed" in spec.options else "mean"
        values = bench.query_many("all", spec.dataset, spec.metric, spec.epochs, seed=seed)
        try:
            default = default_mode(spec.metric)
        except ValueError:
            default = "max"
        mode = spec.options.get("mode", default)
        version = bench.version
    else:
        from benchmarks.importer import arch_indices, read_table

        frame = read_table(spec.source, spec.options.get("json-key"))
        key = spec.options["key"]
        for col in (key, spec.column):
            if col not in frame.columns:
                raise DnasError(f"{spec.text}: column {col!r} is not in {spec.source}; columns: "
                                f"{', '.join(map(str, frame.columns[:30]))}")
        idx = arch_indices(frame[key], key, space, spec.options["format"], archs)
        raw = _numeric_column(frame[spec.column], spec)
        values = _aggregate(idx, raw, len(archs), spec)
        mode = spec.options.get("mode", "max")
        version = f"table {Path(spec.source).name}"
    negated = mode == "min"
    return Column(spec, -values if negated else values, version, negated)


def _numeric_column(values: pd.Series, spec: Spec) -> np.ndarray:
    """The score column as floats; a value that is not a number (text, a list...) is an error naming the
    file and column, not a silent NaN (a text column would otherwise end as "need at least 2 rows")."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        example = " ".join(repr(values.iloc[row]).split())
        raise DnasError(f"{spec.text}: column {spec.column!r} of {spec.source} is not numeric ({int(bad.sum())} of "
                        f"{len(values)} values, e.g. {example[:40]} in row {row}); name a column of numbers")
    return numbers.to_numpy(dtype=np.float64)


def _aggregate(idx: np.ndarray, raw: np.ndarray, n: int, spec: Spec) -> np.ndarray:
    """One value per arch index from table rows ``raw`` at ``idx``, by the spec's ``agg``.

    Several rows of one arch need an explicit ``agg``. ``mean``/``median``/``min``/``max``: a NaN row
    makes its arch NaN (a missing score is not averaged away); ``first``: the first row, whatever it holds.
    """
    counts = np.bincount(idx, minlength=n)
    agg = spec.options.get("agg")
    if counts.max() > 1 and agg is None:
        dup = int(np.argmax(counts))
        raise DnasError(f"{spec.text}: {counts.max()} rows for arch index {dup}; add ,agg=AGG "
                        f"({', '.join(AGGREGATIONS)})")
    out = np.full(n, np.nan)
    if agg in (None, "first") or counts.max() <= 1:
        rows = np.arange(len(idx))[::-1]  # reversed so the first row wins
        out[idx[rows]] = raw[rows]
        return out
    if agg == "mean":
        sums = np.zeros(n)
        np.add.at(sums, idx, raw)  # a NaN row makes its arch NaN: a missing score is not averaged away
        with np.errstate(invalid="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    values = getattr(pd.Series(raw).groupby(idx), agg)()  # skips NaN: the NaN rule is applied below
    has_nan = pd.Series(np.isnan(raw)).groupby(idx).any()
    out[values.index.to_numpy()] = np.where(has_nan.to_numpy(), np.nan, values.to_numpy())
    return out


# ---- the study --------------------------------------------------------------------------------

@dataclass
class Study:
    """The aligned frame (one row per architecture), the columns, and what was kept and why."""

    frame: pd.DataFrame
    columns: list[Column]
    space: str
    notes: dict[str, Any]


def _space_and_order(specs: Sequence[Spec]) -> tuple[str, list[str]]:
    for spec in specs:
        if spec.kind == "bench":
            bench = _open_bench(spec.source)
            return bench.space.name, bench.archs
    bench = _open_bench("nb201")  # tables only: the official NB201 order from the built-in table
    return bench.space.name, bench.archs


def build_study(specs: Sequence[Spec], *, extra: dict[str, Spec] | None = None, where: str | None = None,
                unique: bool = False) -> Study:
    """Resolve every spec, align them by architecture, then apply ``where`` and ``unique``.

    The frame has ``index`` (official), ``arch``, ``y`` (the last spec), ``x`` / ``x1``... (the
    others), every spec's label, and ``extra`` columns (only for ``where``). ``where`` is checked
    against ``reports.filter_expr``'s grammar before any data loads (a DnasError naming the offending
    part) and evaluated by it, never by ``eval``.
    """
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise DnasError(f"two SPECs share the label {next(lab for lab in labels if labels.count(lab) > 1)!r}: "
                        f"name them apart with ,label=NAME")
    condition = _where(where, study_columns(specs, extra)) if where else None  # checked before any data loads
    space, archs = _space_and_order(list(specs) + list((extra or {}).values()))
    cols = [resolve(s, archs, space) for s in specs]
    frame = pd.DataFrame({"index": np.arange(len(archs)), "arch": archs})
    *xs, y = cols
    frame["y"] = y.values
    for i, c in enumerate(xs, start=1):
        frame[f"x{i}"] = c.values
    if len(xs) == 1:
        frame["x"] = xs[0].values
    for c in cols:
        if c.label not in frame.columns:
            frame[c.label] = c.values
    for name, spec in (extra or {}).items():
        if name in frame.columns:
            raise DnasError(f"--col {name}: the name is taken; choose another")
        frame[name] = resolve(spec, archs, space).values
    notes: dict[str, Any] = {"space": space, "rows": len(frame),
                             "versions": {c.label: c.version for c in cols}}
    if condition is not None:
        try:
            keep = condition.evaluate(frame)
        except FilterError as exc:
            raise DnasError(f"--where {where!r}: {exc}") from None
        if not isinstance(keep, pd.Series) or keep.dtype != bool:
            raise DnasError(f"--where {where!r} must be a true/false condition on the columns, e.g. 'y > 90'")
        frame = frame[keep.to_numpy()]
        notes["where"] = {"expr": where, "rows_kept": len(frame)}
    if unique:
        frame, info = dedupe_isomorphic(frame, space, [c.label for c in cols])
        notes["unique"] = info
    return Study(frame.reset_index(drop=True), cols, space, notes)


def study_columns(specs: Sequence[Spec], extra: dict[str, Spec] | None = None) -> list[str]:
    """The columns ``build_study`` gives its frame, in order, known from the specs alone."""
    xs = [f"x{i}" for i in range(1, len(specs))]
    cols = ["index", "arch", "y", *xs, *(["x"] if len(xs) == 1 else [])]
    cols += [s.label for s in specs if s.label not in cols]
    return list(dict.fromkeys(cols + list(extra or {})))


def _where(where: str, columns: list[str]) -> Filter:
    try:
        return parse_filter(where, columns)
    except FilterError as exc:
        raise DnasError(f"--where {where!r}: {exc}") from None


def iso_keys(archs: Sequence[str], space: str) -> list[str]:
    """NATS-Bench's isomorphism key (``to_unique_str(consider_zero=True)``) of each arch string."""
    from suite.spaces import get_tabular_space

    sp = get_tabular_space(space)
    if sp.name != "tss":
        raise DnasError(f"--unique dedupes isomorphic cells of the tss (nb201) space; the {sp.name} space has none")
    return [sp.parse(a).unique_str() for a in archs]


def dedupe_isomorphic(frame: pd.DataFrame, space: str, score_cols: Sequence[str]) -> tuple[pd.DataFrame, dict]:
    """One row per isomorphism class: the lowest official index among the class's rows whose scores
    are all finite (else the lowest index)."""
    keys = pd.Series(iso_keys(frame["arch"].tolist(), space), index=frame.index)
    finite = np.isfinite(frame[list(dict.fromkeys(score_cols))].to_numpy(dtype=np.float64)).all(axis=1)
    order = frame.assign(_key=keys, _bad=~finite).sort_values(["_key", "_bad", "index"], kind="stable")
    kept = order.drop_duplicates("_key").sort_values("index").drop(columns=["_key", "_bad"])
    info = {"key": "isomorphism class (NATS-Bench to_unique_str, zeros considered)", "classes": int(keys.nunique()),
            "rows_before": len(frame), "rows_dropped": len(frame) - len(kept),
            "representative": "lowest official index among the class's rows with every score finite"}
    return kept, info


def correlate(study: Study, *, pairwise: bool = False, **kw: Any) -> list[RankCorr]:
    """Every x against y (the last spec), or with ``pairwise`` every pair of specs; ``kw`` go to
    ``rankcorr``. All pairs run as one study: pairs on the same rows share their bootstrap resamples
    and each column's ranking, and each result equals that pair's own ``rankcorr``."""
    labels = [c.label for c in study.columns]
    cols = {lab: np.asarray(study.frame[_frame_col(study, i)], dtype=np.float64) for i, lab in enumerate(labels)}
    pairs = _pairs(labels, pairwise)
    results = rankcorr_pairs(cols, pairs, **kw)
    for (xl, yl), r in zip(pairs, results):
        r.notes.update({k: v for k, v in study.notes.items() if k != "versions"})
        r.notes["versions"] = {xl: study.notes["versions"].get(xl), yl: study.notes["versions"].get(yl)}
        negated = [c.label for c in study.columns if c.negated and c.label in (xl, yl)]
        if negated:
            r.notes["negated"] = negated
    return results


def _pairs(labels: list[str], pairwise: bool) -> list[tuple[str, str]]:
    return list(itertools.combinations(labels, 2)) if pairwise else [(lab, labels[-1]) for lab in labels[:-1]]


def pair_sizes(study: Study, *, pairwise: bool = False, missing: str = "drop") -> list[tuple[str, str, int]]:
    """``(x, y, n)`` for each pair ``correlate`` reports: n rows enter its statistics (both scores finite
    under ``missing="drop"``, every row under ``"last"``). Lets a caller check top-k sizes before the bootstrap."""
    labels = [c.label for c in study.columns]
    finite = {lab: np.isfinite(np.asarray(study.frame[_frame_col(study, i)], dtype=np.float64))
              for i, lab in enumerate(labels)}
    return [(a, b, int((finite[a] & finite[b]).sum()) if missing == "drop" else len(study.frame))
            for a, b in _pairs(labels, pairwise)]


def _frame_col(study: Study, i: int) -> str:
    n = len(study.columns)
    if i == n - 1:
        return "y"
    return f"x{i + 1}"


def kendall_matrix(study: Study) -> tuple[list[str], np.ndarray]:
    """Kendall tau-b of every pair of spec columns (rows where both are finite), for a heatmap."""
    from scipy.stats import kendalltau

    labels = [c.label for c in study.columns]
    data = [np.asarray(study.frame[_frame_col(study, i)], dtype=np.float64) for i in range(len(labels))]
    mat = np.eye(len(labels))
    for i, j in itertools.combinations(range(len(labels)), 2):
        ok = np.isfinite(data[i]) & np.isfinite(data[j])
        mat[i, j] = mat[j, i] = kendalltau(data[i][ok], data[j][ok]).statistic if ok.sum() >= 2 else np.nan
    return labels, mat


__all__ = ["AGGREGATIONS", "Column", "Spec", "Study", "build_study", "correlate", "dedupe_isomorphic", "iso_keys",
           "kendall_matrix", "pair_sizes", "parse_spec", "resolve", "study_columns"]
