"""dnas rankcorr under hostile input: --where runs no code, and bad SPECs and --top are one-line errors.

Every probe runs through the real CLI in a subprocess and through the Python API, each in a fresh,
empty working directory it tries to write a file into; the directory must stay empty, the exit
status be 2 and stderr one line without a traceback. ``test_armed_probes_do_write_under_pandas_eval``
shows the probes and the empty-directory check are live: under the old ``DataFrame.eval`` several
of them do create the file.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.filter_expr import FilterError, parse_filter
from reports.rankstudy import build_study, parse_spec
from suite.errors import DnasError

TRUTH = "nb201:cifar10@200/test-accuracy"
C12 = "nb201:cifar10-valid@12/valid-accuracy"
W = "open('pwned', 'w')"  # the payload most probes try to run: a file in the working directory

# (--where text, a fragment the one-line error must hold, creates the file under pandas' DataFrame.eval)
PROBES = [
    ("__import__('os').system('touch pwned')", "calling '__import__'", False),
    ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', 'pwned'])",
     "a comprehension", False),
    ("().__class__.__bases__[0].__subclasses__()[0]('pwned')", "'__class__'", False),
    ("y.__class__.__init__.__globals__['sys'].modules['os'].system('touch pwned')", "'y.__class__'", True),
    ("getattr(y, 'to_csv')('pwned')", "calling 'getattr'", False),
    (f"lambda: {W}", "a lambda", False),
    (f"(lambda: {W})()", "a lambda", False),
    (f"y.__dict__ or {W}", "'__dict__'", False),
    ("y.to_csv('pwned')", "the method 'to_csv'", True),
    (f"y.pipe(print, file={W})", "the method 'pipe'", False),
    (f"y.head(1).astype('str').replace('.*', \"{W}\", regex=True).apply(eval)", "the method 'head'", False),
    (f"y.apply(eval, args=(\"{W}\",))", "the method 'apply'", False),
    (f"y @ {W}", "the operator '@'", False),
    (f"y > 0 and @{W}", "invalid syntax", False),
    (W, "calling 'open'", False),
    (f"eval(\"{W}\")", "calling 'eval'", False),
    (f"exec(\"{W}\")", "calling 'exec'", False),
    (f"globals()['__builtins__']['open']('pwned', 'w')", "calling 'globals'", False),
    (f"breakpoint() or {W}", "calling 'breakpoint'", False),
    (f"f\"{{{W}!r}}\"", "an f-string", False),
    (f"f\"{{y:{{{W}}}}}\"", "an f-string", False),
    ("'{0.to_csv}'.format(y)", "the method 'format'", False),
    ("y.str.__class__.__init__.__globals__['os'].system('touch pwned')", "the attribute 'str'", False),
    ("ｙ.__class__.__init__.__globals__['sys'].modules['os'].system('touch pwned')", "'__class__'", True),
    ("y.__ｃlass__.__init__.__globals__['sys'].modules['os'].system('touch pwned')", "'__class__'", True),
    ("y._\u200b_class__.__init__.__globals__['sys'].modules['os'].system('touch pwned')", "U+200B", False),
    ("y.values.tofile('pwned')", "the attribute 'values'", True),
    ("y.plot().figure.savefig('pwned')", "the method 'plot'", False),
    (f"(f := {W})", "an assignment (:=)", False),
    (f"y.quantile({W})", "must be literal", False),
    (f"y.rank(method={W})", "must be literal", False),
    (f"y.isin(**{{'values': {W}}})", "a ** argument", False),
    (f"y.between(*[{W}], 1)", "a * argument", False),
    (f"arch.isin([{W}])", "must be literal", False),
    (f"y if {W} else x", "a conditional expression", False),
    (f"{{{W}}}", "a set", False),
    ("y.mean.__self__.to_csv('pwned')", "the attribute 'mean'", True),
    ("`y`.to_pickle('pwned')", "the method 'to_pickle'", True),
    (f"`y` ) or {W} or ( `y`", "unmatched ')'", False),
    ("y.rank(__import__('os').system('touch pwned'))", "must be literal", False),
    (f"y.isin(_values={W})", "the keyword '_values'", False),
    (f"y.abs()[{W}]", "a subscript", False),
    (f"y in ({W},)", "must be literal", False),
    (f"y is {W}", "the comparison 'is'", False),
    (f"__builtins__ or {W}", "the name '__builtins__'", False),
    ("pd.io.common.os.system('touch pwned')", "'pd' is not a column", False),
    ("np.save('pwned', y)", "'np' is not a column", False),
]
# resource abuse: refused before any large number, string or recursion is built
RESOURCE = [
    ("10**10**10 > y", "exponent"),
    ("9**9**9**9 > y", "exponent"),
    ("2**99999 > y", "exponent"),
    ("'a' * 10**9 == arch", "'*' needs numbers"),
    ("arch * 1000000000 == 'a'", "'*' needs numbers"),
    ("[1] * 10**9 == y", "'*' needs numbers"),
    ("(" * 300 + "y > 1" + ")" * 300, "not a valid expression"),
    ("not " * 100 + "y > 1", "nests deeper"),
    (" + ".join(["y"] * 300) + " > 1", "nests deeper"),
    (" | ".join(["(y > 1)"] * 300), "characters long"),
    ("y" * 100_000 + " > 1", "characters long"),
    ("y > 1\x00", "not a valid expression"),
]


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite.cli", "rankcorr", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def _empty_dir(tmp_path: Path) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def _assert_refused(res: subprocess.CompletedProcess, fragment: str) -> None:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("dnas: error: "), res.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in res.stderr + res.stdout


def _assert_api_refused(where: str, fragment: str) -> None:
    with pytest.raises(DnasError) as err:
        build_study([parse_spec(C12), parse_spec(TRUTH)], where=where)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("--where ") and fragment in msg, msg


@pytest.mark.parametrize("where, fragment", [p[:2] for p in PROBES], ids=[f"probe{i}" for i in range(len(PROBES))])
def test_where_escape_is_refused_by_the_cli(tmp_path, where, fragment):
    cwd = _empty_dir(tmp_path)
    _assert_refused(_cli(["--x", C12, "--y", TRUTH, "--where", where, "--bootstrap", "0"], cwd), fragment)
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("where, fragment", [p[:2] for p in PROBES], ids=[f"probe{i}" for i in range(len(PROBES))])
def test_where_escape_is_refused_by_the_python_api(tmp_path, monkeypatch, where, fragment):
    cwd = _empty_dir(tmp_path)
    monkeypatch.chdir(cwd)
    _assert_api_refused(where, fragment)
    with pytest.raises(FilterError, match="not allowed|not a column|not a valid|must be literal"):
        parse_filter(where, ["index", "arch", "y", "x"])
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("where", [p[0] for p in PROBES if p[2]])
def test_armed_probes_do_write_under_pandas_eval(tmp_path, monkeypatch, where):
    """The probes are real attacks: pandas' Python engine (what --where used before) runs them."""
    cwd = _empty_dir(tmp_path)
    monkeypatch.chdir(cwd)
    frame = pd.DataFrame({"index": np.arange(3), "arch": list("abc"), "y": [1.0, 2.0, 3.0], "x": [3.0, 2.0, 1.0]})
    frame.eval(where, engine="python")
    assert list(cwd.iterdir()), "the probe wrote nothing: it would not show a hole"


@pytest.mark.parametrize("where, fragment", RESOURCE, ids=[f"resource{i}" for i in range(len(RESOURCE))])
def test_where_resource_abuse_is_refused_quickly(tmp_path, monkeypatch, where, fragment):
    cwd = _empty_dir(tmp_path)
    start = time.perf_counter()
    if "\x00" not in where:  # a NUL byte cannot travel in an argv
        _assert_refused(_cli(["--x", C12, "--y", TRUTH, "--where", where, "--bootstrap", "0"], cwd), fragment)
    monkeypatch.chdir(cwd)
    _assert_api_refused(where, fragment)
    assert time.perf_counter() - start < 60
    assert list(cwd.iterdir()) == []


# ---- SPECs and --top: refused in one line instead of silently read as something else -----------

@pytest.fixture
def tables(tmp_path) -> Path:
    """Small tables keyed by official index: a numeric score, a text column, and a duplicated arch."""
    d = tmp_path / "tables"
    d.mkdir()
    pd.DataFrame({"arch": np.arange(40), "score": np.linspace(0, 1, 40),
                  "name": [f"cell-{i}" for i in range(40)]}).to_csv(d / "scores.csv", index=False)
    pd.DataFrame({"arch": [0, 0, 0, 1, 1, 2], "score": [1.0, 5.0, 3.0, 2.0, np.nan, 7.0]}).to_csv(
        d / "dups.csv", index=False)
    (d / "scores.json").write_text('{"run": [{"arch": 0, "score": 1.0}, {"arch": 1, "score": 2.0}]}')
    return d


BAD_INPUTS = [
    (["--x", "{t}/dups.csv:score,key=arch,format=index,agg=bogus"],
     "agg must be one of mean, median, min, max, first, got 'bogus'"),
    (["--x", "{t}/dups.csv:score,key=arch,format=index"], "3 rows for arch index 0; add ,agg=AGG"),
    (["--x", "{t}/scores.csv:score,key=arch,format=index,json-key=cifar10"],
     "json-key applies to JSON files only and {t}/scores.csv is a .csv table: drop ,json-key=cifar10"),
    (["--x", "{t}/scores.csv:score,key=arch,format=indices"], "format must be one of string, index, ops, naslib"),
    (["--x", "{t}/scores.csv:name,key=arch,format=index"],
     "column 'name' of {t}/scores.csv is not numeric (40 of 40 values, e.g. 'cell-0' in row 0)"),
    (["--x", "nb201:cifar10@12/test-accuracy,seed=abc"], "seed must be a whole number"),
    (["--x", C12, "--top", "99999"], "--top 99999: precision@k needs k below the number of rows compared"),
    (["--x", C12, "--top", "10", "--where", "index < 10"], "compares n = 10; give a count under 10"),
    (["--x", C12, "--where", "y > 1000"], "0 rows have both scores finite; a correlation needs at least 2: "
                                          "widen --where 'y > 1000'"),
    (["--x", C12, "--top", "0"], "--top 0: give a count of at least 1"),
    (["--x", C12, "--top", "150%"], "--top 150%: give a count of at least 1"),
    (["--x", C12, "--where", "y > 'abc'"], "cannot evaluate"),
    (["--x", C12, "--where", "y.quantile(1, 2, 3) > 1"], "cannot evaluate"),
]


@pytest.mark.parametrize("args, fragment", BAD_INPUTS, ids=[f"bad{i}" for i in range(len(BAD_INPUTS))])
def test_bad_specs_and_top_are_one_line_errors(tables, tmp_path, args, fragment):
    cwd = _empty_dir(tmp_path)
    fill = [a.replace("{t}", str(tables)) for a in args]
    _assert_refused(_cli([*fill, "--y", TRUTH, "--bootstrap", "0"], cwd), fragment.replace("{t}", str(tables)))
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("agg, want", [("mean", [3.0, np.nan, 7.0]), ("median", [3.0, np.nan, 7.0]),
                                       ("min", [1.0, np.nan, 7.0]), ("max", [5.0, np.nan, 7.0]),
                                       ("first", [1.0, 2.0, 7.0])])
def test_every_documented_aggregation(tables, agg, want):
    study = build_study([parse_spec(f"{tables}/dups.csv:score,key=arch,format=index,agg={agg}"), parse_spec(TRUTH)])
    x = study.frame["x"].to_numpy()
    np.testing.assert_array_equal(x[:3], want)  # a NaN row makes its arch NaN, except under first
    assert np.isnan(x[3:]).all()


def test_median_differs_from_mean_and_first(tmp_path):
    pd.DataFrame({"arch": [0, 0, 0], "score": [1.0, 2.0, 9.0]}).to_csv(tmp_path / "t.csv", index=False)
    got = {agg: build_study([parse_spec(f"{tmp_path}/t.csv:score,key=arch,format=index,agg={agg}"),
                             parse_spec(TRUTH)]).frame["x"].iloc[0] for agg in ("mean", "median", "first")}
    assert got == {"mean": 4.0, "median": 2.0, "first": 1.0}


def test_json_key_still_reads_json_tables(tables):
    study = build_study([parse_spec(f"{tables}/scores.json:score,json-key=run,key=arch,format=index"),
                         parse_spec(TRUTH)])
    assert study.frame["x"].iloc[:2].tolist() == [1.0, 2.0]


def test_default_top_sizes_skipped_on_a_small_subset_say_so(tmp_path):
    res = _cli(["--x", C12, "--y", TRUTH, "--where", "index < 8", "--bootstrap", "0"], _empty_dir(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "precision@k skipped, k >= n = 8: 10" in res.stdout
    assert "precision@10 " not in res.stdout and "precision@1% (k=1)" in res.stdout
