"""TensorBoard event streams: a sweep with --tensorboard writes one readable stream per run, live, with the
scalars of every epoch; dnas report --tensorboard writes the same from finished run stores. Read back with
TensorBoard's own reader."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from suite.cli import main
from suite.runstore import open_run
from suite.tensorboard import op_shares, scalars

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the test extra has it

SPEC = """out: {out}
search:
  method: [darts-v1, random]
  dataset: digits
  seed: 0
  hparams: {{epochs: 2, steps_per_epoch: 2, channels: 4, depth: 1, batch_size: 32}}
evaluate:
  protocol: nats-12
  dataset: digits
  overrides: {{epochs: 2, batch_size: 64}}
"""


def _read(stream: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(stream), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _expected(run: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for row in open_run(run).metrics.to_dict("records"):
        for tag, value in scalars(row).items():
            out.setdefault(tag, []).append((int(row["epoch"]), value))
    return out


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want), set(got) ^ set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) for (_, a), (_, b) in zip(got[tag], points)), tag


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tb")
    spec = root / "study.yaml"
    spec.write_text(SPEC.format(out=root / "runs"))
    assert main(["sweep", str(spec), "--workers", "1", "--tensorboard", str(root / "tb"), "--json"]) == 0
    return root / "runs", root / "tb"


def test_a_sweep_streams_every_run(swept):
    runs, tb = swept
    names = sorted(p.name for p in runs.iterdir() if (p / "config.yaml").is_file())
    assert len(names) == 4 and sorted(p.name for p in tb.iterdir()) == names
    for name in names:
        _same(_read(tb / name), _expected(runs / name))
    search = next(n for n in names if "darts-v1" in n and not open_run(runs / n).config.get("kind") == "evaluation")
    got = _read(tb / search)
    for tag in ("loss/train_loss", "accuracy/valid_acc", "lookup/cifar10@200/test-accuracy", "arch/entropy", "lr",
                "throughput/images_per_s"):
        assert [s for s, _ in got[tag]] == [0, 1], tag
    shares = [sum(v for t, pts in got.items() if t.startswith("ops/") for s, v in pts if s == e) for e in (0, 1)]
    assert all(math.isclose(x, 1.0, rel_tol=1e-6) for x in shares)
    evaluation = next(n for n in names if open_run(runs / n).config.get("kind") == "evaluation")
    assert {"loss/train-loss", "accuracy/ori-test-accuracy", "throughput/images_per_s"} <= set(_read(tb / evaluation))


def test_report_writes_the_same_streams_from_finished_runs(swept, tmp_path, capsys):
    runs, tb = swept
    out = tmp_path / "tb-after"
    assert main(["report", str(runs), "--out", str(tmp_path / "rep"), "--tensorboard", str(out)]) == 0
    assert "event stream(s) under" in capsys.readouterr().out
    for stream in tb.iterdir():
        _same(_read(out / stream.name), _read(stream))
    assert main(["report", str(runs), "--out", str(tmp_path / "rep"), "--tensorboard", str(out)]) == 0
    assert all(len(list((out / s.name).glob("events.out.tfevents.*"))) == 1 for s in tb.iterdir())  # replaced


def test_search_and_evaluate_take_the_flag(tmp_path, capsys):
    tb = tmp_path / "tb"
    assert main(["search", "--method", "gdas", "--dataset", "digits", "--epochs", "2", "--out", str(tmp_path),
                 "--name", "g", "--set", "steps_per_epoch=2", "--tensorboard", str(tb), "--json"]) == 0
    got = _read(tb / "g")
    assert got["arch/tau"][0][0] == 0 and len(got["lookup/cifar10@200/test-accuracy"]) == 2
    arch = open_run(tmp_path / "g").final["arch"]
    assert main(["evaluate", "--arch", arch, "--protocol", "nats-12", "--dataset", "digits", "--epochs", "1",
                 "--out", str(tmp_path), "--name", "e", "--tensorboard", str(tb), "--json"]) == 0
    assert "loss/train-loss" in _read(tb / "e")


def test_op_shares_of_both_encodings():
    assert op_shares("|skip_connect~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|") == {
        "none": 2 / 6, "nor_conv_3x3": 1 / 6, "skip_connect": 3 / 6}
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=range(2, 6), "
                "reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=range(2, 6))")
    assert op_shares(genotype) == {"max_pool_3x3": 0.25, "sep_conv_3x3": 0.5, "skip_connect": 0.25}
    assert op_shares("64:32:64:64:8") == {} and op_shares(None) == {}
    row = pd.Series({"epoch": 0, "train_loss": 1.5, "valid_acc": 0.5, "cifar10@200/test-accuracy": 93.0,
                     "lr": 0.01, "arch_entropy": float("nan"), "device": "cpu"}).to_dict()
    assert scalars(row) == {"loss/train_loss": 1.5, "accuracy/valid_acc": 0.5, "lookup/cifar10@200/test-accuracy": 93.0,
                            "lr": 0.01}
