"""``write_report``: run directories in, one self-contained ``report.html`` out (plus the tables
and figures as files beside it).

The page carries its CSS, tables and figures (PNG data URIs) inline and makes no request, so
it reads offline and survives being mailed. It works on runs still being written: whatever
has finished so far is shown, and every unfinished run is listed with its state.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import errno
import html
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence

import pandas as pd

from . import plots, stats, tables
from .load import Results, is_lookup, load

MARKER = ".dnas-report"
"""The file ``write_report`` leaves in its output directory (JSON: what wrote it, when, and the files it
wrote). It is how a later report recognises that directory as its own output and those files as its own."""
OUTPUTS = ("report.html", "tables", "figures", MARKER)
"""What a report writes at the top of its output directory."""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1180px;
padding:1.2em 2em 4em;color:#1d2127;line-height:1.45;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .1em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
h3{font-size:1.02em;margin:1.4em 0 .4em}.meta{color:#566;font-size:.9em}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5em 1em;margin:1em 0}.note ul{margin:0;padding-left:1.1em}
.note li{margin:.25em 0}
.warn{background:#fdecec;border-left:4px solid #c62828;padding:.6em 1em;margin:1em 0}
table.results{border-collapse:collapse;font-size:.82em;margin:.4em 0 1em;width:100%}
table.results th{background:#f1f3f6;text-align:left;position:sticky;top:0}
table.results td,table.results th{border-bottom:1px solid #e3e6ea;padding:.28em .55em;vertical-align:top}
table.results tr.optimum td{background:#eef6ee;font-weight:600}table.results tr.reference td{color:#4a5560;font-style:italic}
table.results tr.random td{background:#f3f1fa}.flags{background:#fdecec;border-left:4px solid #c62828;padding:.6em 1em;
margin:1em 0}.flags ul{margin:.3em 0 0;padding-left:1.1em}table.results tr.bad td{background:#fdecec}table.results tr.running td{background:#fff7e0}
td code,p code,li code{font-size:.92em;background:#f4f5f7;padding:0 .2em;border-radius:3px;word-break:break-all}
figure{margin:1em 0 2em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#566}nav a{margin-right:1em}.scroll{overflow-x:auto}
td{white-space:nowrap}td:last-child{white-space:normal;min-width:14em}
"""


@dataclass
class Section:
    """An extra section of the report: a title and ready HTML."""

    title: str
    html: str
    anchor: str = field(default="")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _table(frame: pd.DataFrame, row_classes: Sequence[str] | None = None) -> str:
    cells = frame.astype(object).where(frame.notna(), "").astype(str)
    head = "".join(f"<th>{_e(c)}</th>" for c in cells.columns)
    classes = row_classes or [""] * len(cells)
    body = "".join(f'<tr class="{k}">' + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for k, row in zip(classes, cells.itertuples(index=False)))
    return f'<div class="scroll"><table class="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(path: Path, alt: str, caption: str, svg: Path | None) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    link = f' (<a href="figures/{_e(svg.name)}">SVG</a>)' if svg else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}{link}</figcaption></figure>")


def _runs_table(runs: pd.DataFrame) -> str:
    def short(a: Any) -> str:
        return a if not isinstance(a, str) or len(a) < 90 else a[:87] + "..."

    def wall(r: pd.Series) -> str:
        w = r.get("search_wall_time_s") if r["kind"] == "search" else r.get("eval_wall_time_s")
        return "" if w is None or pd.isna(w) else f"{float(w):.0f} s"

    shown = pd.DataFrame({
        "run": runs["run"], "kind": runs["kind"], "method": runs["method"].fillna(""),
        "dataset": runs["dataset"], "seed": runs["seed"],
        "state": [r["flag"] or r["status"] for _, r in runs.iterrows()],
        "epochs": [f"{d}/{p}" if p else str(d) for d, p in zip(runs["epochs_done"], runs["epochs_planned"])],
        "architecture (final, or latest while running)": runs["arch"].map(short),
        "benchmark": runs["bench_version"].fillna(""), "device": runs["device"].fillna(""),
        "wall time": [wall(r) for _, r in runs.iterrows()],
        "diagnostics": runs["diagnostics_text"].fillna("") if "diagnostics_text" in runs else "",
    })
    classes = ["" if c else "bad" if s in ("failed", "unreadable") else "running"
               for c, s in zip(runs["complete"], runs["status"])]
    return _table(shown, classes)


def flag_banner(runs: pd.DataFrame) -> str:
    """The warning at the top of the page when any search run carries a diagnostic flag: first the methods
    whose every complete seed kept its initial architecture (they did not search), then per flag the methods
    (seeds flagged / complete seeds) and the flag's meaning. Empty when no run is flagged."""
    from .diagnostics import MEANING

    searches = runs[(runs["kind"] == "search") & runs["complete"]] if len(runs) else runs
    if not len(searches) or "diagnostics" not in searches or not searches["diagnostics"].astype(bool).any():
        return ""
    searches = searches.assign(method_label=tables._method_labels(searches))
    per_code: dict[str, list[str]] = {}
    idle = []
    for method, g in searches.groupby("method_label", sort=True):
        cell, did_not = tables.flag_counts(g)
        if did_not:
            idle.append(method)
        for part in filter(None, cell.split(", ")):
            code, _, share = part.rpartition(" ")
            per_code.setdefault(code, []).append(f"{method} ({share} seeds)")
    lines = []
    if idle:
        lines.append(f"<p><strong>{len(idle)} method{'s' * (len(idle) != 1)}' results are their initial "
                     f"architecture</strong> (every seed {' or '.join(tables.NOT_SEARCHED)}: they did not search): "
                     f"{_e(', '.join(idle))}.</p>")
    items = "".join(f"<li><code>{_e(code)}</code>: {_e(MEANING.get(code, code))}. {_e('; '.join(who))}.</li>"
                    for code, who in per_code.items())
    return (f'<div class="flags" id="flags">{"".join(lines)}<p>Diagnostic flags of complete search runs (each '
            f"run's flags and why: the <em>diagnostics</em> column of the runs table):</p><ul>{items}</ul></div>")


def rank_section(runs: pd.DataFrame) -> Section | None:
    """How well the short training's accuracy ranks the found cells like the benchmark does."""
    searches = runs[(runs["kind"] == "search") & runs["complete"]]
    if "trained_test_accuracy" not in searches or searches["trained_test_accuracy"].notna().sum() < 3:
        return None
    rows = []
    for col in [c for c in tables.default_metrics(runs) if is_lookup(c)]:
        r = stats.rank_agreement(searches["trained_test_accuracy"], searches[col])
        rows.append({"x": "trained test accuracy (this report's protocol)", "y": tables.label(col), **r})
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    body = ("<p>Across the final cells of all complete searches: does training each cell briefly rank them "
            "the way the benchmark's full training does? Kendall's τ-b and Spearman's ρ (scipy), with their "
            "two-sided p-values; n counts runs, so a cell found twice counts twice.</p>"
            + _table(tables.format_rank(frame)))
    return Section("Rank correlation: short training vs the benchmark", body, "rankcorr")


def benchmark_rank_section(bench_path: str, pairs: Sequence[tuple[str, str]] | None = None) -> Section | None:
    """Over every architecture of the table: how well a cheap column ranks archs like the final one."""
    import benchmarks

    bench = benchmarks.open(bench_path)
    if pairs is None:
        pairs = [(f"{d}@12/valid-accuracy", f"{t}@200/test-accuracy") for d, t in
                 (("cifar10-valid", "cifar10"), ("cifar100", "cifar100"), ("ImageNet16-120", "ImageNet16-120"))]
    rows = []
    for x, y in pairs:
        try:
            vx, vy = (bench.query_many("all", c.partition("@")[0], c.partition("/")[2],
                                       int(c.partition("@")[2].partition("/")[0])) for c in (x, y))
        except (KeyError, ValueError):
            continue
        rows.append({"x": tables.label(x), "y": tables.label(y), **stats.rank_agreement(vx, vy)})
    if not rows:
        return None
    body = (f"<p>The classic proxy question on the whole table ({_e(bench.version)}, every architecture): how well "
            "does 12-epoch accuracy rank architectures the way 200-epoch test accuracy does? Kendall's τ-b and "
            "Spearman's ρ (scipy); architectures without a value are dropped and counted.</p>"
            + _table(tables.format_rank(pd.DataFrame(rows))))
    return Section("Rank correlation on the benchmark: 12 vs 200 epochs", body, "rankcorr-table")


def _owned(out: Path) -> set[str] | None:
    """The files an earlier report wrote into ``out`` (as its marker lists them), or None when ``out``
    holds no marker written by ``dnas report``."""
    try:
        data = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != "dnas report" or not isinstance(data.get("files"), list):
        return None
    return {f for f in data["files"] if isinstance(f, str) and _ours(f)}


def _ours(rel: str) -> bool:
    """Whether ``rel`` is a path a report writes: report.html, or a file directly in tables/ or figures/."""
    parts = PurePosixPath(rel).parts
    return rel == "report.html" or (len(parts) == 2 and parts[0] in ("tables", "figures")
                                    and parts[1] not in (".", "..") and not parts[1].startswith("."))


def _refusal(out: Path, found: Path, forceable: bool) -> str:
    """One line refusing to overwrite ``found``, a file in ``out`` that no report wrote."""
    offer = ", or add --force to overwrite it" if forceable else ""
    return f"--out {out} already holds {found}, which dnas report did not write: choose another --out{offer}"


def _run_dir_above(path: Path) -> Path | None:
    """The run directory ``path`` is, or lies in (a config.yaml beside the files a run writes), if any."""
    for d in (path, *path.parents):
        if os.path.lexists(d / "config.yaml") and any(os.path.lexists(d / f) for f in
                                                       ("status.json", "metrics.parquet", "final.json")):
            return d
    return None


def check_out_dir(out: str | os.PathLike, *, force: bool = False, forceable: bool = True) -> Path:
    """``out`` as a directory a report may be written into, checked before anything is written.

    Refused in one line: a file, a dangling symlink, a read-only or unwritable place, a run directory
    (or a folder inside one), and (unless ``force``) any directory that is neither empty nor marked
    by an earlier report as its own; the message names the file it would overwrite (report.html,
    tables/, figures/ or the marker), else the first entry found. So a report never overwrites, or
    mixes with, the user's files. ``forceable`` says whether the message may offer ``--force``."""
    from suite.checks import writable_dir
    from suite.errors import DnasError

    path = Path(os.path.expanduser(os.fspath(out)))
    if path.is_symlink() and not path.exists():
        raise DnasError(f"--out {path} is a symbolic link to {os.readlink(path)}, which does not resolve (missing, "
                        f"or a loop): choose another --out")
    path = writable_dir(path)
    run = _run_dir_above(Path(os.path.realpath(path)))
    if run is not None:
        raise DnasError(f"--out {path} is inside the run directory {run}: a report there would mix with the run's "
                        f"files; choose an --out outside every run directory")
    if force or not path.is_dir() or _owned(path) is not None:
        return path
    for name in OUTPUTS:  # first the files it would overwrite
        target = path / name
        if target.is_dir() and not target.is_symlink():
            inside = sorted(target.iterdir())
            if inside:
                raise DnasError(_refusal(path, inside[0], forceable))
        elif os.path.lexists(target):
            raise DnasError(_refusal(path, target, forceable))
    held = sorted(path.iterdir())
    if held:
        offer = ", or add --force to write into it" if forceable else ""
        raise DnasError(f"--out {path} holds {held[0]} and no earlier report: a report goes into a new or empty "
                        f"directory or its own earlier output; choose another --out{offer}")
    return path


def _write_marker(out: Path, files: Sequence[str]) -> None:
    """Mark ``out`` as a report's output, listing the ``files`` (relative paths) the report wrote."""
    from suite import __version__
    from suite.io import write_json

    with _naming(out / MARKER):
        write_json(out / MARKER, {"written_by": "dnas report", "dnas_suite": __version__,
                                  "written": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                                  "files": sorted(files)})


TIMED = ["random search, same simulated time", "P(better than random search, same time)"]
"""Display columns that only a store with training times fills: left out of the page when empty."""


def _targets(runs: pd.DataFrame, epochs: pd.DataFrame, optimum: pd.DataFrame, out: Path) -> list[str]:
    """The time-to-target section (COCO's view) on the primary lookup metric, written as
    ``tables/time-to-target.csv`` too; nothing when that metric has no single optimum."""
    from suite.io import atomic_path

    from .anytime import target_summary, time_to_target

    primary = tables.primary_metric(runs)
    best = optimum[optimum["metric"] == primary]["value"] if primary and len(optimum) else []
    if not primary or not is_lookup(primary) or len(best) != 1:
        return []
    reached, unit = time_to_target(epochs, runs, primary, float(best.iloc[0]))
    summary = target_summary(reached, unit)
    if not len(summary):
        return []
    with _naming(out / "tables" / "time-to-target.csv"), atomic_path(out / "tables" / "time-to-target.csv") as tmp:
        summary.to_csv(tmp, index=False)
    shown = summary.assign(**{c: summary[c].map(lambda v: "—" if v != v else f"{v:.4g}")
                              for c in summary.columns if c.startswith("median")})
    return [f'<h3 id="time-to-target">Time to target: {_e(tables.label(primary))}</h3>',
            "<p>Per method, how many seeds' derived architecture came within t points of the benchmark optimum "
            f"({float(best.iloc[0]):.2f}) during the search, and the median search cost at which they first did "
            "(over those seeds); as COCO reports runtime to target. Figure: <em>targets-…</em>. File: "
            "<code>tables/time-to-target.csv</code>.</p>", _table(shown)]


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError of the body names ``path``: a full disk names no file, or a temp one."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _commit(stage: Path, out: Path, force: bool, forceable: bool) -> None:
    """Move the fully written report from ``stage`` into ``out``: the marker first (so the directory is
    known as a report's), then every file by rename; files an earlier report wrote and this one did
    not (a metric no longer shown) go. Refuses, before moving anything, to replace a file not ours."""
    from suite.errors import DnasError

    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    before = _owned(out) or set()
    if not force:
        for rel in files:
            if os.path.lexists(out / rel) and rel not in before:
                raise DnasError(_refusal(out, out / rel, forceable))
    _write_marker(out, sorted(set(files) | before))
    for rel in files:
        (out / rel).parent.mkdir(exist_ok=True)
        os.replace(stage / rel, out / rel)
    for rel in sorted(before - set(files)):
        with contextlib.suppress(OSError):
            (out / rel).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the union written above is a valid marker too
        _write_marker(out, files)


def _write_error(exc: OSError, stage: Path, out: Path) -> Exception:
    """A failed write as one line naming the report file (never the staging copy) and the fix."""
    from suite.errors import DnasError

    name = Path(exc.filename) if exc.filename else out
    with contextlib.suppress(ValueError):
        name = out / name.relative_to(stage)
    text = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    fix = "free space or choose another --out" if exc.errno in (errno.ENOSPC, errno.EDQUOT) \
        else "check the permissions of --out or choose another --out"
    return DnasError(f"cannot write {name}: {text}; {fix}")


@contextlib.contextmanager
def _staged(out: Path, *, force: bool, forceable: bool) -> Iterator[Path]:
    """A hidden folder in ``out`` to write the whole report into; moved into place only when complete.

    On any failure (a full disk above all) what this run created goes (the staging folder, and ``out``
    and its parents if this run made them and they are empty), an earlier report stays as it was, and
    an OSError becomes one line naming the report file that could not be written."""
    from suite.io import clean_siblings, work_sibling

    made = []
    probe = out
    while not os.path.lexists(probe) and probe.parent != probe:
        made.append(probe)
        probe = probe.parent
    stage = work_sibling(out / "report", "tmp")
    try:
        out.mkdir(parents=True, exist_ok=True)
        clean_siblings(out / "report")  # what a killed report left
        stage.mkdir()
        yield stage
        _commit(stage, out, force, forceable)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        for d in made:  # deepest first; stops at the first one holding something
            try:
                d.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise _write_error(exc, stage, out) from None
        raise
    shutil.rmtree(stage, ignore_errors=True)


def write_report(paths: Sequence[str | os.PathLike] | Results, out: str | os.PathLike, *, title: str | None = None,
                 notes: Sequence[str] = (), sections: Sequence[Section] = (), metrics: Sequence[str] | None = None,
                 n_resamples: int = 10_000, force: bool = False, forceable: bool = True,
                 hardware: Any = None, template: str | os.PathLike | None = None) -> Path:
    """Load ``paths`` (or take loaded ``Results``) and write ``out/report.html`` plus ``tables/`` and ``figures/``;
    ``hardware`` (``reports.hardware.read_hardware``) adds the found cells' latency and energy and the
    accuracy-vs-latency figure; ``template`` replaces the page's Jinja2 template (``TEMPLATE``).

    ``out`` is checked first (``check_out_dir``: never a user's file overwritten unless ``force``), then
    the whole report is written into a hidden folder in ``out`` and moved into place when complete, with
    a marker (``MARKER``) that makes ``out`` recognisably this command's output for the next report."""
    out = check_out_dir(out, force=force, forceable=forceable)
    page_template = load_template(template)  # a bad template fails before any work
    results = paths if isinstance(paths, Results) else load(*paths)
    if hardware is not None:
        from .hardware import add_hardware

        results = Results(add_hardware(results.runs, hardware), results.epochs)
    with _staged(out, force=force, forceable=forceable) as stage:
        page = _render(results, stage, title=title, notes=notes, sections=sections, metrics=metrics,
                       n_resamples=n_resamples, hardware=hardware, template=page_template)
        _write_page(stage / "report.html", page)
    return out / "report.html"


def _write_page(path: Path, page: str) -> None:
    """Write report.html atomically; a failure names it."""
    from suite.io import atomic_path

    with _naming(path), atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def _render(results: Results, out: Path, *, title: str | None, notes: Sequence[str], sections: Sequence[Section],
            metrics: Sequence[str] | None, n_resamples: int, hardware: Any = None,
            template: Any = None) -> str:
    """Write the tables and figures into ``out`` and return the page that shows them."""
    from suite.io import atomic_path

    runs, epochs = results
    optimum = tables.benchmark_optimum(runs, metrics)
    references = tables.load_references()
    baselines = tables.random_baselines(runs, metrics)
    frame = tables.comparison(runs, metrics, optimum=optimum, references=references, baselines=baselines,
                              n_resamples=n_resamples)
    tables.write_tables(frame, out / "tables", "comparison")
    primary = tables.primary_metric(runs)
    tested = [m for m in (primary, "trained_test_accuracy") if m and m in runs and runs[m].notna().any()]
    pair = pd.concat([tables.pairwise(runs, m) for m in tested], ignore_index=True) if tested else pd.DataFrame()
    if len(pair):
        tables.write_tables(pair, out / "tables", "pairwise")
    with _naming(out / "tables" / "runs.csv"), atomic_path(out / "tables" / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False)
    figs = plots.figures(runs, epochs, optimum, [m for m in frame["metric"].unique() if is_lookup(m)], baselines)
    dist = next((d for (v, m), d in baselines.items() if m == primary), None) if primary else None
    if hardware is not None and dist is not None:
        figs[f"latency-{plots._slug(primary)}"] = plots.accuracy_vs_latency(runs, hardware, dist.values, primary)
    saved = {name: plots.save(fig, out / "figures", name) for name, fig in figs.items()}

    title = title or "dnas-suite comparison report"
    header = _header(runs, title, notes, sections)
    body = [*_comparison(frame, n_resamples), *_targets(runs, epochs, optimum, out), *_pairwise(pair),
            *_figures(saved, hardware), *_appendix(runs, references, sections)]
    return render_page(template if template is not None else load_template(), title, header, body)


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page loads nothing: images are data URIs, styles inline (checked in a browser by the tests)."""
TEMPLATE = Path(__file__).with_name("templates") / "report.html.j2"
"""The page's default template; ``--template`` replaces it."""


def load_template(template: str | os.PathLike | None = None) -> Any:
    """The page's Jinja2 template (``TEMPLATE`` unless given), compiled: a missing file or a syntax error is
    one line naming the file (checked before any report work)."""
    import jinja2

    from suite.errors import DnasError

    path = Path(template) if template is not None else TEMPLATE
    if not path.is_file():
        raise DnasError(f"--template {path}: no such file; give a Jinja2 template (the default one is {TEMPLATE})")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return env.get_template(path.name)
    except jinja2.TemplateSyntaxError as exc:
        raise DnasError(f"--template {path}, line {exc.lineno}: {exc.message}; fix the template") from None
    except UnicodeDecodeError:
        raise DnasError(f"--template {path} is not UTF-8 text; give a Jinja2 template") from None


def render_page(template: Any, title: str, header: Sequence[str], body: Sequence[str]) -> str:
    """The page from a compiled Jinja2 template (``load_template``): ``header`` and the sections of ``body`` (each
    begins with its ``<h2 id=...>``) are trusted HTML; the title is escaped by the template engine."""
    import re

    import jinja2
    from markupsafe import Markup

    from suite.errors import DnasError

    sections = []
    for chunk in re.split(r'(?=<h2 id=")', "\n".join(body)):
        m = re.match(r'<h2 id="([^"]*)">(.*?)</h2>', chunk)
        if m:
            sections.append({"id": m.group(1), "title": html.unescape(m.group(2)), "html": Markup(chunk.rstrip("\n"))})
    try:
        return template.render(
            title=title, csp=Markup(CSP), css=Markup(CSS), header=Markup("\n".join(header)), sections=sections,
            nav=[{"id": x["id"], "title": x["title"]} for x in sections])
    except jinja2.UndefinedError as exc:
        raise DnasError(f"--template {template.filename}: {exc.message}; the page gives title, csp, css, header, sections "
                        "(id, title, html) and nav (id, title)") from None




def _header(runs: pd.DataFrame, title: str, notes: Sequence[str], sections: Sequence[Section]) -> list[str]:
    """Title, what the page was made from, the diagnostic banner, notes, warnings and the navigation."""
    n_done = int(runs["complete"].sum())
    states = runs["status"].value_counts().to_dict()
    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="meta">Generated {_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")} from '
             f"{len(runs)} runs (" + ("all complete" if n_done == len(runs) else f"{n_done} complete; " + ", ".join(
                 f"{v} {k}" for k, v in sorted(states.items()) if k != "completed")) + "). Statistics use complete runs "
             "only.</p>"]
    banner = flag_banner(runs)
    if banner:
        parts.append(banner)
    if notes:
        parts.append('<div class="note"><ul>' + "".join(f"<li>{n}</li>" for n in notes) + "</ul></div>")
    versions = sorted(v for v in runs["bench_version"].dropna().unique())
    if len(versions) > 1:
        parts.append(f'<div class="warn">These runs were looked up in {len(versions)} benchmark versions '
                     f"({_e(', '.join(versions))}); each is compared only with runs of the same version.</div>")
    unfinished = runs[~runs["complete"]]
    if len(unfinished):
        parts.append(f'<div class="warn">{len(unfinished)} run(s) are not complete and are left out of the '
                     "statistics: " + "; ".join(f"<code>{_e(r)}</code> ({_e(f)})" for r, f in
                                                zip(unfinished["run"], unfinished["flag"])) + ".</div>")
    nav = [("comparison", "Comparison"), ("pairwise", "Is A better than B?"), ("figures", "Figures")] \
        + [(s.anchor or f"s{i}", s.title) for i, s in enumerate(sections)] \
        + [("runs", "Runs"), ("references", "Published references"), ("provenance", "Provenance")]
    parts.append("<nav>" + "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav) + "</nav>")

    return parts


def _comparison(frame: pd.DataFrame, n_resamples: int) -> list[str]:
    """The comparison section: per group an overview and one table per metric, with what each column means."""
    parts: list[str] = []
    parts.append('<h2 id="comparison">Comparison</h2>')
    parts.append("<p>Per method: mean ± standard deviation over seeds (n), a 95 % percentile-bootstrap interval "
                 f"of the mean ({n_resamples:,} resamples) from 4 seeds on (with 2 or 3 seeds that interval is always the "
                 "lowest and highest seed, so the table shows it as their range, labelled so; with 1, none), "
                 "and the best and worst seed. Green rows: the benchmark's best "
                 "architecture; italic rows: published numbers (their source, table and benchmark version in the "
                 "last column; never averaged with ours). Files: <code>tables/comparison.{md,tex,csv,html}</code>."
                 "</p>")
    parts.append("<p>Set against a random choice (where the benchmark table could be read):</p><ul>"
                 + "".join(f"<li><em>{_e(k)}</em>: {_e(v)}.</li>" for k, v in tables.NOTES.items()) + "</ul>")
    for key, grp in frame.groupby(tables.GROUP, sort=True):
        parts.append(f"<h3>search space {_e(key[0])}, search data {_e(key[1])}, benchmark {_e(key[2])}</h3>")
        ov = tables.overview(grp)
        parts.append("<p>Overview: mean ± std (n complete runs); details per metric below.</p>")
        kinds = dict(zip(grp["method"], grp["row"]))
        parts.append(_table(ov, [kinds.get(m, "") if kinds.get(m) in ("optimum", "random") else ""
                                 for m in ov["method"]]))
        for metric, mg in grp.groupby("metric", sort=False):
            parts.append(f"<h3>{_e(tables.label(metric))}</h3>")
            shown = tables.display(mg).drop(columns=["metric"])
            timed = [c for c in TIMED if not shown[c].astype(bool).any()]
            parts.append(_table(shown.drop(columns=timed), list(mg["row"])))
        if is_lookup(str(grp["metric"].iloc[0])) and grp["random_search_time"].isna().all():
            parts.append("<p>Random search at the same simulated time needs a benchmark store with per-seed "
                         "training times (a converted NATS-Bench archive, <code>dnas bench convert</code>); this "
                         "table has none, so random search is compared at the same number of lookups only.</p>")

    return parts


def _pairwise(pair: pd.DataFrame) -> list[str]:
    """The "is A better than B" section: one matrix of one-sided tests per metric."""
    parts: list[str] = []
    parts.append('<h2 id="pairwise">Is A better than B?</h2>')
    if len(pair):
        n_min = int(min(pair["n_a"].min(), pair["n_b"].min()))
        parts.append("<p>One-sided Mann-Whitney U test of “A is better than B” over seeds (exact for any "
                     "number of seeds, ties included), and the probability of improvement P(A beats B) = U / (n<sub>A</sub> "
                     "n<sub>B</sub>), ties counting half. " + (
                         f"With {n_min} seeds per method the smallest attainable p is "
                         f"{1 / math.comb(2 * n_min, n_min):.3f}: read P(A beats B) as a description of these seeds, "
                         "not as evidence. " if n_min <= 3 else "")
                     + "Files: <code>tables/pairwise.*</code>.</p>")
        for metric, mg in pair.groupby("metric", sort=False):
            parts.append(f"<h3>{_e(tables.label(metric))}</h3>")
            parts.append(_table(_pair_matrix(mg)))
    else:
        parts.append("<p>Needs at least two methods with complete runs.</p>")

    return parts


def _figures(saved: dict[str, dict[str, Path]], hardware: Any) -> list[str]:
    """Every figure with its caption."""
    parts: list[str] = []
    parts.append('<h2 id="figures">Figures</h2>')
    captions = {"ops": "Share of each op among the edges of the derived cells, per epoch (mean over seeds).",
                "entropy-losses": "Mean entropy of the architecture weights per edge, and the supernet's losses "
                                  "(mean and min-max band over seeds).",
                "training": "Evaluation runs: training loss and held-out accuracy per epoch."}
    for name, files in saved.items():
        if name.startswith("accuracy-"):
            cap = "Looked-up accuracy of each epoch's derived architecture: mean over seeds, band min-max; " \
                  "dashed: the benchmark's best architecture."
        elif name.startswith("anytime-"):
            cap = ("Anytime: looked-up accuracy of each epoch's derived architecture against cumulative search "
                   "cost (GPU-hours where recorded, else CPU-hours, else epochs), mean over seeds; dashed in the "
                   "method's colour: random search's expected best with as many lookups (the distinct "
                   "architectures the search had looked up by then), exact from the table; dotted: the random "
                   "architecture's mean.")
        elif name.startswith("targets-"):
            cap = ("Time to target (COCO's runtime view): per method, the share of (seed, target) pairs whose "
                   "derived architecture had come within the target (0.5, 1, 2 and 5 points below the benchmark "
                   "optimum) by each search cost.")
        elif name.startswith("latency-"):
            cap = (f"Accuracy against latency on {hardware.target} (--hardware {Path(hardware.path).name}): every "
                   "cell of the benchmark in grey, its Pareto front (no cell both more accurate and faster) as a "
                   "line, and each search run's found cell in its method's colour.")
        elif name.startswith("cost-"):
            cap = ("Final looked-up accuracy against search cost, one point per run. Runs without a GPU have no "
                   "GPU-days: they are placed by CPU-hours (wall time x processes) on their own axis; hollow "
                   "points are runs not complete (cost so far).")
        else:
            cap = captions.get(name, name)
        parts.append(_img(files["png"], name, cap, files.get("svg")))

    return parts


def _appendix(runs: pd.DataFrame, references: pd.DataFrame, sections: Sequence[Section]) -> list[str]:
    """Extra sections, the runs table, the published references and the provenance table."""
    parts: list[str] = []
    for i, s in enumerate(sections):
        parts += [f'<h2 id="{_e(s.anchor or f"s{i}")}">{_e(s.title)}</h2>', s.html]

    parts += ['<h2 id="runs">Runs</h2>', _runs_table(runs)]

    parts.append('<h2 id="references">Published references</h2>')
    parts.append("<p>Kept as reviewed data in <code>reports/references/*.csv</code>; <em>verified</em> says how "
                 "each number was checked, and numbers that could not be checked say so.</p>")
    parts.append(_table(references))

    parts.append('<h2 id="provenance">Provenance</h2>')
    prov = runs[["run", "kind", "config_hash", "git_commit", "dnas_suite", "bench", "bench_version", "updated"]]
    parts.append(_table(prov))

    return parts


def _pair_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows A, columns B: 'P(A beats B) (p)'."""
    names = sorted(set(frame["a"]) | set(frame["b"]))
    cell = {(r["a"], r["b"]): f"{r['prob_improvement']:.2f} (p={r['p_value']:.3f})" for _, r in frame.iterrows()}
    return pd.DataFrame([{"A \\ B": a, **{b: ("—" if a == b else cell.get((a, b), "")) for b in names}}
                         for a in names])
