"""Run diagnostics: flags that say a search's result is not what its numbers suggest.

Computed from what a run store holds (per-epoch derived architectures and losses, the config), so a
report, ``dnas runs`` and ``dnas regress`` can show them beside the run. Each flag has a code and one
line that says what it means:

- ``static``: the derived architecture never changed (two or more epochs): the result is the
  initialisation, not a search's;
- ``no-arch-steps``: the architecture optimizer never stepped (warm-up ``arch_start_epoch`` >= epochs);
- ``collapse``: parameter-free ops (skip, pooling, none) hold at least ``COLLAPSE_SHARE`` of the
  derived cell's edges, or no path of non-``none`` edges joins the cell's input to its output;
- ``nan-loss``: a supernet loss became NaN or infinite (a validation loss not measured yet, during the
  architecture warm-up, is not one);
- ``diverging``: the last epoch's train loss is at least ``DIVERGE_RATIO`` times its lowest;
- ``not-converged``: the derived architecture still changed in the last ``CONVERGE_TAIL`` of the epochs.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, Sequence

COLLAPSE_SHARE = 0.75
"""Share of parameter-free edges at or above which a derived cell counts as collapsed (NB201: 5 of 6
edges; DARTS: 12 of 16 of the normal and reduction cells' edges). DARTS-V1's NB201 result, the all-skip
cell, is the classic case (Dong & Yang, ICLR 2020)."""
DIVERGE_RATIO = 2.0
"""Final train loss at least this many times the run's lowest: diverging."""
CONVERGE_TAIL = 0.2
"""The last fifth of the epochs (at least the last change between two epochs) is where a converged
search no longer changes its derived architecture."""
PARAMETER_FREE = {"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"}
"""Ops without weights in the NB201 and DARTS spaces."""


@dataclasses.dataclass(frozen=True)
class Flag:
    """One diagnostic of one run: a short code and the line that says what it means for the result."""

    code: str
    text: str


MEANING = {
    "static": "the derived architecture never changed: the result is the initialisation, not a search's",
    "no-arch-steps": "the architecture optimizer never stepped (its warm-up is as long as the run)",
    "collapse": "the derived cell collapsed to parameter-free ops (or a disconnected cell)",
    "nan-loss": "a supernet loss became NaN or infinite",
    "diverging": "the train loss ended at least twice its lowest: the supernet diverged",
    "not-converged": "the derived architecture still changed in the last epochs: not converged",
}
"""Every flag's one-line meaning (the docs list the same)."""


def _edges(space: str, arch: str) -> list[str] | None:
    """The ops on the derived cell's edges; None for a space without cells or an arch that does not parse."""
    from suite.spaces import darts, nb201

    try:
        if space == "nb201":
            return list(nb201.Arch.parse(arch).ops)
        if space == "darts":
            g = darts.Genotype.parse(arch)
            return [op for cell in ("normal", "reduce") for node in g.nodes(cell) for op, _ in node]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def collapsed(space: str, arch: str) -> str | None:
    """Why ``arch`` counts as collapsed (a phrase), or None."""
    from suite.spaces import nb201

    ops = _edges(space, arch)
    if not ops:
        return None
    if space == "nb201" and nb201.Arch.parse(arch).is_degenerate():
        return "no path of non-none edges joins the cell's input to its output"
    free = sum(op in PARAMETER_FREE for op in ops)
    if free / len(ops) >= COLLAPSE_SHARE:
        return f"{free} of {len(ops)} edges parameter-free"
    return None


def diagnose(archs: Sequence[Any], config: Mapping[str, Any], space: str,
             losses: Mapping[str, Sequence[float]] | None = None, epochs_planned: int | None = None) -> list[Flag]:
    """The flags of one search run from its per-epoch derived architectures (in epoch order), its config
    (``hparams.arch_start_epoch``, ``hparams.epochs``), space and per-epoch losses (name -> values)."""
    hp = config.get("hparams") or {}
    flags: list[Flag] = []
    seq = [a for a in archs if isinstance(a, str) and a]
    planned = epochs_planned or hp.get("epochs")
    start = hp.get("arch_start_epoch")
    if isinstance(start, int) and isinstance(planned, int) and start >= planned:
        flags.append(Flag("no-arch-steps", f"{MEANING['no-arch-steps']}: arch_start_epoch {start} >= epochs "
                                           f"{planned}"))
    if len(seq) >= 2 and len(set(seq)) == 1:
        flags.append(Flag("static", f"{MEANING['static']} ({len(seq)} epochs, one cell)"))
    elif len(seq) >= 3:
        tail = max(1, math.ceil(CONVERGE_TAIL * (len(seq) - 1)))
        changes = sum(a != b for a, b in zip(seq[-tail - 1:-1], seq[-tail:]))
        if changes:
            flags.append(Flag("not-converged", f"{MEANING['not-converged']} ({changes} change(s) in the last "
                                               f"{tail} epoch transition(s))"))
    if seq and (why := collapsed(space, seq[-1])):
        flags.append(Flag("collapse", f"{MEANING['collapse']}: {why}"))
    for name, values in (losses or {}).items():
        vals = [float(v) for v in values if v is not None]
        while name != "train_loss" and vals and math.isnan(vals[0]):
            vals.pop(0)  # not measured yet: no validation loss before the architecture warm-up ends
        if any(not math.isfinite(v) for v in vals):
            flags.append(Flag("nan-loss", f"{MEANING['nan-loss']} ({name})"))
            break
        if name == "train_loss" and len(vals) >= 2 and min(vals) > 0 and vals[-1] >= DIVERGE_RATIO * min(vals):
            flags.append(Flag("diverging", f"{MEANING['diverging']} ({vals[-1]:.4g} vs {min(vals):.4g})"))
    return flags


def codes(flags: Iterable[Flag]) -> str:
    """The flags as one short cell for a table: 'static, collapse' (empty when there is none)."""
    return ", ".join(f.code for f in flags)


def diagnose_run(path: Any) -> list[Flag]:
    """The flags of the search run stored at ``path`` (an evaluation, or a run without epochs, has none)."""
    from suite.runstore import RunStore

    store = RunStore(path)
    config = store.config
    if config.get("kind", "search") != "search" or not config.get("method"):
        return []
    m = store.metrics
    if not len(m) or "arch" not in m:
        return []
    m = m.sort_values("epoch")
    losses = {k: list(m[k]) for k in ("train_loss", "valid_loss") if k in m}
    return diagnose(list(m["arch"]), config, str(config.get("space", "nb201")), losses)
