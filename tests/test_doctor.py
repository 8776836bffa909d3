"""dnas doctor: a true picture of this installation, and of faked ones for the branches this machine lacks."""
from __future__ import annotations

import json
import types

import pytest

from suite.cli.doctor import gather, render


def _by(report) -> dict:
    return {c["name"]: c for c in report["checks"]}


def _fake_cuda(bf16: bool = True) -> types.SimpleNamespace:
    props = types.SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * 2**30, major=9, minor=0)
    cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 1,
                                 get_device_properties=lambda i: props, is_bf16_supported=lambda: bf16)
    return types.SimpleNamespace(__version__="2.13.0+cu128", version=types.SimpleNamespace(cuda="12.8"), cuda=cuda,
                                 backends=types.SimpleNamespace(cudnn=types.SimpleNamespace(version=lambda: 91002)))


def test_this_machine():
    import torch

    report = gather()
    by = _by(report)
    assert report["ok"] and by["torch"]["value"].startswith(torch.__version__)
    if not torch.cuda.is_available():
        assert by["cuda"]["ok"] is None and "no CUDA device" in by["cuda"]["value"]
    assert by["built-in table"]["ok"] and "15625 cells" in by["built-in table"]["value"]
    assert "usable core(s)" in by["cpu"]["value"] and by["numerics"]["value"].startswith(("native", "portable"))
    text = render(report)
    assert text.endswith("the suite can run here\n")
    missing = [c for c in report["checks"] if c["ok"] is False]
    assert all(f"fix: {c['fix']}" in text for c in missing)  # whatever is missing comes with its fix


def test_a_faked_gpu_machine():
    by = _by(gather(torch=_fake_cuda()))
    assert by["gpu 0"]["value"] == "NVIDIA H100 80GB HBM3, 80.0 GiB, compute 9.0"
    assert by["cuda / cudnn"]["value"] == "CUDA 12.8, cuDNN 91002" and by["bf16"]["ok"]
    old = _by(gather(torch=_fake_cuda(bf16=False)))
    assert old["bf16"]["ok"] is False and "--no-amp" in old["bf16"]["fix"]


def test_what_is_missing_comes_with_its_fix(tmp_path):
    report = gather(find_spec=lambda name: None, which=lambda name: None, data_dir=str(tmp_path),
                    environ={"DNAS_SPLITS_DIR": str(tmp_path)})
    by = _by(report)
    assert report["ok"]  # optional extras missing: the suite still runs
    assert by["ray"]["ok"] is False and by["ray"]["fix"] == "pip install 'dnas-suite[ray]'"
    assert by["chromium"]["fix"] == "apt-get install -y chromium"
    assert by["data"]["ok"] is False and "no dataset in the official layout" in by["data"]["value"]
    assert by["splits"]["ok"] is False
    (tmp_path / "cifar-10-batches-py").mkdir()
    assert _by(gather(data_dir=str(tmp_path)))["data"]["value"].endswith("CIFAR-10")


def test_a_broken_install_cannot_run(monkeypatch, capsys):
    import benchmarks

    def broken(path):
        raise FileNotFoundError("nb201/archs.txt")

    monkeypatch.setattr(benchmarks, "open", broken)
    report = gather()
    assert not report["ok"] and "the suite cannot run here: built-in table" in render(report)
    from suite.cli import main

    assert main(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_the_command(capsys):
    from suite.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "built-in table" in out and out.endswith("the suite can run here\n")
