"""What a regression compares: groups, verdict settings, and the numbers of run stores (``collect``)."""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from suite.errors import DnasError

from ..diagnostics import diagnose
from ..load import read_json, is_lookup, load

DIGITS = 8
"""Significant digits kept of every number in a baseline (float32 results carry about 7)."""
DERIVED_WEIGHT = "derived_weight"
"""Final-epoch statistic: the share of its edge's architecture weight each derived op holds, averaged."""
CONFIG_IGNORED = ("seed", "name", "out", "data_dir", "splits_dir", "bench", "from_run")
"""Config keys that say where a run lives, not what it computes: not compared."""
ENV_COMPARED = ("dnas_suite", "python", "torch", "numpy", "device", "cpu_threads", "gpu", "cuda")
"""Environment fields an exact replay depends on."""
ENV_KEPT = (*ENV_COMPARED, "platform", "git_commit", "git_dirty", "numerics", "numerics_on_resume")
"""Environment fields a baseline records (the rest, like the host name, only make diffs noisy)."""
NOT_COMPARED = ("epoch", "arch", "arch_weights", "epoch_time_s", "wall_time_s", "device", "peak_memory_mb",
                "images_per_s")
"""Per-epoch columns that are times, places or raw weights (``arch`` is compared on its own)."""
_EPOCH_IDENT = ("run", "path", "kind", "space", "dataset", "seed", "status", "bench_version", "config_hash", "method",
                "source_seed")
"""Columns ``reports.load`` adds to every epoch row to say which run it is."""
COST = {"search_wall_time_s": "time_threshold", "peak_memory_mb": "memory_threshold"}
"""Cost metric -> the relative threshold setting that gates it (lower is better)."""


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
    (metrics not named: 1.0 for accuracies in %, their regrets and percentiles, 0.1 for scaled scores,
    0.01 for ``derived_weight``, else 0);
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
        def bad(name: str, value: Any, want: str) -> DnasError:
            return DnasError(f"verdict setting {name} must be {want}, got {value!r}")

        if not (_real(self.alpha) and 0 < self.alpha < 1):
            raise bad("alpha", self.alpha, "in (0, 1)")
        for name in ("time_threshold", "memory_threshold"):
            v = getattr(self, name)
            if v is not None and not (_real(v) and v >= 0):
                raise bad(name, v, "a number >= 0 or None (off)")
        for name in ("rtol", "atol"):
            if not (_real(getattr(self, name)) and getattr(self, name) >= 0):
                raise bad(name, getattr(self, name), "a finite number >= 0")
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int) or self.n_resamples < 1:
            raise bad("n_resamples", self.n_resamples, "an integer >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise bad("seed", self.seed, "an integer")
        if not all(isinstance(m, str) and m for m in self.metrics):
            raise bad("metrics", list(self.metrics), "a list of metric names")
        for k, v in self.min_effect.items():
            if not (_real(v) and v >= 0):
                raise bad(f"min_effect {k}", v, "a number >= 0")

    def effect(self, metric: str) -> float:
        """The minimum effect of ``metric``: as set, else a default by kind."""
        if metric in self.min_effect:
            return float(self.min_effect[metric])
        if metric.endswith(".scaled"):
            return 0.1  # a tenth of the way from the optimum to the random architecture
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
        """Settings from a baseline header; an unknown key is an error (a misspelt setting would be ignored)."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise DnasError(f"unknown verdict setting {unknown[0]!r}; the settings are {', '.join(known)}")
        kept = dict(data)
        if not isinstance(kept.get("metrics") or [], list) or not isinstance(kept.get("min_effect") or {}, dict):
            raise DnasError("verdict settings metrics must be a list and min_effect a mapping of metric to number")
        kept["metrics"] = tuple(kept.get("metrics") or ())
        kept["min_effect"] = dict(kept.get("min_effect") or {})
        return cls(**kept)

    def check_metrics(self, available: set[str], where: str) -> None:
        """Refuse a metric (of ``metrics`` or ``min_effect``) that ``where`` does not hold, naming what it holds."""
        for metric, flag in [*((m, "--metric") for m in self.metrics), *((m, "--min-effect") for m in self.min_effect)]:
            if metric not in available:
                close = difflib.get_close_matches(metric, sorted(available), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise DnasError(f"unknown metric {metric!r} ({flag}): {where} hold no such number; {hint}metrics: "
                                f"{', '.join(sorted(available))}")


def _real(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


SCORES = ("regret", "scaled", "percentile")
"""Normalised scores of a lookup, as metrics ``<lookup>.<score>`` (``reports.baselines``): regret to the
benchmark optimum and the scaled score (0 optimum, 1 random-architecture mean) are better lower, the rank
percentile among unique cells higher."""


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: losses, entropies, times, memory, regrets and scaled scores are better lower."""
    return not (metric.endswith(("loss", ".regret", ".scaled")) or metric in ("arch_entropy", *COST))


def score_of(metric: str) -> tuple[str, str] | None:
    """``cifar10@200/test-accuracy.regret`` -> (lookup, score); None for other metrics."""
    head, dot, score = metric.rpartition(".")
    return (head, score) if dot and score in SCORES and is_lookup(head) else None


def add_scores(snap: "Snapshot", metrics: tuple[str, ...], bench: Any) -> None:
    """Put the normalised scores that ``metrics`` ask for into every run's final numbers, computed from its
    final lookups in ``bench`` (an open tabular benchmark of the runs' benchmark version)."""
    from ..baselines import class_representatives, random_architecture

    wanted = [m for m in metrics if score_of(m)]
    reps = class_representatives(bench) if wanted else None
    dists = {}
    for metric in wanted:
        lookup, score = score_of(metric)  # type: ignore[misc]
        if lookup not in dists:
            dists[lookup] = random_architecture(bench, lookup, reps)
        for (group, _), run in snap.runs.items():
            value = run.get("final", {}).get(lookup)
            if value is not None and group.bench_version == bench.version:
                run.setdefault("final", {})[metric] = _num(dists[lookup].scores(float(value))[score])


def available_scores(lookups: set[str]) -> set[str]:
    """The score metrics that runs holding ``lookups`` can be judged on."""
    return {f"{k}.{s}" for k in lookups if is_lookup(k) for s in SCORES}


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


def quantity_order(key: str) -> tuple[int, str]:
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

    def metrics(self) -> set[str]:
        """Every final and cost number some run holds: what a verdict can be about."""
        return {k for r in self.runs.values() for k in (*r.get("final", {}), *r.get("cost", {}))}

    def numerics(self, group: Group, seed: int) -> list[dict[str, Any]]:
        """The numerics fingerprints the run was made under: where it started, then any resume that differed."""
        env = self.environment(group, seed)
        return [fp for fp in (env.get("numerics"), *env.get("numerics_on_resume", [])) if fp]

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
        raw_config = store.config  # read once: the property parses config.yaml
        config = {k: v for k, v in raw_config.items() if k not in CONFIG_IGNORED}
        planned = row["epochs_planned"]
        group = Group(str(row["method"]), str(row["space"]), str(row["dataset"]),
                      str(row["bench_version"] if isinstance(row["bench_version"], str) else "none"),
                      int(planned) if _num(planned) is not None else -1)
        seed = int(row["seed"])
        if (group, seed) in snap.runs:
            other = snap.runs[(group, seed)]["path"]
            raise DnasError(f"two runs of {group.label()} seed {seed}: {other} and {row['path']}; a baseline holds "
                            f"one run per group and seed: name the ones to use")
        env_all = read_json(store.path / "environment.json")
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
            "bench": raw_config.get("bench"),
            "status": "completed" if row["complete"] else str(row["status"]), "flag": row["flag"] or None,
            "arch": row["arch"] if isinstance(row["arch"], str) else None, "epochs_done": int(row["epochs_done"]),
            "final": {k: v for k, v in final.items() if v is not None},
            "cost": {k: v for k, v in {"search_wall_time_s": _num(row.get("search_wall_time_s")),
                                       "peak_memory_mb": _num(cost.get("peak_memory_mb", last.get("peak_memory_mb")))
                                       }.items() if v is not None}}
        snap.epochs[(group, seed)] = epoch_records
        snap.runs[(group, seed)]["diagnostics"] = [
            f.text for f in diagnose([e["arch"] for e in epoch_records], raw_config, group.space,
                                     {k: [e["values"].get(k) for e in epoch_records] for k in ("train_loss", "valid_loss")},
                                     group.epochs if group.epochs > 0 else None)]
    return snap
