"""Reports: tables, plots and statistics from run stores and benchmarks (nothing imports reports).

Rank-correlation studies: ``rankcorr`` (statistics with bootstrap intervals, ``reports.ranks``),
SPEC-driven studies over benchmarks and tables (``reports.rankstudy``), plots (``reports.rankplots``).
"""
from .ranks import RankCorr, Stat, rankcorr, rankcorr_pairs

__all__ = ["RankCorr", "Stat", "rankcorr", "rankcorr_pairs"]
