"""Reports: run stores and benchmarks into frames, tables, plots and statistics.

``reports.load(*runs)`` gives ``Results(runs, epochs)``; ``reports.html.write_report`` the
self-contained HTML report. Nothing in the suite imports this package except the CLI.
"""
from .load import Results, load

__all__ = ["Results", "load"]
