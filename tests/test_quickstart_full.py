"""The whole quickstart as a user runs it (``-m slow``: about 2-5 minutes on 2 cores): every method searches,
and the report sets each against the random architecture and random search."""
from __future__ import annotations

import json

import pytest

from reports import load
from suite.cli import main
from suite.quickstart import METHODS

pytestmark = pytest.mark.slow


def test_every_method_searches_and_the_report_has_its_baselines(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["failed"] == []
    runs = load(out / "runs").runs
    searches = runs[runs["kind"] == "search"]
    assert sorted(searches["method"].unique()) == sorted(METHODS) and searches["complete"].all()
    for method, g in searches.groupby("method"):
        moved = [not any(c.strip() in ("static", "no-arch-steps") for c in str(d).split(","))
                 for d in g["diagnostics"].fillna("")]
        assert any(moved), f"{method}: no seed's derived cell moved ({list(g['diagnostics'])})"
    page = (out / "report.html").read_text()
    for shown in ("random architecture (15,625 cells)", "random architecture (6,466 classes)", "regret", "scaled",
                  "percentile", "random search, same number of lookups", "Time to target", "did not search"):
        assert (shown in page) == (shown != "did not search"), shown
    figures = {p.stem for p in (out / "figures").glob("*.png")}
    assert {"anytime-cifar10-200-test-accuracy", "targets-cifar10-200-test-accuracy"} <= figures
