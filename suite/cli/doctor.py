"""dnas doctor: what this installation can do, in one screen, with the fix for whatever is missing.

Exit 0 when the suite can run (searches on CPU at least), 1 with the reason when it cannot. ``--json``
for scripts (the GPU check script reads it).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

from .common import print_json

OPTIONAL = {  # module -> (what it adds, how to get it)
    "ray": ("sweeps on a Ray cluster (dnas sweep --executor ray)", "pip install 'dnas-suite[ray]'"),
    "xautodl": ("the XAutoDL equality tests and speed comparison", "pip install --no-deps xautodl==1.0.0"),
    "xmlschema": ("the JUnit schema test", "pip install xmlschema"),
    "nats_bench": ("differential tests against the official NATS-Bench API", "pip install nats_bench"),
}
DATASETS = {"cifar-10-batches-py": "CIFAR-10", "cifar-100-python": "CIFAR-100", "ImageNet16": "ImageNet16-120"}


def _check(name: str, ok: bool | None, value: Any, fix: str = "", required: bool = False) -> dict[str, Any]:
    """One line of the report: ``ok`` None means 'not applicable here' (e.g. no GPU), never a failure."""
    return {"name": name, "ok": ok, "value": value, "fix": "" if ok else fix, "required": required}


def _gpu(torch: Any) -> list[dict[str, Any]]:
    """The CUDA device, its memory and bf16, CUDA and cuDNN, or one line saying there is none."""
    if not torch.cuda.is_available():
        return [_check("cuda", None, f"no CUDA device (torch {torch.__version__}, CUDA build: "
                                     f"{torch.version.cuda or 'none'})",
                       "GPU runs need a CUDA build of torch and a GPU: pip install torch (not the +cpu wheel)")]
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append(_check(f"gpu {i}", True, f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute "
                                            f"{p.major}.{p.minor}"))
    out.append(_check("cuda / cudnn", True, f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"))
    bf16 = bool(torch.cuda.is_bf16_supported())
    out.append(_check("bf16", bf16, "supported (--amp uses bf16 autocast)" if bf16 else "not supported",
                      "bf16 autocast needs compute capability 8.0 or newer: run with --no-amp"))
    return out


def gather(*, torch: Any = None, which: Callable[[str], str | None] = shutil.which,
           environ: Mapping[str, str] | None = None, find_spec: Callable[[str], Any] = importlib.util.find_spec,
           bench_root: str | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """Every check as a dict; the arguments replace what the checks look at (tests pass a fake torch)."""
    env = os.environ if environ is None else environ
    checks: list[dict[str, Any]] = []
    if torch is None:
        try:
            import torch as torch_module
        except ImportError as exc:
            return {"checks": [_check("torch", False, f"cannot import torch ({exc})",
                                      "pip install -c constraints-cpu.txt -e . (CPU) or a CUDA build of torch",
                                      required=True)], "ok": False}
        torch = torch_module
    checks.append(_check("torch", True, f"{torch.__version__} ({'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU build'})",
                         required=True))
    checks += _gpu(torch)
    from suite.device import usable_cores
    from suite.numerics import describe, fingerprint

    cores = usable_cores()
    threads = env.get("OMP_NUM_THREADS")
    fp = fingerprint("cpu")
    checks.append(_check("cpu", True, f"{fp['cpu_model'] or platform.machine()} ({fp['cpu_vendor']}, torch kernels "
                                      f"{fp['torch_cpu_capability']}); {cores} usable core(s)"))
    checks.append(_check("threads", True, f"runs use --threads, else OMP_NUM_THREADS ({threads or 'unset'}), else "
                                         f"the usable cores ({cores}); OMP_WAIT_POLICY="
                                         f"{env.get('OMP_WAIT_POLICY', 'PASSIVE (set by dnas)')}"))
    checks.append(_check("numerics", True, f"{fp['mode']}: {describe(fp)}; ISA {fp.get('cpu_isa')}; "
                                          f"BLAS {fp.get('blas')} {fp.get('mkl') or ''}, oneDNN {fp.get('onednn')}"))
    checks += _benchmarks(bench_root)
    checks += _data(data_dir, env)
    for module, (what, fix) in OPTIONAL.items():
        found = find_spec(module) is not None
        checks.append(_check(module, found, what if found else f"not installed: {what} unavailable", fix))
    chromium = next((p for p in (which("chromium"), which("chromium-browser"), which("google-chrome")) if p), None)
    checks.append(_check("chromium", bool(chromium), chromium or "not found: the report's browser test skips",
                         "apt-get install -y chromium"))
    ok = all(c["ok"] for c in checks if c["required"])
    return {"checks": checks, "ok": ok}


def _benchmarks(root: str | None) -> list[dict[str, Any]]:
    """The built-in table (required: lookups need it) and the benchmark files found (``dnas bench info``)."""
    from benchmarks.locate import scan

    out = []
    try:
        import benchmarks

        b = benchmarks.open("nb201")
        out.append(_check("built-in table", True, f"nb201 ({b.version}, {len(b.archs)} cells)", required=True))
    except Exception as exc:  # noqa: BLE001 - a broken install, reported in one line
        out.append(_check("built-in table", False, f"cannot open ({type(exc).__name__}: {exc})",
                          "reinstall: pip install -e . (the table ships inside the package)", required=True))
    info = scan(root)
    found = [f"{f['space']} {f.get('version') or f['kind']}" for f in info["found"]]
    out.append(_check("benchmarks", bool(found), f"{info['root']}: {', '.join(found) or 'none found'}",
                      "dnas bench info says which file to download and how to convert it"))
    return out


def _data(data_dir: str | None, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Which datasets a data folder holds (``--data-dir``, else DNAS_CIFAR_DIR), and the split files."""
    root = data_dir or env.get("DNAS_CIFAR_DIR")
    if not root:
        return [_check("data", None, "no --data-dir given (digits ships with scikit-learn and needs none)",
                       "give --data-dir DIR holding cifar-10-batches-py/, cifar-100-python/ or ImageNet16/")]
    path = Path(root).expanduser()
    held = [name for sub, name in DATASETS.items() if (path / sub).is_dir()]
    splits = env.get("DNAS_SPLITS_DIR")
    out = [_check("data", bool(held), f"{path}: {', '.join(held) or 'no dataset in the official layout'}",
                  f"put cifar-10-batches-py/ (the official python version) etc. under {path}")]
    if splits:
        ok = (Path(splits).expanduser() / "cifar-split.txt").is_file()
        out.append(_check("splits", ok, splits, "DNAS_SPLITS_DIR must hold NATS-Bench's cifar-split.txt"))
    return out


def render(report: Mapping[str, Any]) -> str:
    """One line per check: a mark, the name, what was found, and the fix when something is missing."""
    marks = {True: "ok  ", False: "MISS", None: " -  "}
    lines = []
    for c in report["checks"]:
        mark = "FAIL" if c["required"] and not c["ok"] else marks[c["ok"]]
        lines.append(f"  {mark} {c['name']:<15} {c['value']}" + (f"\n       fix: {c['fix']}" if c["fix"] else ""))
    why = [c["name"] for c in report["checks"] if c["required"] and not c["ok"]]
    lines.append("the suite can run here" if report["ok"] else f"the suite cannot run here: {', '.join(why)}")
    return "\n".join(lines) + "\n"


def cmd_doctor(args: argparse.Namespace) -> int:
    report = gather(bench_root=args.bench_dir, data_dir=args.data_dir)
    if args.json:
        print_json(report)
    else:
        print(render(report), end="")
    return 0 if report["ok"] else 1


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("doctor", help="what this installation can do: torch, GPU, CPU, threads, numerics, "
                                       "benchmarks, data, extras (exit 1 when the suite cannot run)")
    sp.add_argument("--bench-dir", dest="bench_dir", help="where benchmarks live (default $TORCH_HOME, else ~/.torch)")
    sp.add_argument("--data-dir", dest="data_dir", help="a data folder to check (default $DNAS_CIFAR_DIR)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_doctor)
