"""The numerics fingerprint: what decides a run's float results besides its code, config and seed.

Two runs replay each other bit for bit only on the same fingerprint: the same CPU (vendor, model and
the vector extensions PyTorch, MKL and oneDNN dispatch on), the same PyTorch build (its BLAS and
oneDNN versions), the same thread count and the same device (GPU model, CUDA and cuDNN). A
regression baseline records it, and an exact-replay check between different fingerprints is "not
replayable here" rather than a changed result (``reports.regress``).

Portable mode (``DNAS_NUMERICS=portable`` with ``PORTABLE_ENV`` set before torch loads; ``dnas
--numerics portable`` and ``pytest --dnas-numerics portable`` set them) asks every library for its CPU-independent code path: MKL's conditional numerical
reproducibility (``MKL_CBWR=COMPATIBLE,STRICT``), ATen's kernels without vector extensions
(``ATEN_CPU_CAPABILITY=default``) and no oneDNN (convolutions through ATen and MKL). What it buys and costs is measured in docs (README, "Replay").
"""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any, Mapping

from suite.errors import DnasError

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")
"""CPU features a PyTorch, MKL or oneDNN kernel may dispatch on (x86 and Arm)."""
ENV_KEYS = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
            "MKL_DEBUG_CPU_TYPE", "GLIBC_TUNABLES", "DNAS_NUMERICS")
"""Environment variables that change which kernels run."""
PORTABLE_ENV = {"MKL_CBWR": "COMPATIBLE,STRICT", "ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41",
                "ONEDNN_MAX_CPU_ISA": "SSE41", "DNAS_NUMERICS": "portable"}
"""What portable mode sets before torch loads (``portable_env``)."""
CPU_FIELDS = ("cpu_vendor", "cpu_model", "cpu_family", "cpu_isa", "torch_cpu_capability")
"""Fingerprint fields that describe the processor; portable mode asks that they not matter."""


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def _torch_build(torch: Any) -> dict[str, Any]:
    """BLAS and oneDNN of this PyTorch build, read from ``torch.__config__.show()``."""
    text = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=([^,\s]+)", text)
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", text)
    dnnl = re.search(r"MKL-DNN v([^\s]+)", text)
    return {"torch": torch.__version__, "blas": blas.group(1) if blas else None, "mkl": mkl.group(1) if mkl else None,
            "onednn": dnnl.group(1) if dnnl else None, "mkldnn_enabled": bool(torch.backends.mkldnn.enabled)}


def fingerprint(device: str = "cpu") -> dict[str, Any]:
    """This process's numerics fingerprint for runs on ``device`` (call it after torch has loaded)."""
    import torch

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    out: dict[str, Any] = {
        "mode": "portable" if os.environ.get("DNAS_NUMERICS") == "portable" else "native",
        "cpu_vendor": info.get("vendor_id") or info.get("CPU implementer") or platform.processor() or None,
        "cpu_model": info.get("model name") or info.get("CPU part") or platform.machine(),
        "cpu_family": "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping")) if info else None,
        "cpu_isa": " ".join(f for f in ISA_FLAGS if f in flags) or None,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **_torch_build(torch),
        "threads": torch.get_num_threads(),
        "device": device,
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.device(device)
        out.update({"gpu": torch.cuda.get_device_name(dev),
                    "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability(dev))),
                    "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                    "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
                    "tf32": bool(torch.backends.cuda.matmul.allow_tf32)})
    return out


def replay_key(fp: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that must be equal for an exact replay: all of them, less the processor (and the variables
    that choose among its instruction sets) in portable mode."""
    if fp.get("mode") != "portable":
        return dict(fp)
    return {**{k: v for k, v in fp.items() if k not in CPU_FIELDS},
            "env": {k: v for k, v in (fp.get("env") or {}).items() if k in PORTABLE_ENV}}


def differences(base: Mapping[str, Any], cur: Mapping[str, Any]) -> list[str]:
    """'FIELD BASE -> CUR' for each replay-relevant field that differs (empty: replayable here)."""
    if not base or not cur:
        return ["no numerics fingerprint recorded" + (" in the baseline" if not base else " by the runs")]
    a, b = replay_key(base), replay_key(cur)
    if base.get("mode") != cur.get("mode"):
        a, b = dict(base), dict(cur)
    return [f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b), key=_field_order)
            if a.get(k) != b.get(k)]


def _field_order(key: str) -> tuple[int, str]:
    order = ("mode", *CPU_FIELDS, "torch", "blas", "mkl", "onednn", "mkldnn_enabled", "threads", "device", "gpu")
    return (order.index(key) if key in order else len(order), key)


def describe(fp: Mapping[str, Any]) -> str:
    """One short line: '<cpu model> (<vendor>, <capability>), torch X, N thread(s), <device>'."""
    if not fp:
        return "an unrecorded machine"
    where = fp.get("gpu") or f"{fp.get('cpu_model')} ({fp.get('cpu_vendor')}, {fp.get('torch_cpu_capability')})"
    mode = ", portable numerics" if fp.get("mode") == "portable" else ""
    return f"{where}, torch {fp.get('torch')}, {fp.get('threads')} thread(s){mode}"


def apply() -> str:
    """Put this process in the numerics mode its environment asks for; returns "portable" or "native".

    Portable mode turns oneDNN off here (a flag torch reads at each call); the rest must have been in
    the environment when torch loaded, else a one-line error says how to start the process."""
    import torch

    if os.environ.get("DNAS_NUMERICS", "native") not in ("native", "portable"):
        raise DnasError(f"DNAS_NUMERICS={os.environ['DNAS_NUMERICS']!r}: choose native (the default) or portable")
    if os.environ.get("DNAS_NUMERICS") != "portable":
        return "native"
    missing = [f"{k}={v}" for k, v in PORTABLE_ENV.items() if os.environ.get(k) != v]
    if missing or torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        raise DnasError(f"DNAS_NUMERICS=portable needs {' '.join(missing) or 'ATEN_CPU_CAPABILITY=default'} set before "
                        f"torch loads: start the process with 'dnas --numerics portable ...' or set them in its "
                        f"environment")
    torch.backends.mkldnn.enabled = False
    return "portable"


def portable_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default this process's) with portable mode's settings: for a child process's ``env``."""
    return {**(os.environ if environ is None else environ), **PORTABLE_ENV}
