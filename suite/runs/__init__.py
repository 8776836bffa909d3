"""Runs: one lifecycle for searches and evaluations (config → checked inputs → run directory →
epochs with checkpoints → final record; failed and interrupted are states of the same run).

``config`` (RunConfig, SearchConfig, EvalConfig), ``lifecycle`` (create / resume / stop / fail /
record, written once), ``search`` (the search loop), ``evaluate`` (training through
``suite.train``), ``lookup`` (a search's per-epoch benchmark lookup), ``record`` (the environment
and cost records).
"""
from __future__ import annotations

from suite.errors import NonFiniteLoss

from .config import EvalConfig, RunConfig, SearchConfig, read_yaml_config
from .evaluate import resume_training, run_training
from .lookup import Lookup
from .search import restore_search, resume_search, run_search

__all__ = ["EvalConfig", "Lookup", "NonFiniteLoss", "RunConfig", "SearchConfig", "read_yaml_config", "restore_search",
           "resume_search", "resume_training", "run_search", "run_training"]
