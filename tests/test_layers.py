"""The package's layers: every import (function-level ones included) points down, never up.

    cli ─> apps (sweep, quickstart, testing) ─> runs ─> methods, benchmarks ─> engine (suite.train)
        ─> parts (data, spaces, runstore) ─> foundation (errors, io, params, checks, device, names)
    reports ─> benchmarks, parts, foundation (reads run directories and benchmarks; only apps and cli import it)

Read from the source with ``ast``, so a lazy import inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("suite", "methods", "benchmarks", "reports")

LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # layer: (modules it holds, by name prefix; layers below it that it may import)
    "foundation": (("suite", "suite.errors", "suite.io", "suite.processes", "suite.params", "suite.checks",
                    "suite.device", "suite.names", "suite.numerics"),
                   ()),
    "parts": (("suite.data", "suite.spaces", "suite.runstore", "suite.tensorboard"), ("foundation",)),
    "engine": (("suite.train", "suite.oneshot"), ("foundation", "parts")),
    "methods": (("methods",), ("foundation", "parts", "engine")),
    "benchmarks": (("benchmarks",), ("foundation", "parts", "engine")),
    "runs": (("suite.runs",), ("foundation", "parts", "engine", "methods", "benchmarks")),
    "reports": (("reports",), ("foundation", "parts", "benchmarks")),
    "apps": (("suite.sweep", "suite.quickstart", "suite.testing"),
             ("foundation", "parts", "engine", "methods", "benchmarks", "runs", "reports")),
    "cli": (("suite.cli",), ("foundation", "parts", "engine", "methods", "benchmarks", "runs", "reports", "apps")),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _layer(module: str) -> str | None:
    """The layer whose longest prefix names ``module`` (``suite`` itself: only the package's __init__)."""
    best, length = None, -1
    for layer, (prefixes, _) in LAYERS.items():
        for p in prefixes:
            exact_only = p == "suite"
            if (module == p or (not exact_only and module.startswith(p + "."))) and len(p) > length:
                best, length = layer, len(p)
    return best


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported name) of every import in the file, relative ones resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, name) for line, name in out if name.split(".")[0] in PACKAGES]


def _target(name: str, modules: dict[str, Path]) -> str:
    """The module an imported name lives in (``suite.spaces.nb201.Arch`` -> ``suite.spaces.nb201``)."""
    parts = name.split(".")
    while len(parts) > 1 and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts)


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if _layer(m) is None]
    assert not unplaced, f"modules in no layer (add them to LAYERS in {Path(__file__).name}): {unplaced}"


def test_imports_point_down_the_layers():
    modules = _modules()
    bad = []
    for module, path in modules.items():
        layer = _layer(module)
        allowed = {layer, *LAYERS[layer][1]}
        for line, name in _imports(module, path):
            target = _target(name, modules)
            to = _layer(target)
            if to not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} ({layer}) imports {target} ({to}); "
                           f"{layer} may import {', '.join(sorted(allowed))}")
    assert not bad, "imports against the layers:\n  " + "\n  ".join(sorted(set(bad)))


def test_the_layer_check_sees_lazy_imports(tmp_path):
    """A function-level import is read like a top-level one (the check would miss nothing lazy)."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from suite.cli import main\n    import reports.load\n")
    assert _imports("suite.data.m", src) == [(2, "suite.cli"), (2, "suite.cli.main"), (3, "reports.load")]


def _private_imports(module: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """``from X import _name`` where X is another module of the package: a private name shared across modules."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        if base.split(".")[0] not in PACKAGES or base == module:
            continue
        for a in node.names:
            if a.name.startswith("_") and not a.name.startswith("__") and f"{base}.{a.name}" not in modules:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} imports {a.name} from {base}")
    return out


def test_no_private_name_is_imported_from_another_module():
    """A name another module needs is public where it lives (or moves to where it is used)."""
    modules = _modules()
    bad = [hit for module, path in modules.items() for hit in _private_imports(module, path, modules)]
    assert not bad, "private names imported across modules:\n  " + "\n  ".join(bad)


def test_the_pytest_plugin_loads_without_torch():
    """pytest loads the plugin in every session of every project the suite is installed in: importing it must
    not import torch, the methods or the reports (they load when a test asks for a fixture)."""
    import subprocess
    import sys

    code = ("import sys, time; t = time.perf_counter(); import suite.testing.regress_plugin; "
            "print(time.perf_counter() - t); print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'methods', 'reports', 'benchmarks', 'numpy', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.splitlines()[0], out.stdout.splitlines()[1:]
    assert heavy in ([], [""]), f"the plugin imports {heavy} at load"
    print(f"plugin import: {float(seconds) * 1000:.0f} ms")
