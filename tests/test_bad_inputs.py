"""Bad input through every command and the Python API: one line naming the problem, the documented
exit status or exception type, and nothing written (no run directory, no store, no temp file)."""
from __future__ import annotations

import bz2
import os
import pickle
import shlex
from pathlib import Path
from typing import Any, Callable

import pytest

from suite.cli import main
from suite.errors import DnasError
from test_training import DARTS_V2

A11 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CSV = "nb201-200ep-test-accuracy.csv"
IMPORT = (f"bench import {{data}}/{CSV} --arch-column ArchitectureString --dataset cifar10 --epochs 200 "
          f"--version V --order {{store}} --metric test-accuracy=CIFAR10TestAccuracy200Epochs")
SMALL_TABLE = f"bench import small.csv --arch-column arch --dataset cifar10 --epochs 200 --version V --order {{store}}"
SEARCH = "search --method darts-v1 --dataset digits --epochs 1 --set channels=4 --set depth=1"
EVAL = f"evaluate --arch {A11} --protocol nats-12 --dataset digits --epochs 1 --set channels=4 --set depth=1"


def _setup(work: Path, store: Path, tss_dir: Path) -> None:
    """What the cases need in the working directory (made before the snapshot)."""
    (work / "afile").write_text("not a directory\n")
    (work / "syntax.yaml").write_text("method: darts-v1\nhparams: [1, 2\n")
    (work / "h5.yaml").write_text("method: darts-v1\ndataset: digits\nhparams: 5\n")
    (work / "seed.yaml").write_text("method: darts-v1\ndataset: digits\nseed: abc\n")
    rows = ["arch,acc,pct,empty,inf"]
    archs = (work / "archs.txt")
    archs.write_text((store / "archs.txt").read_text())
    names = archs.read_text().split("\n")[:3]
    rows += [f"{names[0]},93.1,94.1%,1.0,1.0", f"{names[1]},92.0,90.0,,inf", f"{names[2]},91.5,91.0,2.0,3.0"]
    (work / "small.csv").write_text("\n".join(rows) + "\n")
    archs.unlink()
    bad = work / "NATS-tss-v1_0-3ffb9-simple"  # a well-formed pickle of the wrong structure for index 11
    bad.mkdir()
    (bad / "meta.pickle.pbz2").write_bytes((tss_dir / "meta.pickle.pbz2").read_bytes())
    (bad / "000011.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"200": {"all_results": {}}})))
    (work / "thesis").mkdir()
    (work / "thesis" / "thesis.tex").write_text("\\chapter{Results}\n")


# (command line, text the one line must hold). {store}: a converted store, {data}: the reference-data folder
# (../shared/data, or on a fresh clone the same layout made from tests/data: conftest.py, data_root).
CLI_CASES = [
    ("bench info --bogus", "unrecognized arguments: --bogus"),
    ("bench info afile", "afile is a file: give the directory"),
    ("bench query --bench {store} --arch 11.0 --dataset cifar10 --epochs 200", "malformed NB201 arch string"),
    ("bench query --bench {store} --arch 99999 --dataset cifar10 --epochs 200", "outside [0, 15625)"),
    ("bench query --bench {store} --arch 11 --dataset cifar10 --epochs 200 --seed abc", "--seed takes 'mean'"),
    ("bench query --bench {store} --arch 11 --dataset cifar10 --epochs 0", "epochs=0 is not recorded"),
    ("bench query --bench {store} --arch 11 --dataset cifar10 --epochs abc", "invalid int value: 'abc'"),
    ("bench query --bench afile --arch 11 --dataset cifar10 --epochs 200", "is not a dnas-suite store"),
    ("bench query --bench {store} --arch 11 --dataset cifar-10 --epochs 200", "did you mean 'cifar10'"),
    ("bench query --bench {store} --arch 11 --dataset cifar10 --epochs 200 --iepoch -1", "iepoch must be an int"),
    ("bench query --bench {store} --arch 11 --dataset cifar10 --epochs 200 --metric valid-accuracy",
     "use dataset='cifar10-valid'"),
    ("bench best --bench {store} --dataset cifar10 --metric test-accuracy --epochs 200 --flop-max nan",
     "flop_max must be a finite number"),
    ("bench best --bench {store} --dataset cifar10 --metric test-accuracy --epochs 200 --mode avg",
     "invalid choice: 'avg'"),
    ("bench best --bench {store} --dataset cifar10 --metric naswot --epochs 200 --mode max", "metric 'naswot' is not recorded"),
    ("bench convert --nats {tss} --space tss --out afile/x", "afile is a file, not a directory"),
    ("bench convert --nats {tss} --space tss --out afile --overwrite", "is a file, not a store"),
    ("bench convert --nats {tss} --space tss --out thesis --overwrite", "thesis is not a dnas-suite store"),
    ("bench convert --nats {tss} --space tss --out o --workers 0", "--workers: must be >= 1, got 0"),
    ("bench convert --nats nowhere --space tss --out o", "no NATS-Bench data at nowhere"),
    ("bench convert --nats {tss} --space xyz --out o", "invalid choice: 'xyz'"),
    ("bench convert --nats NATS-tss-v1_0-3ffb9-simple --space tss --out o",
     "the record of arch 11 holds no training results"),
    ("bench convert --nats {tss} --space tss --out ro/o", "is on a read-only file system"),
    (IMPORT + " --out afile/x", "afile is a file, not a directory"),
    (IMPORT + " --out afile", "is a file, not a store"),
    (IMPORT + " --out thesis --overwrite", "thesis is not a dnas-suite store"),
    (IMPORT.replace("--epochs 200", "--epochs 0") + " --out o", "--epochs: must be >= 1, got 0"),
    (IMPORT.replace("--epochs 200", "--epochs -5") + " --out o", "--epochs: must be >= 1, got -5"),
    (IMPORT + " --metric test-accuracy=CIFAR100TestAccuracy200Epochs --out o",
     "--metric test-accuracy is given twice"),
    (IMPORT + " --where nope=1 --out o", "--where column 'nope' is not in"),
    (IMPORT + " --where a=1 --where a=2 --out o", "--where a is given twice"),
    (IMPORT.replace("CIFAR10TestAccuracy200Epochs", "nope") + " --out o", "column 'nope' is not in"),
    (IMPORT.replace("--dataset cifar10", "--dataset cifar-10") + " --out o", "did you mean 'cifar10'"),
    (IMPORT + " --arch-format bogus --out o", "invalid choice: 'bogus'"),
    (IMPORT + " --out ro/o", "is on a read-only file system"),
    (SMALL_TABLE + " --metric x=pct --out o", "1 not a number in 'pct' (x; e.g. row 0: '94.1%')"),
    (SMALL_TABLE + " --metric x=empty --out o", "1 empty or NaN in 'empty' (x; e.g. row 1: 'nan')"),
    (SMALL_TABLE + " --metric x=inf --out o", "1 not finite in 'inf' (x; e.g. row 1: 'inf')"),
    (SEARCH + " --out afile/x", "afile is a file, not a directory"),
    (SEARCH + " --out ro/runs", "is on a read-only file system"),
    (SEARCH + " --device tpu", "unknown device 'tpu'"),
    (SEARCH + " --seed -1", "--seed: must be >= 0, got -1"),
    (SEARCH + " --threads 0", "--threads: must be >= 1, got 0"),
    (SEARCH.replace("--epochs 1", "--epochs 0"), "--epochs: must be >= 1, got 0"),
    ("search syntax.yaml", "config syntax.yaml is not valid YAML"),
    ("search h5.yaml", "hparams in h5.yaml must be a mapping"),
    ("search seed.yaml", "seed must be an int, got 'abc'"),
    (SEARCH.replace("darts-v1", "ista-nas-one-stage") + " --set drop_path=5", "'drop_path' parameter of ista-nas"),
    (SEARCH + " --set lr=inf", "'lr' parameter of darts-v1 must be a finite number"),
    (SEARCH + " --set lr=1 --set lr=2", "--set lr is given twice"),
    (SEARCH + " --name ../x", "must be a single directory name"),
    (SEARCH + " --bench typo", "typo is not a dnas-suite store"),
    (SEARCH.replace("digits", "cifar10"), "cifar10 needs splits_dir (--splits-dir)"),
    (SEARCH.replace("darts-v1", "nope"), "unknown method 'nope'"),
    ("search --resume nowhere", "nowhere is not a run directory"),
    ("search --resume nowhere --epochs 5", "--epochs cannot change it"),
    ("search --resume nowhere --no-amp", "--[no-]amp cannot change it"),
    ("search --resume nowhere --channels-last", "--[no-]channels-last cannot change it"),
    (EVAL + " --bench typo", "typo is not a dnas-suite store"),
    (EVAL.replace("digits", "cifar10"), "cifar10 needs data_dir"),
    (EVAL + " --device tpu", "unknown device 'tpu'"),
    (EVAL + " --out afile/x", "afile is a file, not a directory"),
    (EVAL + " --out ro/runs", "is on a read-only file system"),
    (EVAL + " --seed -1", "--seed: must be >= 0, got -1"),
    (EVAL + " --set drop_path=5", "'drop_path' parameter of protocol nats-12 must be in [0, 1)"),
    (EVAL.replace("--arch " + A11, "--arch |x~0|"), "malformed NB201 arch string"),
    ("evaluate --arch \"{darts}\" --protocol darts-cifar --dataset cifar10 --bench {store}", "drop --bench"),
    ("evaluate --from-run nowhere --protocol nats-12 --dataset digits", "nowhere is not a run directory"),
    ("evaluate --resume nowhere --protocol nats-12", "--protocol cannot change it"),
    ("runs nowhere", "no runs at nowhere"),
    ("runs afile", "no runs at afile"),
    ("list methods --bogus", "unrecognized arguments: --bogus"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def work(tmp_path, tss_store, tss_dir, monkeypatch):
    """A working directory with the cases' inputs; ``ro/`` reads as a read-only file system."""
    _setup(tmp_path, tss_store, tss_dir)
    (tmp_path / "ro").mkdir()
    real = os.statvfs
    ro = str(tmp_path / "ro")

    class _ReadOnly:
        def __init__(self, st: Any) -> None:
            self._st = st
            self.f_flag = st.f_flag | os.ST_RDONLY

        def __getattr__(self, name: str) -> Any:
            return getattr(self._st, name)

    monkeypatch.setattr(os, "statvfs",
                        lambda p: _ReadOnly(real(p)) if os.path.abspath(p).startswith(ro) else real(p))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("line, text", CLI_CASES, ids=[c[0][:60] for c in CLI_CASES])
def test_cli_bad_input(work, tss_store, tss_dir, shared_data, capsys, line, text):
    before = _tree(work)
    argv = shlex.split(line.format(store=tss_store, tss=tss_dir, data=shared_data, darts=DARTS_V2))
    code, err = _cli(argv, capsys)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("dnas: error: "), err
    assert text in err[0], err[0]
    assert _tree(work) == before  # nothing written: no run directory, no store, no temp file


def _api_cases(tss: Any, tss_dir: Path, data: Path) -> list[tuple[str, Callable[[], Any], type, str]]:
    from benchmarks.convert import convert_nats
    from benchmarks.importer import import_table
    from suite.train.protocols import get_protocol
    from suite.runs.training import TrainingBenchmark
    from suite.runs import EvalConfig, run_training
    from methods import create_method
    from suite.runs import SearchConfig, run_search

    q = dict(dataset="cifar10", metric="test-accuracy", epochs=200)
    imp = dict(arch_column="ArchitectureString", metrics={"test-accuracy": "CIFAR10TestAccuracy200Epochs"},
               dataset="cifar10", epochs=200, version="V", out="o", order=str(tss.path))
    csv = data / CSV
    return [
        ("query epochs=12.9", lambda: tss.query(11, **{**q, "epochs": 12.9}), TypeError, "epochs must be an int"),
        ("query iepoch=True", lambda: tss.query(11, **q, iepoch=True), TypeError, "iepoch must be an int"),
        ("query dataset=None", lambda: tss.query(11, **{**q, "dataset": None}), TypeError, "dataset must be a string"),
        ("query arch=11.0", lambda: tss.query(11.0, **q), TypeError, "arch must be an index (int)"),
        ("query arch=True", lambda: tss.query(True, **q), TypeError, "arch must be an index (int)"),
        ("query metric=None", lambda: tss.query(11, **{**q, "metric": None}), TypeError, "metric must be a string"),
        ("query seed=1.5", lambda: tss.query(11, **q, seed=1.5), TypeError, "seed must be an int"),
        ("query epochs=None", lambda: tss.query(11, **{**q, "epochs": None}), ValueError, "epochs is required"),
        ("query arch unknown", lambda: tss.query(15625, **q), KeyError, "outside [0, 15625)"),
        ("query_many('ALL')", lambda: tss.query_many("ALL", **q), ValueError, "archs must be 'all' or a sequence"),
        ("query_many(None)", lambda: tss.query_many(None, **q), TypeError, "archs must be 'all' or a sequence"),
        ("query_many as_frame", lambda: tss.query_many([11], **q, as_frame="yes"), TypeError, "as_frame must be"),
        ("query_many [11.0]", lambda: tss.query_many([11.0], **q), TypeError, "arch must be an index (int)"),
        ("record iepoch=True", lambda: tss.record(11, "cifar10", 200, iepoch=True), TypeError, "iepoch must be"),
        ("curve arch=11.0", lambda: tss.curve(11.0, **q), TypeError, "arch must be an index (int)"),
        ("cost epochs=12.5", lambda: tss.cost(11, "cifar10", 12.5), TypeError, "epochs must be an int"),
        ("best flop_max=nan", lambda: tss.best(**q, flop_max=float("nan")), ValueError, "flop_max must be a finite"),
        ("best metric=None", lambda: tss.best("cifar10", None, 200), TypeError, "metric must be a string"),
        ("simulate rng='x'", lambda: tss.simulate_train_eval(11, "cifar10", 200, rng="x"), TypeError, "rng must be"),
        ("import epochs=0", lambda: import_table(csv, **{**imp, "epochs": 0}), ValueError, "epochs must be >= 1"),
        ("import epochs=12.0", lambda: import_table(csv, **{**imp, "epochs": 12.0}), TypeError, "epochs must be an int"),
        ("import metrics='x'", lambda: import_table(csv, **{**imp, "metrics": "x"}), TypeError, "metrics must be a"),
        ("import drop_invalid", lambda: import_table(csv, **imp, drop_invalid="yes"), TypeError, "drop_invalid must"),
        ("import out=file/x", lambda: import_table(csv, **{**imp, "out": "afile/x"}), DnasError, "afile is a file"),
        ("convert workers=0", lambda: convert_nats(tss_dir, "tss", "o", workers=0), ValueError, "workers must be >= 1"),
        ("convert chunk_size=0", lambda: convert_nats(tss_dir, "tss", "o", chunk_size=0), ValueError, "chunk_size"),
        ("convert out=file", lambda: convert_nats(tss_dir, "tss", "afile", overwrite=True), DnasError, "not a store"),
        ("SearchConfig seed=-1", lambda: SearchConfig("darts-v1", seed=-1), ValueError, "seed must be in [0,"),
        ("SearchConfig seed='abc'", lambda: SearchConfig("darts-v1", seed="abc"), TypeError, "seed must be an int"),
        ("SearchConfig hparams=5", lambda: SearchConfig("darts-v1", hparams=5), TypeError, "hparams must be a mapping"),
        ("SearchConfig threads=0", lambda: SearchConfig("darts-v1", threads=0), ValueError, "threads must be >= 1"),
        ("SearchConfig method=None", lambda: SearchConfig(None), TypeError, "method must be a string"),
        ("SearchConfig name='a/b'", lambda: SearchConfig("darts-v1", name="a/b"), ValueError, "single directory"),
        ("SearchConfig key", lambda: SearchConfig.from_dict({"method": "darts-v1", "lr": 1}), ValueError,
         "unknown config key 'lr'"),
        ("EvalConfig seed=True", lambda: EvalConfig(A11, "nats-12", "digits", seed=True), TypeError, "seed must be"),
        ("EvalConfig overrides", lambda: EvalConfig(A11, "nats-12", "digits", overrides=[1]), TypeError,
         "overrides must be a mapping"),
        ("drop_path=5", lambda: create_method("ista-nas-one-stage", "darts", 10, drop_path=5), ValueError,
         "'drop_path' parameter of ista-nas-one-stage must be in [0, 1)"),
        ("protocol drop_path=1", lambda: get_protocol("darts-cifar", {"drop_path": 1.0}), ValueError,
         "must be in [0, 1)"),
        ("evaluate seed='mean'", lambda: TrainingBenchmark("nats-12", out="r").evaluate(A11, "digits", seed="mean"),
         TypeError, "seed must be an int"),
        ("run_search device", lambda: run_search(SearchConfig("darts-v1", dataset="digits", device="tpu", out="r")),
         ValueError, "unknown device 'tpu'"),
        ("run_training bench", lambda: run_training(EvalConfig(A11, "nats-12", "digits", bench="typo", out="r")),
         FileNotFoundError, "typo is not a dnas-suite store"),
    ]


def test_python_api_bad_input(work, tss, tss_dir, shared_data):
    """Every case raises the documented type with a one-line message and writes nothing."""
    cases = _api_cases(tss, tss_dir, shared_data)
    assert len(cases) >= 40
    before = _tree(work)
    for name, call, kind, text in cases:
        with pytest.raises(kind) as exc:
            call()
        msg = str(exc.value.args[0]) if isinstance(exc.value, KeyError) else str(exc.value)
        assert text in msg and "\n" not in msg, (name, msg)
        assert _tree(work) == before, name


def test_every_command_is_covered():
    commands = {" ".join(c[0].split()[:2]) if c[0].startswith(("bench", "list")) else c[0].split()[0]
                for c in CLI_CASES}
    assert len(CLI_CASES) >= 40
    assert commands == {"bench info", "bench query", "bench best", "bench convert", "bench import", "search",
                        "evaluate", "runs", "list methods"}


def test_a_failing_file_system_is_one_line_and_cleaned_up(work, tss_store, shared_data, capsys, monkeypatch):
    """A write the checks could not foresee (the disk turns read-only mid-import): one line, no temp dir."""
    import errno

    real = os.replace

    def refuse(src: Any, dst: Any) -> None:
        if Path(dst).name == "o":
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", refuse)
    before = _tree(work)
    code, err = _cli(shlex.split(IMPORT.format(store=tss_store, data=shared_data) + " --out o"), capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("dnas: error: cannot use ") and err[0].endswith("o: Read-only file system; check the "
                                                                               "path or choose another place")
    assert _tree(work) == before
