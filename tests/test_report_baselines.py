"""The report's diagnostics and random baselines: runs built to carry each flag show them in the results
frame, the comparison tables and on the page (in a real browser too); every comparison table carries the
random-architecture rows and each method's normalised scores and random search at equal cost, all checked
against the benchmark table itself (brute force), never against numbers written down here."""
from __future__ import annotations

import html
import itertools
import json
import re
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks
from reports import load, tables
from reports.baselines import random_search_beaten
from reports.diagnostics import MEANING
from reports.load import is_lookup
from suite.cli import main
from test_reports import browser_binary  # noqa: F401  (the same Chromium fixture)

KEY = "cifar10@200/test-accuracy"
SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
TINY = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 16, "channels": 4, "depth": 1, "arch_lr": 0.3}


def _search(out: Path, method: str, name: str, seed: int, regression: str | None, start: int) -> None:
    from suite.testing.regress_plugin import run_one

    run_one({"method": method, "space": "nb201", "dataset": "digits", "bench": "nb201", "seed": seed, "device": "cpu",
             "out": str(out), "name": name, "threads": 1, "regression": regression,
             "hparams": {**TINY, "arch_start_epoch": start}})


def _collapse(run: Path) -> None:
    """Make the run's last epoch derive the all-skip cell, looked up as the search would have."""
    bench = benchmarks.open("nb201")
    metrics = pd.read_parquet(run / "metrics.parquet")
    last = metrics.index[-1]
    metrics.loc[last, "arch"] = SKIPS
    final = json.loads((run / "final.json").read_text())
    for col in [c for c in metrics.columns if is_lookup(c)]:
        head, _, metric = col.partition("/")
        dataset, _, epochs = head.partition("@")
        metrics.loc[last, col] = final["lookups"][col] = bench.query(SKIPS, dataset, metric, int(epochs))
    final["arch"] = SKIPS
    metrics.to_parquet(run / "metrics.parquet")
    (run / "final.json").write_text(json.dumps(final))


@pytest.fixture(scope="module")
def flagged(tmp_path_factory) -> Path:
    """gdas x 2 seeds with α frozen (static: did not search); darts-v1 whose optimizer's warm-up outlasts
    the run (no-arch-steps: did not search); darts-v1 x 2 seeds that search, seed 1 ending in the all-skip
    cell (collapse)."""
    root = tmp_path_factory.mktemp("flagged")
    for seed in (0, 1):
        _search(root, "gdas", f"gdas-frozen-s{seed}", seed, "freeze-arch", 0)
        _search(root, "darts-v1", f"darts-s{seed}", seed, None, 0)
    _search(root, "darts-v1", "darts-warmup-s0", 0, None, 5)
    _collapse(root / "darts-s1")
    return root


@pytest.fixture(scope="module")
def loaded(flagged):
    return load(flagged)


def _codes(cell: str) -> set[str]:
    return {c.strip() for c in cell.split(",") if c.strip()}


def test_results_frame_carries_each_runs_flags(loaded):
    runs = loaded.runs.set_index("run")
    assert _codes(runs.loc["gdas-frozen-s0", "diagnostics"]) >= {"static"}
    assert _codes(runs.loc["gdas-frozen-s1", "diagnostics"]) >= {"static"}
    assert _codes(runs.loc["darts-warmup-s0", "diagnostics"]) >= {"no-arch-steps", "static"}
    assert "collapse" in _codes(runs.loc["darts-s1", "diagnostics"])
    assert not _codes(runs.loc["darts-s0", "diagnostics"]) & {"static", "no-arch-steps"}
    for run, row in runs.iterrows():  # every code has its line, meaning included
        for code in _codes(row["diagnostics"]):
            assert f"{code}: {MEANING[code]}" in row["diagnostics_text"], (run, code)
    epochs = loaded.epochs
    for run, row in runs.iterrows():
        assert row["archs_looked_up"] == epochs.loc[epochs["run"] == run, "arch"].nunique()


def _method_rows(frame: pd.DataFrame, metric: str = KEY) -> pd.DataFrame:
    return frame[(frame["row"] == "runs") & (frame["metric"] == metric)].set_index("method")


def test_comparison_counts_flags_per_method_and_says_who_did_not_search(loaded):
    runs = loaded.runs
    frame = tables.comparison(runs, [KEY], n_resamples=100)
    rows = _method_rows(frame)
    gdas = rows.loc["gdas"]
    assert "static 2/2" in gdas["flags"] and gdas["note"].startswith("did not search")
    labels = tables._method_labels(runs[runs["kind"] == "search"])
    searching = [m for m in rows.index if m.startswith("darts-v1") and
                 (runs.loc[labels[labels == m].index, "run"] == "darts-s0").any()][0]
    warm = [m for m in rows.index if m.startswith("darts-v1") and m != searching][0]
    assert {"no-arch-steps 1/1", "static 1/1"} <= set(rows.loc[warm, "flags"].split(", "))
    assert rows.loc[warm, "note"].startswith("did not search")
    collapsed = int(runs.loc[labels[labels == searching].index, "diagnostics"].map(
        lambda d: "collapse" in _codes(d)).sum())
    assert f"collapse {collapsed}/2" in rows.loc[searching, "flags"] and collapsed >= 1
    assert pd.isna(rows.loc[searching, "note"])  # it searched
    shown = tables.display(frame[frame["row"] == "runs"]).set_index("method")
    assert "did not search" in shown.loc["gdas", "source"] and "static 2/2" in shown.loc["gdas", "flags"]
    ov = tables.overview(frame).set_index("method")
    assert "did not search" in ov.loc["gdas", "flags"] and "did not search" not in ov.loc[searching, "flags"]


def _brute_classes(bench, values: np.ndarray) -> np.ndarray:
    first: dict[str, int] = {}
    for i, a in enumerate(bench.archs):
        first.setdefault(bench.space.parse(a).unique_str(), i)
    return values[sorted(first.values())]


def test_random_architecture_rows_in_every_format(loaded):
    runs = loaded.runs
    bench = benchmarks.open("nb201")
    baselines = tables.random_baselines(runs, [KEY, "search_cpu_hours"])
    assert set(baselines) == {(bench.version, KEY)}  # lookups only
    frame = tables.comparison(runs, [KEY, "search_cpu_hours"], baselines=baselines, n_resamples=100)
    values = np.asarray(bench.query_many("all", "cifar10", "test-accuracy", 200), dtype=float)
    classes = _brute_classes(bench, values)
    rnd = frame[frame["row"] == "random"].set_index("method")
    assert set(rnd["metric"]) == {KEY}  # no random row for a cost
    for name, x in ((f"random architecture ({len(values):,} cells)", values),
                    (f"random architecture ({len(classes):,} classes)", classes)):
        r = rnd.loc[name]
        assert r["n"] == len(x) and r["mean"] == pytest.approx(x.mean()) and r["std"] == pytest.approx(x.std())
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(np.quantile(x, [0.05, 0.95])))
        assert r["scaled"] == pytest.approx((values.max() - x.mean()) / (values.max() - values.mean()))
    md, tex, page = (tables.render(frame, f) for f in ("markdown", "latex", "html"))
    csv = pd.read_csv(StringIO(tables.render(frame, "csv")))
    for name in rnd.index:
        assert name in md and name in page and name.replace("%", r"\%") in tex
        assert (csv["method"] == name).sum() == 1
    lo, hi = (f"{v:.2f}" for v in np.quantile(values, [0.05, 0.95]))
    assert f"5–95 % quantiles {lo}–{hi}" in md and 'class="data row' in page and " random" in page


def test_normalised_scores_and_random_search_at_equal_cost(loaded):
    runs = loaded.runs
    bench = benchmarks.open("nb201")
    values = np.asarray(bench.query_many("all", "cifar10", "test-accuracy", 200), dtype=float)
    unique = _brute_classes(bench, values)
    opt, mean = values.max(), values.mean()
    frame = tables.comparison(runs, [KEY], baselines=tables.random_baselines(runs, [KEY]), n_resamples=100)
    rows = _method_rows(frame)
    labels = tables._method_labels(runs[runs["kind"] == "search"])
    for method, row in rows.iterrows():
        seeds = runs.loc[labels[labels == method].index]
        v = seeds[KEY].to_numpy(dtype=float)
        k = seeds["archs_looked_up"].to_numpy(dtype=int)
        assert row["regret"] == pytest.approx(np.mean(opt - v))
        assert row["scaled"] == pytest.approx(np.mean((opt - v) / (opt - mean)))
        pct = [100 * (np.sum(unique < x) + 0.5 * np.sum(unique == x)) / len(unique) for x in v]
        assert row["percentile"] == pytest.approx(np.mean(pct))
        # random search with the same number of lookups: k cells drawn at random, best taken (simulated)
        rng = np.random.default_rng(0)
        sims = [values[rng.integers(0, len(values), size=(200_000, kk))].max(axis=1) for kk in k]
        expected = np.mean([s.mean() for s in sims])
        assert row["random_search"] == pytest.approx(expected, abs=4 * max(s.std() for s in sims) / 200_000 ** .5)
        beats = np.mean([np.mean(s < x) + 0.5 * np.mean(s == x) for s, x in zip(sims, v)])
        assert row["p_beats_random_search"] == pytest.approx(beats, abs=0.01)
    # the all-skip cell: far worse than a random architecture, scored from the table itself
    skip = bench.query(SKIPS, "cifar10", "test-accuracy", 200)
    dist = tables.random_baselines(runs, [KEY])[(bench.version, KEY)]
    assert dist.scores(skip)["scaled"] == pytest.approx((opt - skip) / (opt - mean)) and (opt - skip) / (opt - mean) > 1


@pytest.mark.parametrize("higher", [True, False])
def test_probability_of_beating_k_random_cells_equals_enumeration(higher):
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    for k, v in itertools.product((1, 2, 3), (0.5, 1.0, 3.5, 4.0, 6.0)):
        draws = list(itertools.product(values, repeat=k))
        best = [max(d) if higher else min(d) for d in draws]
        brute = np.mean([(v > b if higher else v < b) + 0.5 * (v == b) for b in best])
        assert random_search_beaten(values, v, k, higher_is_better=higher) == pytest.approx(brute, rel=1e-12)
    assert np.isnan(random_search_beaten(values, float("nan"), 2))


def test_report_page_banner_and_tables(flagged, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(flagged), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    page = (out / "report.html").read_text()
    banner = html.unescape(page[page.index('<div class="flags"'):page.index("</div>", page.index('<div class="flags"'))])
    assert page.index('<div class="flags"') < page.index('id="comparison"')  # at the top
    assert "2 methods' results are their initial architecture" in banner and "gdas" in banner
    runs = load(flagged).runs
    for code in set().union(*runs["diagnostics"].map(_codes)):
        assert f"<code>{code}</code>: {MEANING[code]}" in banner
    for line in tables.NOTES.values():
        assert line in html.unescape(page)
    assert "random architecture (15,625 cells)" in page and "random architecture (6,466 classes)" in page
    md = (out / "tables" / "comparison.md").read_text()
    assert re.search(r"\| flags +\|", md) and "static 2/2" in md and "random architecture (15,625 cells)" in md


def test_no_banner_without_flags(loaded):
    from reports.html import flag_banner

    runs = loaded.runs.copy()
    assert flag_banner(runs)
    runs["diagnostics"] = ""
    assert flag_banner(runs) == ""


VISIBLE = """JSON.stringify((() => {
  const box = e => { const r = e.getBoundingClientRect(); return {top: r.top + scrollY, w: r.width, h: r.height}; };
  const banner = document.querySelector('.flags');
  const heads = [...document.querySelectorAll('th')].filter(t => t.innerText.trim() === 'flags');
  const cells = [...document.querySelectorAll('td')].filter(t => t.innerText.includes('static 2/2'));
  return {banner: banner ? {...box(banner), text: banner.innerText} : null,
          comparison: box(document.getElementById('comparison')),
          heads: heads.map(box), cells: cells.map(box)};
})())"""


def test_flags_visible_in_chromium(browser_binary, flagged, tmp_path):  # noqa: F811
    import chromium

    out = tmp_path / "report"
    assert main(["report", str(flagged), "--out", str(out)]) == 0
    with chromium.Browser(browser_binary) as b:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.send("Page.enable", session=s)
        b.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                      "mobile": False}, session=s)
        b.send("Page.navigate", {"url": (out / "report.html").resolve().as_uri()}, session=s)
        b.wait_for("Page.loadEventFired", s)
        got = json.loads(b.send("Runtime.evaluate", {"expression": VISIBLE, "returnByValue": True},
                                session=s)["result"]["value"])
    banner = got["banner"]
    assert banner and banner["w"] > 300 and banner["h"] > 30 and banner["top"] < got["comparison"]["top"]
    assert "results are their initial architecture" in banner["text"] and "gdas" in banner["text"]
    assert MEANING["static"] in banner["text"]
    assert got["heads"] and all(h["w"] > 10 and h["h"] > 5 for h in got["heads"])
    assert got["cells"] and all(c["w"] > 10 and c["h"] > 5 for c in got["cells"])


def test_anytime_figure_sets_each_method_against_random_search_at_equal_lookups(loaded):
    from reports import plots
    from reports.baselines import random_search_best

    runs, epochs = loaded
    dist = tables.random_baselines(runs, [KEY])[(benchmarks.open("nb201").version, KEY)]
    figs = plots.figures(runs, epochs, tables.benchmark_optimum(runs, [KEY]), [KEY], tables.random_baselines(runs))
    ax = figs[f"anytime-{plots._slug(KEY)}"].axes[0]
    assert "CPU-hours" in ax.get_xlabel() and ax.get_ylabel() == tables.label(KEY)  # CPU runs: no GPU-hours
    lines = {line.get_label(): line for line in ax.lines}
    searches = epochs[epochs["kind"] == "search"].sort_values(["path", "epoch"])
    for method, g in searches.groupby("method"):
        shown = lines[f"{method} (n={g['path'].nunique()})"]
        assert np.allclose(shown.get_ydata(), g.groupby("epoch")[KEY].mean())
        seen = [len(set(a.iloc[:i + 1])) for _, a in g.groupby("path")["arch"] for i in range(len(a))]
        expected = pd.Series([random_search_best(dist.values, k) for k in seen], index=g.index).groupby(
            g["epoch"]).mean()
        assert np.allclose(lines[f"random search, as many lookups as {method}"].get_ydata(), expected)
        wall = g.groupby("epoch")["wall_time_s"].mean() / 3600  # one process each
        assert np.allclose(shown.get_xdata(), wall)
    assert f"benchmark optimum {dist.optimum:.2f}" in lines and f"random architecture {dist.values.mean():.2f}" in lines
    plain = plots.anytime(epochs, runs, KEY)  # no table: the method lines alone
    assert not any(line.get_label().startswith("random search") for line in plain.axes[0].lines)
