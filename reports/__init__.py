"""Reports: run stores and benchmarks into frames, tables, plots and statistics.

``reports.load(*runs)`` gives ``Results(runs, epochs)``; ``reports.html.write_report`` the
self-contained HTML report. Rank-correlation studies: ``rankcorr`` (statistics with bootstrap
intervals, ``reports.ranks``), SPEC-driven studies over benchmarks and tables
(``reports.rankstudy``), plots (``reports.rankplots``). Nothing in the suite imports this
package except the CLI.
"""
from .load import Results, load
from .ranks import RankCorr, Stat, rankcorr, rankcorr_pairs

__all__ = ["RankCorr", "Results", "Stat", "load", "rankcorr", "rankcorr_pairs"]
