"""The docs are tested: every relative link and anchor in README.md and docs/ resolves, and every example
runs unless it is marked with why it cannot here.

Examples are fenced blocks. ``pycon`` blocks run as doctests (their shown output is checked); ``python``
and ``bash`` blocks run in one temporary directory per page, in page order, so a page's later examples
see what its earlier ones made. A block right after a ``bash`` block and marked
``<!-- docs-test: output -->`` is that block's shown output: each of its lines must appear in what the
block printed. A block that cannot run here is preceded by ``<!-- docs-test: skip, REASON -->`` with a
REASON from ``SKIP_REASONS``; blocks in other languages (``yaml``, ``text``, no language) are shown, not run.
"""
from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN = ("pycon", "python", "bash")
SKIP_REASONS = ("needs a download", "needs a GPU", "needs a cluster", "sets up the machine", "a template",
                "rewrites a committed file")
"""Why an example may not run in the test session: data or hardware the session does not have, the set-up
command itself (the test session is what it sets up), a template whose paths are placeholders, or a command
that rewrites a file of this repository."""
MARK = re.compile(r"^<!-- docs-test: (.*?) -->$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def blocks(page: Path) -> list[dict]:
    """The fenced blocks of ``page``: language, code (dedented), the mark before it, and its line."""
    lines = page.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            indent, lang = len(m.group(1)), m.group(2)
            j = i + 1
            while not lines[j].strip().startswith("```"):
                j += 1
            prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            mark = MARK.match(prev)
            out.append({"lang": lang, "code": "\n".join(x[indent:] for x in lines[i + 1:j]) + "\n",
                        "mark": mark.group(1) if mark else None, "line": i + 1})
            i = j
        i += 1
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    out, seen = set(), {}
    fenced = False
    for line in page.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            s = slug(line.lstrip("#"))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_links_and_anchors_resolve(page):
    text = re.sub(r"(?ms)^\s*```.*?^\s*```", "", page.read_text())  # links inside code are not links
    bad = []
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not bad, bad


def test_every_docs_page_is_reachable_from_the_readme():
    """Following relative links from README.md reaches every page under docs/."""
    seen, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md" or not page.exists():
            continue
        seen.add(page)
        text = re.sub(r"(?ms)^\s*```.*?^\s*```", "", page.read_text())
        for m in LINK.finditer(text):
            target = (m.group(1) or m.group(2)).partition("#")[0]
            if target and not re.match(r"^[a-z]+:", target):
                todo.append((page.parent / target).resolve())
    assert set(PAGES) - seen == set()


def test_every_example_runs_or_says_why_not():
    """No example is skipped by accident: each block of a language that runs is run or carries a known reason."""
    for page in PAGES:
        for b in blocks(page):
            if b["mark"] and b["mark"] != "output":
                kind, _, reason = b["mark"].partition(", ")
                assert kind == "skip" and reason in SKIP_REASONS, (_id(page), b["line"], b["mark"])
                assert b["lang"] in RUN, (_id(page), b["line"], "only runnable blocks are skipped")
            if b["mark"] == "output":
                assert b["lang"] not in RUN, (_id(page), b["line"])


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("CI", None)  # examples run as a user runs them
    return env


@pytest.mark.parametrize("page", [p for p in PAGES if any(b["lang"] in RUN for b in blocks(p))], ids=_id)
def test_examples_run(page, tmp_path):
    """Each runnable example of ``page``, in order, in one working directory; shown outputs checked."""
    printed = ""
    for b in blocks(page):
        where = f"{_id(page)}:{b['line']}"
        if b["mark"] == "output":
            for line in b["code"].splitlines():
                want = " ".join(line.split())
                assert not want or want == "..." or want in " ".join(printed.split()), f"{where}: {line!r} not printed"
            continue
        if b["lang"] not in RUN or (b["mark"] or "").startswith("skip"):
            continue
        if b["lang"] == "pycon":
            cwd = os.getcwd()
            os.chdir(tmp_path)
            try:
                test = doctest.DocTestParser().get_doctest(b["code"], {}, where, str(page), b["line"])
                runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
                runner.run(test)
            finally:
                os.chdir(cwd)
            assert runner.failures == 0, f"{where}: doctest failed"
            continue
        cmd = ["bash", "-euo", "pipefail", "-c", b["code"]] if b["lang"] == "bash" else \
            [sys.executable, "-c", f"__file__ = {str(tmp_path / 'example.py')!r}\n" + b["code"]]
        done = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
        printed = done.stdout + done.stderr
        assert done.returncode == 0, f"{where}: exit {done.returncode}\n{printed[-3000:]}"


def test_the_plugin_example_saves_a_baseline_then_passes(tmp_path):
    """docs/examples/test_my_method_regression.py (the README's third example) as a user runs it."""
    example = ROOT / "docs" / "examples" / "test_my_method_regression.py"
    (tmp_path / example.name).write_text(example.read_text())
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", example.name]
    first = subprocess.run([*run, "--dnas-save-baseline"], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert first.returncode == 0 and (tmp_path / "my-method-baseline.jsonl").is_file(), first.stdout[-2000:]
    again = subprocess.run(run, cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert again.returncode == 0 and "1 passed" in again.stdout, again.stdout[-2000:]
