"""Regression baselines and verdicts: has a search silently changed, or got worse?

A **baseline** is plain text meant to be committed: JSON lines with sorted keys, one record per
line. A header holds the verdict settings; a ``setup`` record per group and configuration
holds the resolved config and the environment that ran it; a ``run`` record per group and seed
holds the final architecture, final numbers and cost; an ``epoch`` record per run and epoch holds
the derived architecture and the per-epoch numbers rounded to 8 significant digits. A group is
(method, space, dataset, benchmark version, epochs).

Verdicts compare run directories with a baseline, group by group (``regress``: the one check the
command line, the pytest plugin and scripts use):

- **changed** (exact replay): the same seeds and config on the same numerics fingerprint
  (``suite.numerics``: CPU, PyTorch build, threads, device) must give the same architectures and
  numbers (within ``rtol``/``atol``); the verdict names the first epoch and quantity that differ,
  and every config difference. Between different fingerprints the verdict is "not replayable"
  (what differs is named), and a group whose key moved (epochs, dataset, ...) is changed.
- **worse** (statistical): per quality metric, a one-sided Mann-Whitney U test (exact, ties
  included: ``reports.stats.mann_whitney``) of baseline seeds against current seeds, a 95 %
  percentile-bootstrap interval of the difference in means (``scipy.stats.bootstrap``) and a
  minimum effect: "worse" needs p < alpha *and* a mean change at least the minimum effect in the
  wrong direction. When the seed counts cannot reach alpha at all (2 vs 2: p >= 1/6), or
  no run of the group is complete, the verdict is "insufficient seeds", never a pass. Search time and peak memory are gated the same way with a
  relative threshold (``cost``).
- **published**: the reviewed numbers in ``reports/references`` as a baseline (mean of the
  published runs): a one-sided Wilcoxon signed-rank test of the current seeds against the
  published mean, with the same minimum effect. Runs searched on another dataset or for another
  number of epochs than the published protocol are "not comparable", never a pass or a fail.

One module per concern: ``snapshot`` (groups, settings, numbers of run stores), ``baseline``
(the file), ``stats`` (the worse verdict's tests), ``verdicts``, ``check`` (the whole check) and
``output`` (text and JUnit).
"""
from __future__ import annotations

from .baseline import FORMAT, read_baseline, save_baseline
from .check import MODES, Outcome, regress
from .output import render, write_junit
from .snapshot import COST, DERIVED_WEIGHT, Group, Settings, Snapshot, collect, derived_weight, higher_is_better
from .judge import diff_interval, judge_metric, min_reachable_p
from .verdicts import (FAILING, NEUTRAL, PASSING, UNCHECKED, Verdict, compare_changed, compare_published,
                       compare_worse)

__all__ = ["COST", "DERIVED_WEIGHT", "FAILING", "FORMAT", "MODES", "NEUTRAL", "PASSING", "UNCHECKED", "Group",
           "Outcome", "Settings", "Snapshot", "Verdict", "collect", "compare_changed", "compare_published",
           "compare_worse", "derived_weight", "diff_interval", "higher_is_better", "judge_metric", "min_reachable_p",
           "read_baseline", "regress", "render", "save_baseline", "write_junit"]
