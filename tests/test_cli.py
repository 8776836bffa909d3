"""The ``dnas`` command line, run as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from suite.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite.cli", *args], capture_output=True, text=True, timeout=300)


def test_info_lists_found_and_missing(tss_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tss_dir.parent))
    assert main(["bench", "info"]) == 0
    out = capsys.readouterr().out
    assert "NATS-tss-v1_0-3ffb9-simple: NATS-Bench tss fast-mode dir, 3/15625 records" in out
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["bench", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["found"] == [] and {m["space"] for m in info["missing"]} == {"tss", "sss"}
    assert "NATS-tss-v1_0-3ffb9-simple.tar" in info["missing"][0]["how"]


def test_convert_query_best_import(tss_dir, shared_data, tmp_path, capsys):
    store = tmp_path / "tss"
    assert main(["bench", "convert", "--nats", str(tss_dir), "--space", "tss", "--out", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_with_records"] == 3
    assert main(["bench", "query", "--bench", str(store), "--arch", "11", "--dataset", "cifar10",
                 "--epochs", "200", "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["index"] == 11 and q["metrics"]["test-accuracy"] > 90 and q["cost"]["params"] == 0.802426
    assert main(["bench", "query", "--bench", str(store), "--arch", "11", "--dataset", "cifar10",
                 "--epochs", "200", "--metric", "test-accuracy", "--seed", "777"]) == 0
    assert "test-accuracy" in capsys.readouterr().out
    tab = tmp_path / "tab"
    assert main(["bench", "import", str(shared_data / "nb201-200ep-test-accuracy.csv"), "--arch-column",
                 "ArchitectureString", "--metric", "test-accuracy=CIFAR10TestAccuracy200Epochs", "--dataset",
                 "cifar10", "--epochs", "200", "--version", "NATS-tss-v1_0-3ffb9", "--out", str(tab),
                 "--order", str(store)]) == 0
    assert "test-accuracy for 15625 archs" in capsys.readouterr().out
    assert main(["bench", "best", "--bench", str(tab), "--dataset", "cifar10", "--metric", "test-accuracy",
                 "--epochs", "200", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["index"] == 6111 and round(best["value"], 4) == 94.3733


@pytest.mark.parametrize("args, text", [
    (["bench", "query", "--bench", "{store}", "--arch", "11", "--dataset", "cifar10", "--epochs", "200",
      "--metric", "valid-accuracy"], "use dataset='cifar10-valid'"),
    (["bench", "query", "--bench", "{store}", "--arch", "|x~0|", "--dataset", "cifar10", "--epochs", "200"],
     "malformed NB201 arch string"),
    (["bench", "query", "--bench", "{tmp}", "--arch", "1", "--dataset", "cifar10", "--epochs", "200"],
     "is not a dnas-suite store"),
    (["bench", "convert", "--nats", "{tmp}/none", "--space", "tss", "--out", "{tmp}/o"], "no NATS-Bench data at"),
])
def test_errors_are_one_line(tss_store, tmp_path, args, text):
    args = [a.format(store=tss_store, tmp=tmp_path) for a in args]
    res = run(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dnas: error: ") and text in lines[0]


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("dnas")
    assert exe, "the package must be installed (pip install -e .) so that 'dnas' is on PATH"
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "bench" in res.stdout


HEAVY = ("torch", "pandas", "scipy", "matplotlib", "sklearn", "benchmarks.store", "reports")
"""What a command imports only when it runs, never to print help or a list."""


@pytest.mark.parametrize("argv, allowed", [
    (["--help"], ()),
    (["bench", "import", "--help"], ()),
    (["regress", "--help"], ()),
    (["list", "methods"], ("torch",)),  # the method registry imports the method files, which build torch modules
])
def test_light_commands_import_little(argv, allowed):
    code = ("import contextlib, io, sys\nfrom suite.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n    try:\n        main(sys.argv[1:])\n    except SystemExit:\n"
            "        pass\nprint(out.getvalue().count('\\n'), *sorted(m for m in %r if m in sys.modules))" % (HEAVY,))
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines, *loaded = res.stdout.split()
    assert int(lines) > 1  # it printed the help or the list
    assert set(loaded) <= set(allowed), f"dnas {' '.join(argv)} imported {loaded}"


def test_a_closed_pipe_ends_a_listing_quietly():
    """`dnas runs ... | head -1`: the reader leaving early is not an error (no message, exit 0)."""
    code = ("import sys\nfrom suite.cli import main\n"
            "sys.exit(main(['list', 'methods']))")
    res = subprocess.run(f"{sys.executable} -c \"{code}\" | head -c 1", shell=True, capture_output=True, text=True,
                         timeout=120, executable="/bin/bash")
    assert res.stdout == "d" and res.stderr == ""


@pytest.mark.parametrize("raised, code", [(ValueError("a bug of ours"), 1), (KeyError("x"), 1),
                                          (__import__("suite.errors").errors.InvalidInput("bad --x: give y"), 2)])
def test_user_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys, raised, code):
    """A DnasError (the user's input) is one line, exit 2; any other exception is a bug: its traceback and a
    line asking to report it, exit 1 (a ValueError from deep inside is not read as the user's mistake)."""
    from suite.cli import listing

    def boom(args):
        raise raised

    monkeypatch.setattr(listing, "cmd_list_methods", boom)
    assert main(["list", "methods"]) == code
    err = capsys.readouterr().err
    if code == 2:
        assert err == "dnas: error: bad --x: give y\n"
    else:
        assert "Traceback (most recent call last)" in err and "bug in dnas-suite" in err.splitlines()[-1]
