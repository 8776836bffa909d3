"""Regression baselines and verdicts: has a search silently changed, or got worse?

A **baseline** is plain text meant to be committed: JSON lines with sorted keys, one record per
line. A header holds the verdict settings; a ``setup`` record per group and configuration
holds the resolved config and the environment that ran it; a ``run`` record per group and seed
holds the final architecture, final numbers and cost; an ``epoch`` record per run and epoch holds
the derived architecture and the per-epoch numbers rounded to 8 significant digits. A group is
(method, space, dataset, benchmark version, epochs).

Verdicts compare run directories with a baseline, group by group:

- **changed** (exact replay): the same seeds, config and environment must give the same
  architectures and numbers (within ``rtol``/``atol``); the verdict names the first epoch and
  quantity that differ, and every config and environment difference.
- **worse** (statistical): per quality metric, a one-sided Mann-Whitney U test (exact, ties
  included: ``reports.tables.mann_whitney``) of baseline seeds against current seeds, a 95 %
  percentile-bootstrap interval of the difference in means (``scipy.stats.bootstrap``) and a
  minimum effect: "worse" needs p < alpha *and* a mean change at least the minimum effect in the
  wrong direction. When the seed counts cannot reach alpha at all (2 vs 2: p >= 1/6) the verdict
  is "insufficient seeds", never a pass. Search time and peak memory are gated the same way with a
  relative threshold (``cost``).
- **published**: the reviewed numbers in ``reports/references`` as a baseline (mean of the
  published runs): a one-sided Wilcoxon signed-rank test of the current seeds against the
  published mean, with the same minimum effect. Runs searched on another dataset or for another
  number of epochs than the published protocol are "not comparable", never a pass or a fail.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from suite.errors import DnasError, FormatError, MissingFileError

from .load import _read_json, is_lookup, load
from .tables import bootstrap_ci, mann_whitney, prob_improvement

FORMAT = 1
"""Version of the baseline file layout; another version is refused with a one-line error."""
DIGITS = 8
"""Significant digits kept of every number in a baseline (float32 results carry about 7)."""
DERIVED_WEIGHT = "derived_weight"
"""Final-epoch statistic: the share of its edge's architecture weight each derived op holds, averaged."""
CONFIG_IGNORED = ("seed", "name", "out", "data_dir", "splits_dir", "protocol_dir", "bench", "from_run")
"""Config keys that say where a run lives, not what it computes: not compared."""
ENV_COMPARED = ("dnas_suite", "python", "torch", "numpy", "device", "cpu_threads", "gpu", "cuda")
"""Environment fields an exact replay depends on."""
ENV_KEPT = (*ENV_COMPARED, "platform", "git_commit", "git_dirty")
"""Environment fields a baseline records (the rest, like the host name, only make diffs noisy)."""
NOT_COMPARED = ("epoch", "arch", "arch_weights", "epoch_time_s", "wall_time_s", "device", "peak_memory_mb")
"""Per-epoch columns that are times, places or raw weights (``arch`` is compared on its own)."""
_EPOCH_IDENT = ("run", "path", "kind", "space", "dataset", "seed", "status", "bench_version", "config_hash", "method",
                "source_seed")
"""Columns ``reports.load`` adds to every epoch row to say which run it is."""
COST = {"search_wall_time_s": "time_threshold", "peak_memory_mb": "memory_threshold"}
"""Cost metric -> the relative threshold setting that gates it (lower is better)."""
PASSING = ("unchanged", "not worse", "better")
FAILING = ("changed", "worse", "insufficient seeds", "failed")
NEUTRAL = ("not comparable", "not run", "no baseline")


class Group(NamedTuple):
    """What a verdict is about: runs of one method, space, dataset, benchmark version and epochs."""

    method: str
    space: str
    dataset: str
    bench_version: str
    epochs: int

    def label(self) -> str:
        return f"{self.method} {self.space} {self.dataset} {self.bench_version} {self.epochs} ep"

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


@dataclasses.dataclass(frozen=True)
class Settings:
    """How verdicts are made; a baseline carries its own, which the command line may override.

    ``metrics``: the quality metrics of the worse verdict (empty: the primary looked-up accuracy);
    ``min_effect``: per metric, the smallest mean change in the wrong direction that counts as worse
    (metrics not named: 1.0 for accuracies in %, 0.01 for ``derived_weight``, else 0);
    ``time_threshold`` / ``memory_threshold``: relative cost increase that counts as worse (None: off)."""

    metrics: tuple[str, ...] = ()
    min_effect: Mapping[str, float] = dataclasses.field(default_factory=dict)
    alpha: float = 0.05
    time_threshold: float | None = 1.0
    memory_threshold: float | None = 0.25
    rtol: float = 1e-6
    atol: float = 1e-9
    n_resamples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for name in ("time_threshold", "memory_threshold"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0 or None (off), got {v!r}")
        for k, v in self.min_effect.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"the minimum effect of {k} must be a number >= 0, got {v!r}")
        if self.rtol < 0 or self.atol < 0:
            raise ValueError(f"rtol and atol must be >= 0, got {self.rtol}, {self.atol}")

    def effect(self, metric: str) -> float:
        """The minimum effect of ``metric``: as set, else a default by kind."""
        if metric in self.min_effect:
            return float(self.min_effect[metric])
        if "accuracy" in metric:
            return 1.0
        return 0.01 if metric == DERIVED_WEIGHT else 0.0

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["metrics"] = list(self.metrics)
        d["min_effect"] = dict(sorted(self.min_effect.items()))
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Settings":
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in data.items() if k in known}
        kept["metrics"] = tuple(kept.get("metrics") or ())
        kept["min_effect"] = dict(kept.get("min_effect") or {})
        return cls(**kept)


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: losses, entropies, times and memory are better lower."""
    return not (metric.endswith("loss") or metric in ("arch_entropy", *COST))


# ---- numbers out of run stores -----------------------------------------------------------------

def _num(x: Any) -> float | None:
    """A finite number rounded to ``DIGITS`` significant digits; None for NaN, inf or not a number."""
    if isinstance(x, (bool, np.bool_)) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None


def derived_weight(space: str, arch: str, weights: str | Mapping[str, Any]) -> float:
    """Mean share of its edge's (or layer's) architecture weight that each derived choice holds.

    ``weights`` is the per-epoch ``arch_weights`` record (JSON: group -> [edges][ops], the weights the
    derivation reads). 1/|ops| when the weights are uniform, 1 when one-hot; a derivation that ignores
    the weights (a random rule) or weights that never learn (a frozen α) keep it low. NaN for a space
    it does not know or an architecture that does not parse."""
    from suite.spaces import darts, nb201, sss

    w = json.loads(weights) if isinstance(weights, str) else weights
    shares: list[float] = []

    def share(group: str, row: int, col: int) -> None:
        r = np.asarray(w[group][row], dtype=float)
        total = r.sum()
        shares.append(float(r[col] / total) if total > 0 else math.nan)

    try:
        if space == "nb201":
            for e, op in enumerate(nb201.Arch.parse(arch).ops):
                share("cell", e, nb201.OPS.index(op))
        elif space == "darts":
            g = darts.Genotype.parse(arch)
            for cell in ("normal", "reduce"):
                for i, node in enumerate(g.nodes(cell)):
                    for op, src in node:
                        share(cell, darts.EDGES.index((src, i + 2)), darts.OPS.index(op))
        elif space == "sss":
            for layer, c in enumerate(sss.SizeArch.parse(arch).channels):
                share("width", layer, sss.CHANNELS.index(c))
        else:
            return math.nan
    except (ValueError, KeyError, IndexError, TypeError):
        return math.nan
    return float(np.mean(shares)) if shares else math.nan


def _order(key: str) -> tuple[int, str]:
    """Order of per-epoch quantities: what the epoch trained first, then what it derived, then lookups."""
    first = ["train_loss", "train_acc", "valid_loss", "valid_acc"]
    if key in first:
        return (0, f"{first.index(key)}")
    if is_lookup(key):
        return (4, key)
    if key in ("arch", "arch_entropy", DERIVED_WEIGHT):
        return (2, "" if key == "arch" else key)
    if key in ("lr", "tau"):
        return (3, key)
    return (1, key)


@dataclasses.dataclass
class Snapshot:
    """Runs as a baseline holds them: setups (config + environment) by id, run and epoch records."""

    setups: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    runs: dict[tuple[Group, int], dict[str, Any]] = dataclasses.field(default_factory=dict)
    epochs: dict[tuple[Group, int], list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    settings: Settings = dataclasses.field(default_factory=Settings)
    source: str = ""

    def groups(self) -> list[Group]:
        return sorted({g for g, _ in self.runs}, key=lambda g: tuple(map(str, g)))

    def seeds(self, group: Group) -> list[int]:
        return sorted(s for g, s in self.runs if g == group)

    def values(self, group: Group, metric: str) -> list[float]:
        """Final values of ``metric`` over the group's complete runs (missing and failed runs left out)."""
        out = []
        for s in self.seeds(group):
            r = self.runs[(group, s)]
            v = {**r.get("final", {}), **r.get("cost", {})}.get(metric) if r.get("status") == "completed" else None
            if v is not None:
                out.append(float(v))
        return out

    def config(self, group: Group, seed: int) -> dict[str, Any]:
        return self.setups.get(self.runs[(group, seed)].get("setup", ""), {}).get("config", {})

    def environment(self, group: Group, seed: int) -> dict[str, Any]:
        return self.setups.get(self.runs[(group, seed)].get("setup", ""), {}).get("environment", {})


def collect(*paths: str | os.PathLike) -> Snapshot:
    """Read search runs (run directories, folders holding them, globs) as a ``Snapshot``.

    Evaluations made with ``dnas evaluate --from-run`` add their trained accuracy to their search.
    Two runs of the same group and seed are an error: a baseline holds one run per group and seed."""
    from suite.runstore import RunStore

    results = load(*paths)
    runs = results.runs[results.runs["kind"] == "search"]
    if not len(runs):
        raise DnasError(f"no search runs in {', '.join(map(str, paths))}")
    snap = Snapshot(source=", ".join(map(str, paths)))
    for _, row in runs.iterrows():
        store = RunStore(Path(row["path"]))
        config = {k: v for k, v in store.config.items() if k not in CONFIG_IGNORED}
        planned = row["epochs_planned"]
        group = Group(str(row["method"]), str(row["space"]), str(row["dataset"]),
                      str(row["bench_version"] if isinstance(row["bench_version"], str) else "none"),
                      int(planned) if _num(planned) is not None else -1)
        seed = int(row["seed"])
        if (group, seed) in snap.runs:
            other = snap.runs[(group, seed)]["path"]
            raise DnasError(f"two runs of {group.label()} seed {seed}: {other} and {row['path']}; a baseline holds "
                            f"one run per group and seed: name the ones to use")
        env_all = _read_json(store.path / "environment.json")
        env = {k: env_all[k] for k in ENV_KEPT if k in env_all}
        setup = hashlib.sha256(json.dumps([group.to_json(), config, env], sort_keys=True, default=str)
                               .encode()).hexdigest()[:12]
        snap.setups[setup] = {"group": group.to_json(), "config": config, "environment": env}
        metrics = results.epochs[results.epochs["path"] == row["path"]].sort_values("epoch")
        epoch_records = []
        for _, m in metrics.iterrows():
            values = {k: _num(v) for k, v in m.items() if k not in NOT_COMPARED and k not in _EPOCH_IDENT}
            if isinstance(m.get("arch_weights"), str) and isinstance(m.get("arch"), str):
                values[DERIVED_WEIGHT] = _num(derived_weight(group.space, m["arch"], m["arch_weights"]))
            epoch_records.append({"epoch": int(m["epoch"]), "arch": m.get("arch"),
                                  "values": {k: v for k, v in values.items() if v is not None}})
        last = epoch_records[-1]["values"] if epoch_records else {}
        final: dict[str, Any] = {k: v for k, v in last.items() if not is_lookup(k)}
        final.update({k: _num(row[k]) for k in row.index if is_lookup(k)})
        for k in ("trained_test_accuracy", "trained_valid_accuracy"):
            final[k] = _num(row.get(k))
        cost = (store.final or {}).get("cost") or {}
        snap.runs[(group, seed)] = {
            "group": group.to_json(), "seed": seed, "setup": setup, "path": str(row["path"]),
            "status": "completed" if row["complete"] else str(row["status"]), "flag": row["flag"] or None,
            "arch": row["arch"] if isinstance(row["arch"], str) else None, "epochs_done": int(row["epochs_done"]),
            "final": {k: v for k, v in final.items() if v is not None},
            "cost": {k: v for k, v in {"search_wall_time_s": _num(row.get("search_wall_time_s")),
                                       "peak_memory_mb": _num(cost.get("peak_memory_mb", last.get("peak_memory_mb")))
                                       }.items() if v is not None}}
        snap.epochs[(group, seed)] = epoch_records
    return snap


# ---- the baseline file -------------------------------------------------------------------------

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


# ---- verdicts ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Verdict:
    """One group's verdict in one mode: ``status`` is one of PASSING, FAILING or NEUTRAL."""

    mode: str
    group: Group
    status: str
    summary: str
    details: list[str] = dataclasses.field(default_factory=list)
    stats: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "group": self.group.to_json(), "status": self.status, "summary": self.summary,
                "details": self.details, "stats": self.stats}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.{DIGITS}g}"
    return "absent" if v is None else str(v)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Equal, or both numbers within ``atol + rtol * |b|``."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= atol + rtol * abs(b)
    return a == b


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _differences(base: Mapping[str, Any], cur: Mapping[str, Any], rtol: float = 0.0, atol: float = 0.0, *,
                 exact: bool = False) -> list[str]:
    """'KEY BASELINE -> CURRENT' for every key whose values differ (nested keys dotted), in ``_order``;
    ``exact``: settings, shown as written (10.0, not 10)."""
    fb, fc = _flat(base), _flat(cur)
    keys = sorted(set(fb) | set(fc), key=_order)
    show = (lambda v: "absent" if v is None else json.dumps(v, default=str)) if exact else _fmt
    return [f"{k} {show(fb.get(k))} -> {show(fc.get(k))}" for k in keys
            if not _close(fc.get(k), fb.get(k), rtol, atol)]


def _first_difference(base: list[dict[str, Any]], cur: list[dict[str, Any]], rtol: float, atol: float
                      ) -> tuple[int | None, list[str]]:
    """The first epoch whose records differ, and what differs there (in ``_order``)."""
    for i in range(max(len(base), len(cur))):
        if i >= len(cur):
            return base[i]["epoch"], [f"epoch missing (the baseline has {len(base)} epochs, the run {len(cur)})"]
        if i >= len(base):
            return cur[i]["epoch"], [f"epoch not in the baseline (it has {len(base)} epochs, the run {len(cur)})"]
        b, c = base[i], cur[i]
        diffs = _differences({**b["values"], "arch": b.get("arch")}, {**c["values"], "arch": c.get("arch")}, rtol,
                             atol)
        if diffs:
            return b["epoch"], diffs
    return None, []


def compare_changed(base: Snapshot, cur: Snapshot, settings: Settings | None = None) -> list[Verdict]:
    """The exact-replay verdict per group of the baseline and of the runs."""
    s = settings or base.settings
    out = []
    for group in sorted(set(base.groups()) | set(cur.groups()), key=lambda g: tuple(map(str, g))):
        bs, cs = base.seeds(group), cur.seeds(group)
        common = [x for x in cs if x in bs]
        notes = []
        if set(bs) - set(cs):
            notes.append(f"baseline seeds not run: {_seeds(sorted(set(bs) - set(cs)))}")
        if set(cs) - set(bs):
            notes.append(f"seeds without a baseline: {_seeds(sorted(set(cs) - set(bs)))}")
        if not bs or not common:
            status = "no baseline" if not bs else "not run"
            out.append(Verdict("changed", group, status, f"no seed in common (baseline seeds {_seeds(bs)}, run seeds "
                                                         f"{_seeds(cs)})", notes))
            continue
        configs: dict[str, list[int]] = {}
        changed: list[tuple[int, str]] = []
        for seed in common:
            config = "; ".join(_differences(base.config(group, seed), cur.config(group, seed), exact=True))
            if config:
                configs.setdefault(config, []).append(seed)
            run = cur.runs[(group, seed)]
            epoch, diffs = _first_difference(base.epochs[(group, seed)], cur.epochs[(group, seed)], s.rtol, s.atol)
            if epoch is not None:
                more = (f" (and {len(diffs) - 1} more: {', '.join(d.split(' ')[0] for d in diffs[1:5])}"
                        f"{', ...' if len(diffs) > 5 else ''})") if len(diffs) > 1 else ""
                changed.append((seed, f"first difference at epoch {epoch}: {diffs[0]}{more}"))
            elif run.get("status") != "completed":
                changed.append((seed, f"the run is {run.get('flag') or run.get('status')}"))
            else:
                final = _differences({**base.runs[(group, seed)].get("final", {}),
                                      "arch": base.runs[(group, seed)].get("arch")},
                                     {**run.get("final", {}), "arch": run.get("arch")}, s.rtol, s.atol)
                if final:
                    changed.append((seed, f"final numbers differ: {'; '.join(final)}"))
        env = _differences({k: v for k, v in base.environment(group, common[0]).items() if k in ENV_COMPARED},
                           {k: v for k, v in cur.environment(group, common[0]).items() if k in ENV_COMPARED},
                           exact=True)
        if env:
            notes.append(f"environment differs ({'; '.join(env)}): an exact replay needs the baseline's environment")
        config_lines = [f"config differs (seeds {_seeds(sd)}): {c}" for c, sd in configs.items()]
        details = config_lines + [f"seed {sd}: {text}" for sd, text in changed] + notes
        if not changed and not configs:
            out.append(Verdict("changed", group, "unchanged", f"{len(common)} seed(s) replayed: every epoch's "
                                                            f"architecture and numbers as in the baseline", notes))
            continue
        head = f"{group.method}: "
        if configs:
            head += f"config differs ({next(iter(configs))}); "
        if changed:
            head += f"seed {changed[0][0]}: {changed[0][1]}"
        out.append(Verdict("changed", group, "changed", head.rstrip("; "), details,
                           [{"seeds_compared": len(common), "seeds_changed": len({sd for sd, _ in changed}),
                             "config_differs": bool(configs), "environment_differs": bool(env)}]))
    return out


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(map(str, seeds)) or "none"


def min_reachable_p(n_a: int, n_b: int) -> float:
    """The smallest one-sided p an exact Mann-Whitney U test of n_a vs n_b values can give (no ties):
    1 / C(n_a + n_b, n_a), reached when the samples do not overlap at all."""
    if n_a < 1 or n_b < 1:
        return 1.0
    return 1.0 / math.comb(n_a + n_b, n_a)


def diff_interval(current: Sequence[float], baseline: Sequence[float], *, confidence: float = 0.95,
                  n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of mean(current) - mean(baseline), each sample resampled on its own:
    ``scipy.stats.bootstrap`` with ``rng=np.random.default_rng(seed)``. NaNs below 2 values a side."""
    from scipy.stats import bootstrap

    x, y = np.asarray(current, dtype=float), np.asarray(baseline, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    import inspect

    gen = np.random.default_rng(seed)
    draw = {"rng": gen} if "rng" in inspect.signature(bootstrap).parameters else {"random_state": gen}  # scipy < 1.15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate distribution (all values equal) is not an error here
        res = bootstrap((x, y), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis), vectorized=True,
                        paired=False, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        **draw)
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def judge_metric(metric: str, baseline: Sequence[float], current: Sequence[float], *, alpha: float = 0.05,
                min_effect: float = 0.0, relative: bool = False, n_resamples: int = 10_000,
                seed: int = 0) -> dict[str, Any]:
    """Is ``current`` worse than ``baseline`` on ``metric``? One-sided Mann-Whitney U, bootstrap interval of
    the difference in means, and a minimum effect (absolute, or relative to the baseline mean).

    ``status``: "worse" (p < alpha and the mean moved at least the effect the wrong way), "better" (the
    same the right way), "not worse", "insufficient seeds" (alpha unreachable with these counts) or
    "not comparable" (no values on a side)."""
    hib = higher_is_better(metric)
    b, c = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    out: dict[str, Any] = {"metric": metric, "higher_is_better": hib, "n_baseline": len(b), "n_current": len(c)}
    if not len(b) or not len(c):
        return {**out, "status": "not comparable",
                "text": f"{metric}: no values {'in the baseline' if not len(b) else 'in the runs'}"}
    mean_b, mean_c = float(b.mean()), float(c.mean())
    threshold = min_effect * abs(mean_b) if relative else min_effect
    diff = mean_c - mean_b
    gain = diff if hib else -diff  # > 0: current is better
    u, p = mann_whitney(b, c, higher_is_better=hib)  # is the baseline better than the current runs?
    _, p_better = mann_whitney(c, b, higher_is_better=hib)
    lo, hi = diff_interval(c, b, n_resamples=n_resamples, seed=seed)
    p_min = min_reachable_p(len(b), len(c))
    out.update({"baseline_mean": mean_b, "current_mean": mean_c, "difference": diff, "ci_low": lo, "ci_high": hi,
                "u_baseline": u, "p_value": p, "p_better": p_better, "min_reachable_p": p_min,
                "prob_current_better": prob_improvement(c, b, higher_is_better=hib), "min_effect": threshold,
                "alpha": alpha})
    if p_min >= alpha:
        status = "insufficient seeds"
    elif p < alpha and gain <= -threshold:
        status = "worse"
    elif p_better < alpha and gain >= threshold:
        status = "better"
    else:
        status = "not worse"
    effect = f"{min_effect:.0%} of the baseline" if relative else f"{threshold:g}"
    ci = f", 95% CI [{lo:+.4g}, {hi:+.4g}]" if math.isfinite(lo) else ""
    text = (f"{metric}: {mean_b:.4g} -> {mean_c:.4g} (diff {diff:+.4g}{ci}; n {len(b)} vs {len(c)}, U = {u:g}, "
            f"one-sided p = {p:.3g}, minimum effect {effect})")
    if status == "insufficient seeds":
        text += (f"; with {len(b)} vs {len(c)} seeds the smallest reachable p is {p_min:.3g} >= alpha {alpha:g}: "
                 f"run more seeds")
    return {**out, "status": status, "text": text}


def _group_status(stats: list[dict[str, Any]]) -> str:
    statuses = [s["status"] for s in stats]
    for st in ("worse", "insufficient seeds", "not comparable", "better"):
        if st in statuses:
            return st if st != "not comparable" or all(x == st for x in statuses) else "not worse"
    return "not worse"


def compare_worse(base: Snapshot, cur: Snapshot, settings: Settings | None = None) -> list[Verdict]:
    """The statistical verdicts per group: ``worse`` (quality metrics) and ``cost`` (time, memory)."""
    s = settings or base.settings
    out = []
    for group in sorted(set(base.groups()) | set(cur.groups()), key=lambda g: tuple(map(str, g))):
        if not cur.seeds(group) or not base.seeds(group):
            status = "not run" if not cur.seeds(group) else "no baseline"
            text = "no run of this group" if status == "not run" else "the baseline has no run of this group"
            modes = ["worse"] + (["cost"] if s.time_threshold is not None or s.memory_threshold is not None else [])
            out += [Verdict(mode, group, status, text) for mode in modes]
            continue
        failed = [f"seed {sd}: {cur.runs[(group, sd)].get('flag') or cur.runs[(group, sd)].get('status')}"
                  for sd in cur.seeds(group) if cur.runs[(group, sd)].get("status") == "failed"]
        metrics = list(s.metrics) or [_primary(base, group)]
        stats = [judge_metric(m, base.values(group, m), cur.values(group, m), alpha=s.alpha,
                             min_effect=s.effect(m), n_resamples=s.n_resamples, seed=s.seed) for m in metrics]
        status = "failed" if failed else _group_status(stats)
        shown = [st for st in stats if st["status"] == status] or stats
        summary = f"{group.method}: " + ("; ".join(failed) if failed else shown[0]["text"])
        out.append(Verdict("worse", group, status, summary, failed + [st["text"] for st in stats], stats))
        cost = [judge_metric(m, base.values(group, m), cur.values(group, m), alpha=s.alpha,
                            min_effect=getattr(s, key), relative=True, n_resamples=s.n_resamples, seed=s.seed)
                for m, key in COST.items() if getattr(s, key) is not None]
        if not cost:  # both cost gates are off
            continue
        status = _group_status(cost)
        shown = [st for st in cost if st["status"] == status] or cost
        out.append(Verdict("cost", group, status, f"{group.method}: {shown[0]['text']}", [st["text"] for st in cost],
                           cost))
    return out


def _primary(snap: Snapshot, group: Group) -> str:
    """The looked-up accuracy a one-line verdict is about: cifar10 test accuracy at the longest schedule."""
    keys = sorted({k for sd in snap.seeds(group) for k in snap.runs[(group, sd)].get("final", {}) if is_lookup(k)})
    for pattern in ("cifar10@", ""):
        hits = [k for k in keys if k.startswith(pattern) and k.endswith("/test-accuracy")]
        if hits:
            return max(hits, key=lambda k: int(k.split("@")[1].split("/")[0]))
    return "trained_test_accuracy"


# ---- published references ----------------------------------------------------------------------

def compare_published(cur: Snapshot, references: pd.DataFrame, settings: Settings | None = None, *,
                      protocol_epochs: Mapping[tuple[str, str], int] | None = None) -> list[Verdict]:
    """Runs against published numbers (``reports.tables.load_references()``), per group and metric.

    ``protocol_epochs`` maps (method, space) to the published search epochs; runs of other lengths or
    searched on another dataset than the published runs are "not comparable"."""
    from scipy.stats import wilcoxon

    s = settings or Settings()
    refs = references.assign(key=references["method"].str.lower())
    out = []
    for group in cur.groups():
        rows = refs[(refs["key"] == group.method) & (refs["space"] == group.space)]
        if not len(rows):
            out.append(Verdict("published", group, "no baseline", f"{group.method}: no published numbers on "
                                                                  f"{group.space} in the references"))
            continue
        metrics = list(s.metrics) or list(rows["metric"])
        reasons = []
        if set(rows["search_dataset"]) != {group.dataset}:
            reasons.append(f"searched on {group.dataset}; the published runs searched on "
                           f"{', '.join(sorted(set(rows['search_dataset'])))}")
        want = (protocol_epochs or {}).get((group.method, group.space))
        if want is not None and want != group.epochs:
            reasons.append(f"{group.epochs} search epochs; the published protocol runs {want}")
        if reasons:
            out.append(Verdict("published", group, "not comparable", f"{group.method}: not comparable with the "
                                                                     f"published numbers: {'; '.join(reasons)}"))
            continue
        stats = []
        for metric in metrics:
            ref = rows[rows["metric"] == metric]
            values = cur.values(group, metric)
            if not len(ref) or not values:
                continue
            r = ref.iloc[0]
            ref_mean, hib = float(r["value"]), higher_is_better(metric)
            c = np.asarray(values, dtype=float)
            d = c - ref_mean
            p_min = 0.5 ** len(c)
            if np.all(d == 0):
                p = p_better = 1.0
            else:
                p = float(wilcoxon(d, alternative="less" if hib else "greater").pvalue)
                p_better = float(wilcoxon(d, alternative="greater" if hib else "less").pvalue)
            diff = float(c.mean()) - ref_mean
            gain = diff if hib else -diff
            lo, hi = bootstrap_ci(c, n_resamples=s.n_resamples, seed=s.seed)
            eff = s.effect(metric)
            status = ("insufficient seeds" if p_min >= s.alpha else "worse" if p < s.alpha and gain <= -eff
                      else "better" if p_better < s.alpha and gain >= eff else "not worse")
            version = "" if str(r["benchmark_version"]) == group.bench_version else \
                f"; published on {r['benchmark_version']}, looked up in {group.bench_version}"
            text = (f"{metric}: published {ref_mean:.4g} ± {float(r['std']):.2g} ({r['source']}, "
                    f"{r['paper_table']}) -> runs {c.mean():.4g} (diff {diff:+.4g}, 95% CI of the runs' mean "
                    f"[{lo - ref_mean:+.4g}, {hi - ref_mean:+.4g}] around it; n {len(c)}, Wilcoxon one-sided "
                    f"p = {p:.3g}, minimum effect {eff:g}{version})")
            if status == "insufficient seeds":
                text += f"; with {len(c)} seeds the smallest reachable p is {p_min:.3g} >= alpha {s.alpha:g}"
            stats.append({"metric": metric, "status": status, "text": text, "published": ref_mean,
                          "current_mean": float(c.mean()), "difference": diff, "p_value": p, "p_better": p_better,
                          "min_reachable_p": p_min, "n_current": len(c)})
        if not stats:
            out.append(Verdict("published", group, "not comparable",
                               f"{group.method}: the runs have none of the published metrics "
                               f"({', '.join(metrics)})"))
            continue
        status = _group_status(stats)
        shown = [st for st in stats if st["status"] == status] or stats
        out.append(Verdict("published", group, status, f"{group.method}: {shown[0]['text']}",
                           [st["text"] for st in stats], stats))
    return out


# ---- output --------------------------------------------------------------------------------------

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
            if (v.failed or v.status == "not comparable") and v.details:
                lines.append(f"\n{v.mode} {v.group.label()}: {v.status}")
                lines += [f"  {d}" for d in v.details]
    return "\n".join(lines) + "\n" if lines else "no verdicts\n"


def write_junit(verdicts: Sequence[Verdict], path: str | os.PathLike, *, name: str = "dnas regress",
                properties: Mapping[str, str] | None = None) -> Path:
    """JUnit XML (the Jenkins/Ant schema that CI servers read): one testsuite per mode, one testcase per
    group; a failing verdict is a ``failure`` ("insufficient seeds": an ``error``, the test could not be
    made), a neutral one ``skipped``."""
    import datetime as _dt
    import socket
    import xml.etree.ElementTree as ET

    from suite.io import atomic_path

    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    stamp = _dt.datetime.now().replace(microsecond=0).isoformat()
    for mode in dict.fromkeys(v.mode for v in verdicts):
        cases = [v for v in verdicts if v.mode == mode]
        failures = sum(v.failed and v.status != "insufficient seeds" for v in cases)
        errors = sum(v.status == "insufficient seeds" for v in cases)
        skipped = sum(v.status in NEUTRAL for v in cases)
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
            elif v.failed:
                ET.SubElement(case, "failure", type=v.status, message=v.summary).text = text
            elif v.status in NEUTRAL:
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


def regress(runs: Sequence[str | os.PathLike], baseline: str | os.PathLike, *, mode: str = "both",
            settings: Settings | None = None) -> list[Verdict]:
    """Compare run directories with a baseline file: ``mode`` changed, worse (with cost) or both."""
    if mode not in ("changed", "worse", "both"):
        raise ValueError(f"mode must be changed, worse or both, got {mode!r}")
    base = read_baseline(baseline)
    cur = collect(*runs)
    s = settings or base.settings
    verdicts = compare_changed(base, cur, s) if mode in ("changed", "both") else []
    if mode in ("worse", "both"):
        verdicts += compare_worse(base, cur, s)
    return verdicts


def compared(verdicts: Sequence[Verdict]) -> bool:
    """Whether any group could be compared at all (a comparison of nothing is bad input, not a pass)."""
    return any(v.status not in NEUTRAL for v in verdicts)


__all__ = ["DERIVED_WEIGHT", "Group", "Settings", "Snapshot", "Verdict", "collect", "compared",
           "compare_changed", "compare_published", "compare_worse", "derived_weight", "diff_interval", "judge_metric",
           "min_reachable_p", "read_baseline", "regress", "render", "save_baseline", "write_junit"]
