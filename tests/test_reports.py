"""Reports: the results frame (failed and running runs included), statistics against scipy, every
table format, every figure, ``dnas report`` on a directory of real (tiny) digits runs, and the
report in a real headless browser.

Chromium comes from the system packages. In CI (``CI=true``) it is installed with apt-get when
absent and the browser test never skips; elsewhere it skips with the command to install it.
"""
from __future__ import annotations

import html.parser
import itertools
import json
import math
import re
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import chromium
import syspkg
from conftest import TSS_REL, nan_step, reference_data
import reports
from reports import load, plots, stats, tables
from suite.cli import main

SMALL = {"channels": 8, "depth": 1, "batch_size": 64, "epochs": 2}
TRUTH = "cifar10@200/test-accuracy"


@pytest.fixture(scope="session")
def nb201_table(tmp_path_factory) -> Path:
    """An NB201 table imported from the published CSVs: cifar10 200-epoch test, cifar10-valid 12-epoch valid."""
    from benchmarks.importer import import_table

    out = tmp_path_factory.mktemp("tables") / "nb201"
    order = reference_data(TSS_REL)
    import_table(reference_data("nb201-200ep-test-accuracy.csv"), arch_column="ArchitectureString",
                 metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"}, dataset="cifar10", epochs=200,
                 version="NATS-tss-v1_0-3ffb9", out=out, order=order)
    import_table(reference_data("nb201-12ep-accuracy.csv"), arch_column="cellstr",
                 metrics={"valid-accuracy": "cifar10-val"}, dataset="cifar10-valid", epochs=12,
                 version="NATS-tss-v1_0-3ffb9", out=out, order=order)
    return out


@pytest.fixture(scope="session")
def run_root(tmp_path_factory, nb201_table) -> Path:
    """Tiny real runs: darts-v1 and gdas x 2 seeds, two evaluations from searches, one search that
    failed (NaN at epoch 1) and one still running (1 of 2 epochs written, status running).
    One thread each: tiny networks gain nothing from more, and extra threads thrash on a busy machine."""
    from suite.runs import EvalConfig, run_training
    from methods.darts import DARTS
    from suite.runs import NonFiniteLoss, SearchConfig, run_search

    root = tmp_path_factory.mktemp("runs")
    for method, seed in itertools.product(("darts-v1", "gdas"), (0, 1)):
        run_search(SearchConfig(method=method, dataset="digits", seed=seed, bench=str(nb201_table), out=str(root),
                                name=f"{method}-s{seed}", hparams=SMALL, threads=1), progress=False)
    for method in ("darts-v1", "gdas"):
        arch = json.loads((root / f"{method}-s0" / "final.json").read_text())["arch"]
        run_training(EvalConfig(arch, "nats-12", "digits", out=str(root), name=f"eval-{method}-s0",
                                overrides={"epochs": 2, "channels": 8, "depth": 1, "batch_size": 64}, threads=1,
                                from_run=str(root / f"{method}-s0")), progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DARTS, "step", nan_step(DARTS, 1))
        with pytest.raises(NonFiniteLoss):
            run_search(SearchConfig(method="darts-v1", dataset="digits", seed=2, bench=str(nb201_table),
                                    out=str(root), name="darts-v1-failed", hparams=SMALL, threads=1), progress=False)
    running = run_search(SearchConfig(method="gdas", dataset="digits", seed=2, bench=str(nb201_table),
                                      out=str(root), name="gdas-running", hparams=SMALL, threads=1), progress=False,
                         stop_after=1)
    running.set_status("running")  # exactly what a search in progress leaves on disk after its first epoch,
    from suite.processes import owner
    from suite.runstore import LOCK

    (running.path / LOCK).write_text(json.dumps(owner()))  # with its lock naming its (live) writer
    (root / "being-created").mkdir()  # a run directory whose config.yaml is not written yet
    return root


@pytest.fixture(scope="session")
def results(run_root):
    return load(run_root)


def test_frame_keeps_and_flags_every_run(results, run_root, nb201_table):
    runs, epochs = results
    assert len(runs) == 8 and sorted(runs["kind"].value_counts().items()) == [("evaluation", 2), ("search", 6)]
    by = runs.set_index("run")
    assert by.loc["darts-v1-failed", "status"] == "failed" and not by.loc["darts-v1-failed", "complete"]
    assert by.loc["darts-v1-failed", "flag"].startswith("failed: non-finite train_loss at epoch 1")
    assert by.loc["gdas-running", "flag"] == "running: 1 of 2 epochs done"
    assert not by.loc["gdas-running", "arch_is_final"] and by.loc["gdas-running", "arch"].startswith("|")
    assert by.loc["gdas-running", "search_cpu_hours"] > 0  # cost so far
    complete = runs[runs["complete"]]
    assert len(complete) == 6 and set(complete["flag"]) == {""}
    assert set(runs.loc[runs["kind"] == "search", "bench_version"]) == {"NATS-tss-v1_0-3ffb9"}
    # lookups: the final architecture's value, as the table gives it
    import benchmarks

    bench = benchmarks.open(nb201_table)
    row = by.loc["darts-v1-s1"]
    assert row[TRUTH] == bench.query(row["arch"], "cifar10", "test-accuracy", 200)
    # an evaluation made from a search run gives that run its trained accuracy and cost
    ev = json.loads((run_root / "eval-darts-v1-s0" / "final.json").read_text())
    assert by.loc["darts-v1-s0", "trained_test_accuracy"] == ev["metrics"]["ori-test-accuracy"]
    assert by.loc["darts-v1-s0", "eval_cpu_hours"] == ev["cost"]["cpu_hours"]
    assert by.loc["darts-v1-s0", "params_m"] == ev["cost"]["params_m"] and by.loc["darts-v1-s0", "n_evals"] == 1
    assert pd.isna(by.loc["darts-v1-s1", "trained_test_accuracy"]) and by.loc["darts-v1-s1", "n_evals"] == 0
    assert by.loc["eval-gdas-s0", "method"] == "gdas" and by.loc["eval-gdas-s0", "source_seed"] == 0
    # one row per run and epoch
    assert len(epochs) == 4 * 2 + 2 * 2 + 1 + 1
    assert list(epochs.loc[epochs["run"] == "gdas-running", "epoch"]) == [0]
    assert set(epochs.loc[epochs["kind"] == "evaluation", "method"]) == {"darts-v1", "gdas"}
    # globs and single directories name the same runs
    assert sorted(load(str(run_root / "*")).runs["run"]) == sorted(runs["run"])
    assert list(load(run_root / "gdas-s1").runs["run"]) == ["gdas-s1"]


def test_bad_paths_are_one_line_errors(tmp_path, capsys):
    from suite.errors import DnasError

    with pytest.raises(DnasError, match="does not exist"):
        load(tmp_path / "nope")
    with pytest.raises(DnasError, match="holds no run directories"):
        load(tmp_path)
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("dnas: error: ")


# ---- statistics -------------------------------------------------------------------------------

def test_bootstrap_equals_scipy():
    from scipy.stats import bootstrap

    x = np.array([93.1, 91.7, 92.4, 94.0, 90.2])
    for seed in (0, 7):
        ours = stats.bootstrap_ci(x, n_resamples=4000, seed=seed)
        ref = bootstrap((x,), np.mean, method="percentile", n_resamples=4000, vectorized=True,
                        rng=np.random.default_rng(seed)).confidence_interval
        assert ours == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([93.0]))


def _exact_greater_p(a, b):
    """P(U >= observed) under the null, by enumerating every split of the pooled values."""
    pooled = np.concatenate([a, b])
    u_obs = stats.prob_improvement(a, b) * len(a) * len(b)
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        rest = [i for i in range(len(pooled)) if i not in idx]
        u = stats.prob_improvement(pooled[list(idx)], pooled[rest]) * len(a) * len(b)
        hits += u >= u_obs - 1e-9
        total += 1
    return hits / total


@pytest.mark.parametrize("a,b", [([93.2, 94.1, 92.8], [91.0, 92.9, 90.5, 92.0]),
                                 ([54.3, 54.3], [93.6, 93.5]), ([90.0, 91.0], [89.0, 92.0])])
def test_mann_whitney_and_probability_of_improvement(a, b):
    from scipy.stats import mannwhitneyu

    a, b = np.array(a), np.array(b)
    u, p = stats.mann_whitney(a, b)
    assert p == pytest.approx(_exact_greater_p(a, b), abs=1e-12)
    assert u == mannwhitneyu(a, b, alternative="greater").statistic
    assert stats.prob_improvement(a, b) == pytest.approx(u / (len(a) * len(b)))
    assert stats.prob_improvement(a, b) + stats.prob_improvement(b, a) == pytest.approx(1.0)
    # lower is better (cost): the same test on the negated values
    u_low, p_low = stats.mann_whitney(a, b, higher_is_better=False)
    assert (u_low, p_low) == pytest.approx(stats.mann_whitney(-a, -b))
    assert stats.prob_improvement(a, b, higher_is_better=False) == pytest.approx(stats.prob_improvement(-a, -b))


def test_two_seeds_can_never_be_significant():
    assert stats.mann_whitney([99.0, 98.0], [1.0, 2.0])[1] == pytest.approx(1 / 6)
    assert stats.mann_whitney([99.0], [1.0]) == pytest.approx((1.0, 0.5))  # one seed a side: scipy's exact U


def test_summary_and_rank_agreement():
    from scipy.stats import kendalltau, spearmanr

    s = stats.summarize([91.0, 94.5, 92.0], seeds=[0, 1, 2])
    assert s["n"] == 3 and s["mean"] == pytest.approx(92.5) and s["std"] == pytest.approx(np.std([91, 94.5, 92],
                                                                                                    ddof=1))
    assert (s["best"], s["best_seed"], s["worst"], s["worst_seed"]) == (94.5, 1, 91.0, 0)
    cost = stats.summarize([0.2, 0.1], seeds=[0, 1], higher_is_better=False)
    assert (cost["best_seed"], cost["worst_seed"]) == (1, 0)
    x, y = [1.0, 2.0, 3.0, np.nan, 5.0, 4.0], [2.0, 1.0, 4.0, 3.0, 6.0, np.inf]
    r = stats.rank_agreement(x, y)
    keep = [0, 1, 2, 4]
    assert r["n"] == 4 and r["n_dropped"] == 2
    assert r["kendall_tau"] == pytest.approx(kendalltau(np.take(x, keep), np.take(y, keep)).statistic)
    assert r["spearman_rho"] == pytest.approx(spearmanr(np.take(x, keep), np.take(y, keep)).statistic)


# ---- tables -----------------------------------------------------------------------------------

def test_comparison_frame(results, nb201_table):
    runs, _ = results
    opt = tables.benchmark_optimum(runs)
    assert opt.set_index("metric").loc[TRUTH, "value"] == pytest.approx(94.37333333)  # index 6111
    assert opt.set_index("metric").loc[TRUTH, "index"] == 6111
    frame = tables.comparison(runs, optimum=opt, references=tables.load_references(), n_resamples=2000)
    ours = frame[(frame["row"] == "runs") & (frame["metric"] == TRUTH)].set_index("method")
    values = runs[(runs["method"] == "gdas") & runs["complete"] & (runs["kind"] == "search")][TRUTH]
    assert ours.loc["gdas", "n"] == 2 and ours.loc["gdas", "n_incomplete"] == 1  # the running one is counted apart
    assert ours.loc["gdas", "mean"] == pytest.approx(values.mean())
    assert ours.loc["gdas", "std"] == pytest.approx(values.std(ddof=1))
    assert ours.loc["darts-v1", "n"] == 2 and ours.loc["darts-v1", "n_incomplete"] == 1  # the failed one
    lo, hi = stats.bootstrap_ci(values.to_numpy(), n_resamples=2000)
    assert (ours.loc["gdas", "ci_low"], ours.loc["gdas", "ci_high"]) == pytest.approx((lo, hi))
    refs = frame[(frame["row"] == "reference") & (frame["metric"] == TRUTH)].set_index("method")
    assert refs.loc["GDAS (published)", "mean"] == 93.61 and refs.loc["GDAS (published)", "std"] == 0.09
    assert "NAS-Bench-201-v1_0-e61699" in refs.loc["GDAS (published)", "source"]
    assert set(frame["metric"]) >= {TRUTH, "cifar10-valid@12/valid-accuracy", "trained_test_accuracy",
                                    "search_cpu_hours", "eval_cpu_hours", "params_m"}
    trained = frame[(frame["metric"] == "trained_test_accuracy") & (frame["row"] == "runs")].set_index("method")
    assert trained.loc["gdas", "n"] == 1  # only seed 0 was trained


def test_benchmark_versions_are_never_averaged(results, tmp_path, run_root):
    shutil.copytree(run_root / "gdas-s1", tmp_path / "gdas-other")
    env = json.loads((tmp_path / "gdas-other" / "environment.json").read_text())
    env["benchmark"]["version"] = "NAS-Bench-201-v1_1-096897"
    (tmp_path / "gdas-other" / "environment.json").write_text(json.dumps(env))
    runs = load(run_root, tmp_path).runs
    frame = tables.comparison(runs, [TRUTH], n_resamples=100)
    gdas = frame[(frame["method"] == "gdas") & (frame["row"] == "runs")].set_index("bench_version")
    assert gdas.loc["NATS-tss-v1_0-3ffb9", "n"] == 2 and gdas.loc["NAS-Bench-201-v1_1-096897", "n"] == 1
    pair = tables.pairwise(runs, TRUTH)
    assert set(pair.groupby("bench_version").size().index) == {"NATS-tss-v1_0-3ffb9"}  # one method: no pair


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cells = 0, 0

    def handle_starttag(self, tag, attrs):
        self.rows += tag == "tr"
        self.cells += tag == "td"


LATEX_TEXT = {r"\%": "%", r"\&": "&", r"\_": "_", r"\#": "#", r"\$": "$", r"\{": "{", r"\}": "}", "$\\pm$": "±",
              "--": "–", r"\textasciitilde ": "~", r"\textasciicircum ": "^", r"\textbackslash ": "\\"}


def _cells_markdown(text: str) -> list[list[str]]:
    rows = [line for i, line in enumerate(text.splitlines()) if i != 1]
    return [[c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in rows]


def _cells_latex(text: str) -> list[list[str]]:
    body = text.split(r"\toprule")[1].split(r"\bottomrule")[0].replace(r"\midrule", "")
    out = []
    for line in [x for x in body.strip().splitlines() if x.strip()]:
        cells = re.split(r"(?<!\\)&", line.rstrip().removesuffix(r"\\"))
        row = []
        for c in cells:
            c = c.strip()
            for a, b in LATEX_TEXT.items():
                c = c.replace(a, b)
            row.append(c)
        out.append(row)
    return out


class _Table(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _cells_html(text: str) -> list[list[str]]:
    parser = _Table()
    parser.feed(text)
    return parser.rows


def test_every_table_format_shows_the_same_cells(results, tmp_path):
    """Markdown, LaTeX and HTML (through pandas: to_markdown, Styler.to_latex, Styler.to_html) parse back to
    the same cells as ``display``; CSV keeps the numbers; the LaTeX is well formed (no engine here)."""
    runs, _ = results
    for frame in (tables.comparison(runs, [TRUTH, "search_cpu_hours"], optimum=tables.benchmark_optimum(runs),
                                    n_resamples=200), tables.pairwise(runs, TRUTH)):
        want = tables._shown(frame)
        cells = [list(want.columns)] + want.values.tolist()
        md, tex, page = (tables.render(frame, f) for f in ("markdown", "latex", "html"))
        assert _cells_markdown(md) == cells
        assert _cells_html(page) == cells
        assert _cells_latex(tex) == cells
        assert tex.startswith(r"\begin{tabular}{" + "l" * len(want.columns) + "}") and tex.rstrip().endswith(
            r"\end{tabular}")
        assert tex.count("{") == tex.count("}") and not re.search(r"(?<!\\)[%#_]", tex.split(r"\toprule")[1])
    frame = tables.comparison(runs, [TRUTH], n_resamples=200)
    back = pd.read_csv(StringIO(tables.render(frame, "csv")))
    assert np.allclose(back["mean"], frame["mean"].astype(float), equal_nan=True) and len(back) == len(frame)
    files = tables.write_tables(frame, tmp_path, "cmp")
    assert sorted(p.name for p in files.values()) == ["cmp.csv", "cmp.html", "cmp.md", "cmp.tex"]
    assert files["html"].read_text() == tables.render(frame, "html")  # deterministic: no random ids
    with pytest.raises(ValueError, match="unknown table format"):
        tables.render(frame, "xlsx")


def test_a_users_styler_tweak_reaches_every_styled_format(results):
    """``styled`` returns pandas' Styler: a user bolds the best mean with the Styler API and passes it back."""
    runs, _ = results
    frame = tables.comparison(runs, [TRUTH], n_resamples=200)
    runs_only = frame["row"] == "runs"
    best = frame.loc[runs_only, "mean"].astype(float).idxmax()
    st = tables.styled(frame)
    st = st.apply(lambda col: ["font-weight: bold" if i == best else "" for i in col.index],
                  subset=["mean ± std"], axis=0)
    page = tables.render(frame, "html", styler=st)
    assert "font-weight: bold" in page and tables.render(frame, "html") != page
    tex = tables.render(frame, "latex", styler=st.apply(
        lambda col: ["bfseries: ;" if i == best else "" for i in col.index], subset=["mean ± std"], axis=0))
    assert tex.count(r"\bfseries") == 1 and _cells_latex(tex)[1:] != []
    assert 'class="data row0 col0 runs"' in page


# ---- figures ----------------------------------------------------------------------------------

def test_every_figure_is_written_with_labelled_axes(results, tmp_path):
    runs, epochs = results
    opt = tables.benchmark_optimum(runs)
    figs = plots.figures(runs, epochs, opt)
    assert {"ops", "entropy-losses", "training", f"cost-{plots._slug(TRUTH)}",
            f"accuracy-{plots._slug(TRUTH)}"} <= set(figs)
    for name, fig in figs.items():
        for ax in fig.axes:
            if ax.get_visible():
                assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
        paths = plots.save(fig, tmp_path, name)
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size > 5000
        assert paths["svg"].stat().st_size > 5000 and b"<svg" in paths["svg"].read_bytes()[:500]
    acc = figs[f"accuracy-{plots._slug(TRUTH)}"].axes[0]
    assert any(line.get_label().startswith("benchmark optimum 94.37") for line in acc.lines)
    assert {t.get_text() for t in acc.get_legend().get_texts()} >= {"darts-v1 (n=3)", "gdas (n=3)"}
    cost = figs[f"cost-{plots._slug(TRUTH)}"].axes[0]
    assert "CPU-hours" in cost.get_xlabel()  # CPU runs have no GPU-days: shown honestly in CPU-hours
    assert plots.arch_ops("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|a~0|b~1|c~2|") == \
        ["skip_connect", "none", "nor_conv_3x3", "a", "b", "c"]
    assert plots.arch_ops("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], "
                          "reduce=[('max_pool_3x3', 0)], reduce_concat=[2])") == \
        ["sep_conv_3x3", "skip_connect", "max_pool_3x3"]


# ---- the command ------------------------------------------------------------------------------

def test_dnas_report_on_runs_still_being_written(run_root, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(run_root), "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == {"report": str(out / "report.html"), "runs": 8, "complete": 6, "unreadable": []}
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "gdas-running" in page and "running: 1 of 2 epochs done" in page
    assert "failed: non-finite train_loss" in page and "benchmark optimum" in page and "GDAS (published)" in page
    import re

    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:|#|figures/)([^"' >]+)""", page)
    assert external == [], external
    assert page.count("<img ") == len(list((out / "figures").glob("*.png"))) >= 5
    for name in ("comparison", "pairwise"):
        for ext in ("md", "tex", "csv", "html"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    # a run finishing between two reports is picked up
    assert main(["report", str(run_root / "gdas-s0"), str(run_root / "gdas-s1"), "--out", str(out)]) == 0
    assert "report: " in capsys.readouterr().out


def test_the_page_states_the_resamples_it_used(run_root, tmp_path):
    from reports.html import write_report

    page = write_report([run_root], tmp_path / "r", n_resamples=500).read_text()
    assert "(500 resamples)" in page and "10,000 resamples" not in page


# ---- in a browser -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_binary() -> str:
    return syspkg.require(["chromium"], chromium.NAMES, "Chromium")


def test_report_renders_offline_in_chromium(browser_binary, run_root, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(run_root), "--out", str(out)]) == 0
    shot = tmp_path / "shot.png"
    page = chromium.render(browser_binary, out / "report.html", shot, clip_height=1600)
    assert page["title"] == "dnas-suite comparison report" and page["text"] > 2000
    source = (out / "report.html").read_text()
    assert len(page["tables"]) == source.count("<table") >= 8
    for t in page["tables"]:
        assert t["w"] > 100 and t["h"] > 20 and t["rows"] >= 2, t
    assert len(page["images"]) == source.count("<img ") >= 5
    for img in page["images"]:
        assert img["complete"] and img["nw"] > 200 and img["nh"] > 100 and img["w"] > 200 and img["h"] > 100, img
        assert img["src"].startswith("data:image/png;base64,")
    # no request left the file: the page itself, then only its inline data URIs
    assert page["requests"][0] == page["url"]
    assert all(u == page["url"] or u.startswith("data:") for u in page["requests"]), \
        [u[:80] for u in page["requests"]]
    assert page["errors"] == []
    with Image.open(shot) as im:
        assert im.size == (1280, 1600)
        colours = im.convert("L").getextrema()
        assert colours[1] - colours[0] > 100  # text on a background, not a blank page


# ---- the quickstart ---------------------------------------------------------------------------

def test_quickstart_reduced_runs_resumes_and_reports(nb201_table, tmp_path, capsys):
    """Two methods, one seed, one epoch each (the full job is 8 x 2 x 5; its timing is in the README)."""
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--methods", "gdas,ista-nas", "--seeds", "1", "--epochs", "1",
            "--eval-epochs", "1", "--bench", str(nb201_table), "--workers", "1", "--json"]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["report"] == str(out / "report.html") and info["failed"] == [] and info["cpu_time_s"] > 0
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == ["eval-gdas-seed0", "eval-ista-nas-seed0", "gdas-seed0", "ista-nas-seed0"]
    runs = load(out / "runs").runs.set_index("run")
    assert runs["complete"].all() and runs.loc["gdas-seed0", "trained_test_accuracy"] > 0
    assert runs.loc["gdas-seed0", "bench_version"] == "NATS-tss-v1_0-3ffb9"
    page = (out / "report.html").read_text()
    assert "Search data is scikit-learn's <code>digits</code>" in page and "NATS-Bench numbers" in page
    assert "Rank correlation on the benchmark: 12 vs 200 epochs" in page
    # again into the same directory: finished runs are skipped, a missing one is redone
    stamps = {n: (out / "runs" / n / "status.json").read_text() for n in names}
    shutil.rmtree(out / "runs" / "eval-gdas-seed0")
    assert main(args) == 0
    capsys.readouterr()
    again = {n: (out / "runs" / n / "status.json").read_text() for n in names}
    assert {n for n in names if again[n] != stamps[n]} == {"eval-gdas-seed0"}
    # other settings into the same directory are refused, not mixed
    assert main([*args[:-1], "--epochs", "2"]) == 2
    assert "holds a quickstart with other settings (search_epochs)" in capsys.readouterr().err


# ---- the page's template ------------------------------------------------------------------------

def test_a_users_template_replaces_the_page(run_root, tmp_path, capsys):
    """``--template FILE``: the user's Jinja2 template gets the title (escaped), the header and every section;
    the tables and figures are written as always."""
    mine = tmp_path / "mine.html.j2"
    mine.write_text("<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{{ csp }}\"></head><body>"
                    "<h1>LAB REPORT: {{ title }}</h1><ol>{% for s in nav %}<li>{{ s.id }}={{ s.title }}</li>"
                    "{% endfor %}</ol>{% for s in sections if s.id in ('comparison', 'runs') %}{{ s.html }}"
                    "{% endfor %}</body></html>\n")
    out = tmp_path / "rep"
    assert main(["report", str(run_root), "--out", str(out), "--template", str(mine), "--title", "a < b"]) == 0
    capsys.readouterr()
    page = (out / "report.html").read_text()
    assert "<h1>LAB REPORT: a &lt; b</h1>" in page
    assert "<li>comparison=Comparison</li>" in page and "<li>pairwise=Is A better than B?</li>" in page
    assert '<h2 id="comparison">' in page and '<h2 id="runs">' in page and '<h2 id="figures">' not in page
    assert (out / "tables" / "comparison.csv").is_file() and any((out / "figures").glob("*.png"))


@pytest.mark.parametrize("text, says", [
    ("{% for s in sections %}{{ s.html }", "line 1: unexpected '}'"),
    ("{{ no_such_thing }}", "'no_such_thing' is undefined; the page gives title"),
])
def test_a_broken_template_is_one_line_and_writes_nothing(run_root, tmp_path, capsys, text, says):
    bad = tmp_path / "bad.j2"
    bad.write_text(text)
    out = tmp_path / "rep"
    assert main(["report", str(run_root), "--out", str(out), "--template", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and str(bad) in err[0]
    assert not (out / "report.html").exists() and not (out / "tables").exists()
    assert main(["report", str(run_root), "--out", str(out), "--template", str(tmp_path / "absent.j2")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("template", sorted((Path(reports.__file__).parent / "templates").glob("*.j2")),
                         ids=lambda p: p.name)
def test_every_shipped_template_is_self_contained(results, tmp_path, template):
    """A page from any template the suite ships carries the Content-Security-Policy that forbids every load,
    and refers to nothing outside itself (images are data URIs)."""
    from reports.html import write_report

    path = write_report(results, tmp_path / "rep", n_resamples=200, template=template)
    page = path.read_text()
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; " in page
    assert not re.search(r"""src\s*=\s*["'](?!data:)""", page)  # everything shown is inline
    links = re.findall(r"""href\s*=\s*["']([^"']*)""", page)  # links a reader may follow: anchors, files beside it
    assert links and all(x.startswith("#") or (path.parent / x).is_file() for x in links)


def test_latex_tables_compile(results, tmp_path):
    """The comparison and pairwise tables compile with pdflatex (booktabs) in a minimal document."""
    import subprocess

    pdflatex = syspkg.require(["texlive-latex-base", "texlive-latex-recommended"], ["pdflatex"], "pdflatex")
    runs, _ = results
    frames = {"comparison": tables.comparison(runs, [TRUTH, "search_cpu_hours"], optimum=tables.benchmark_optimum(runs),
                                              references=tables.load_references(), n_resamples=200),
              "pairwise": tables.pairwise(runs, TRUTH)}
    for name, frame in frames.items():
        (tmp_path / f"{name}.tex").write_text(tables.render(frame, "latex"))
        doc = tmp_path / f"doc-{name}.tex"
        doc.write_text("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}\n"
                       "\\usepackage[landscape,margin=5mm]{geometry}\n\\begin{document}\\tiny\n"
                       f"\\input{{{name}.tex}}\n\\end{{document}}\n")
        done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:]
        assert (tmp_path / f"doc-{name}.pdf").stat().st_size > 1000

