"""Verdicts: changed (exact replay), worse (statistics and cost), published (reviewed numbers)."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..load import is_lookup
from ..stats import bootstrap_ci
from .snapshot import COST, DIGITS, ENV_COMPARED, Group, Settings, Snapshot, higher_is_better, quantity_order
from .judge import judge_metric

PASSING = ("unchanged", "not worse", "better")
FAILING = ("changed", "worse", "insufficient seeds", "failed", "missing metric")
NEUTRAL = ("not comparable", "not run", "no baseline")
UNCHECKED = ("not replayable",)
"""An exact replay between different numerics fingerprints: no verdict on the numbers, said loudly,
never a pass (a check of nothing else is an error) and a failure under ``require_replay``."""


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
    """'KEY BASELINE -> CURRENT' for every key whose values differ (nested keys dotted), in ``quantity_order``;
    ``exact``: settings, shown as written (10.0, not 10)."""
    fb, fc = _flat(base), _flat(cur)
    keys = sorted(set(fb) | set(fc), key=quantity_order)
    show = (lambda v: "absent" if v is None else json.dumps(v, default=str)) if exact else _fmt
    return [f"{k} {show(fb.get(k))} -> {show(fc.get(k))}" for k in keys
            if not _close(fc.get(k), fb.get(k), rtol, atol)]


def _first_difference(base: list[dict[str, Any]], cur: list[dict[str, Any]], rtol: float, atol: float
                      ) -> tuple[int | None, list[str]]:
    """The first epoch whose records differ, and what differs there (in ``quantity_order``)."""
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


def _sorted(groups: Any) -> list[Group]:
    return sorted(groups, key=lambda g: tuple(map(str, g)))


def moved_groups(base: Snapshot, cur: Snapshot) -> dict[Group, Group]:
    """Run group -> the baseline group of the same method it moved from (its epochs, dataset, benchmark
    version or space differ), for run groups the baseline lacks and baseline groups the runs lack."""
    lone_base = [g for g in base.groups() if g not in set(cur.groups())]
    out: dict[Group, Group] = {}
    for group in _sorted(set(cur.groups()) - set(base.groups())):
        same = [g for g in lone_base if g.method == group.method and g not in out.values()]
        if same:  # the closest: most key fields equal
            out[group] = max(same, key=lambda g: sum(a == b for a, b in zip(g, group)))
    return out


def _moved(mode: str, group: Group, was: Group) -> Verdict:
    what = [f"{f} {getattr(was, f)} -> {getattr(group, f)}" for f in Group._fields if getattr(was, f) != getattr(group, f)]
    return Verdict(mode, group, "changed", f"{group.method}: the runs' group moved from the baseline's ({'; '.join(what)})",
                   [f"baseline group: {was.label()}", f"runs' group: {group.label()}",
                    "a verdict compares runs of the baseline's group: run them so, or save a new baseline"])


def _groups(base: Snapshot, cur: Snapshot) -> tuple[list[Group], dict[Group, Group]]:
    """Groups to judge (moved-from baseline groups left out: their runs are judged as moved) and the moves."""
    moved = moved_groups(base, cur)
    return _sorted((set(base.groups()) | set(cur.groups())) - set(moved.values())), moved


def compare_changed(base: Snapshot, cur: Snapshot, settings: Settings | None = None) -> list[Verdict]:
    """The exact-replay verdict per group of the baseline and of the runs."""
    s = settings or base.settings
    out = []
    groups, moved = _groups(base, cur)
    for group in groups:
        if group in moved:
            out.append(_moved("changed", group, moved[group]))
            continue
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
        unreplayable = _numerics(base, cur, group, common)
        if unreplayable and not configs:
            out.append(unreplayable)
            continue
        for seed in [] if unreplayable else common:  # numbers from another machine say nothing more
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
        if unreplayable:
            notes += [unreplayable.summary.split(": ", 1)[1], *unreplayable.details]
        elif env:
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


def _numerics(base: Snapshot, cur: Snapshot, group: Group, seeds: Sequence[int]) -> Verdict | None:
    """"not replayable" when a seed's runs were made under another numerics fingerprint than its baseline."""
    from suite.numerics import describe, differences

    for seed in seeds:
        b, c = base.numerics(group, seed), cur.numerics(group, seed)
        diffs = differences(b[0] if b else {}, c[0] if c else {}) or (["a resume on another machine"] if len(c) > 1
                                                                       else [])
        if diffs:
            where = f"baseline on {describe(b[0]) if b else 'an unrecorded machine'}, runs on " \
                    f"{describe(c[-1]) if c else 'an unrecorded machine'}"
            return Verdict("changed", group, "not replayable", f"{group.method}: not replayable here: {where}",
                           [f"seed {seed}: {d}" for d in diffs] +
                           ["float results differ between these; 'worse' still judges the runs. To check exact "
                            "replay, save the baseline on this machine (or make both with --numerics portable)"])
    return None


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(map(str, seeds)) or "none"


def _group_status(stats: list[dict[str, Any]]) -> str:
    statuses = [s["status"] for s in stats]
    for st in ("worse", "missing metric", "insufficient seeds", "not comparable", "better"):
        if st in statuses:
            return st if st != "not comparable" or all(x == st for x in statuses) else "not worse"
    return "not worse"


def _verdict(mode: str, group: Group, stats: list[dict[str, Any]], problems: Sequence[str] = (),
             status: str | None = None) -> Verdict:
    """One group's verdict from its per-metric judgements: the worst status, its first metric's text."""
    status = status or _group_status(stats)
    shown = [st for st in stats if st["status"] == status] or stats
    summary = f"{group.method}: " + ("; ".join(problems) if problems else shown[0]["text"] if shown else status)
    return Verdict(mode, group, status, summary, [*problems, *(st["text"] for st in stats)], stats)


def compare_worse(base: Snapshot, cur: Snapshot, settings: Settings | None = None) -> list[Verdict]:
    """The statistical verdicts per group: ``worse`` (quality metrics) and ``cost`` (time, memory)."""
    s = settings or base.settings
    out = []
    costs = [(m, key) for m, key in COST.items() if getattr(s, key) is not None]
    modes = ["worse"] + (["cost"] if costs else [])
    groups, moved = _groups(base, cur)
    for group in groups:
        if group in moved:
            out.append(_moved("worse", group, moved[group]))
            continue
        if not cur.seeds(group) or not base.seeds(group):
            status = "not run" if not cur.seeds(group) else "no baseline"
            text = "no run of this group" if status == "not run" else "the baseline has no run of this group"
            out += [Verdict(mode, group, status, text) for mode in modes]
            continue
        runs = {sd: cur.runs[(group, sd)] for sd in cur.seeds(group)}
        failed = [f"seed {sd}: {r.get('flag') or r.get('status')}" for sd, r in runs.items() if r.get("status") == "failed"]
        unfinished = [f"seed {sd}: {r.get('flag') or r.get('status')}" for sd, r in runs.items()
                      if r.get("status") not in ("completed", "failed")]
        if not failed and len(unfinished) == len(runs):
            problem = (f"0 complete seeds of {len(runs)} run(s) ({'; '.join(unfinished)}): finish them with "
                       f"'dnas search --resume RUN_DIR' or run more seeds")
            out += [_verdict(mode, group, [], [problem], "insufficient seeds") for mode in modes]
            continue
        notes = [f"diagnostics, seed {sd}: {text}" for sd, r in runs.items() for text in r.get("diagnostics", [])]
        metrics = list(s.metrics) or [_primary(base, group)]
        stats = [judge_metric(m, base.values(group, m), cur.values(group, m), alpha=s.alpha,
                             min_effect=s.effect(m), n_resamples=s.n_resamples, seed=s.seed) for m in metrics]
        out.append(_verdict("worse", group, stats, failed, "failed" if failed else None))
        out[-1].details += notes
        if costs:
            cost = [judge_metric(m, base.values(group, m), cur.values(group, m), alpha=s.alpha,
                                 min_effect=getattr(s, key), relative=True, n_resamples=s.n_resamples, seed=s.seed)
                    for m, key in costs]
            for st in cost:  # an unmeasured cost is no regression of the search itself
                st["status"] = "not comparable" if st["status"] == "missing metric" else st["status"]
            out.append(_verdict("cost", group, cost))
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
    from ..stats import min_reachable_p_signed_rank, wilcoxon_signed_rank

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
            p_min = min_reachable_p_signed_rank(d)  # zero differences are dropped by the test
            p = wilcoxon_signed_rank(d, alternative="less" if hib else "greater")[1]
            p_better = wilcoxon_signed_rank(d, alternative="greater" if hib else "less")[1]
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
                text += (f"; with {int(np.count_nonzero(d))} nonzero differences of {len(c)} seeds the smallest "
                         f"reachable p is {p_min:.3g} >= alpha {s.alpha:g}")
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
