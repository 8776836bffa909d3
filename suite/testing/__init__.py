"""Reusable checks that every registered method must pass (used by tests/test_methods.py)."""
from __future__ import annotations

from typing import Callable

import torch

from methods import create_method
from suite.spaces.darts import EDGES, OPS, Genotype
from suite.spaces.mixing import EdgePlan
from suite.spaces.nb201 import Arch

TINY = {"nb201": {"channels": 4, "depth": 1, "epochs": 3, "batch_size": 4, "arch_start_epoch": 0},
        "darts": {"channels": 4, "depth": 3, "epochs": 3, "batch_size": 4, "arch_start_epoch": 0}}


def tiny_batch(seed: int = 0, n: int = 4, channels: int = 1, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


def check_method_contract(name: str, space: str) -> None:
    """Build on a tiny supernet, step, derive, checkpoint round-trip, determinism."""
    def run() -> tuple:
        m = create_method(name, space, 10, 1, seed=3, **TINY[space])
        before = [p.detach().clone() for p in m.arch_parameters()]
        for epoch in range(2):
            m.on_epoch_start(epoch)
            out = m.step(tiny_batch(epoch), tiny_batch(epoch + 100))
            assert out and all(v.dim() == 0 and torch.isfinite(v) for v in out.values()), out
        moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, m.arch_parameters()))
        return m, str(m.derive()), moved, [p.detach().clone() for p in m.arch_parameters()]

    m, arch, moved, params = run()
    assert moved, f"{name} never updated its architecture parameters"
    derived = m.derive()
    assert isinstance(derived, Arch if space == "nb201" else Genotype)
    _, arch2, _, params2 = run()
    assert arch == arch2 and all(torch.equal(a, b) for a, b in zip(params, params2)), "not deterministic per seed"
    clone = create_method(name, space, 10, 1, seed=99, **TINY[space])
    clone.load_state_dict(m.state_dict())
    assert str(clone.derive()) == arch
    x, _ = tiny_batch(7)
    m.net.eval(), clone.net.eval()
    if not m.stochastic_plans:  # sampled plans differ per call
        assert torch.equal(m.logits(x), clone.logits(x))


def computed_darts_ops(net: torch.nn.Module, run: Callable[[], object]) -> list[set[tuple[int, int, int | None]]]:
    """Per cell of a DARTS search network, the op computations ``run()`` made: {(source node, op, edge)}.

    The edge is None for what a cell computes once for all out-edges of a source node (pools,
    ops shared per source); see ``SearchCell.trace``."""
    for cell in net.cells:
        cell.trace = []
    try:
        run()
        return [set(cell.trace) for cell in net.cells]
    finally:
        for cell in net.cells:
            cell.trace = None


def darts_ops_needed(cell: torch.nn.Module, plan: EdgePlan) -> set[tuple[int, int]]:
    """(source node, op) pairs a DARTS search cell has to compute under ``plan``: the ops its edges
    run, but ``none`` and the stride-1 identity, which cost nothing."""
    out = set()
    for e, (src, _) in enumerate(EDGES):
        for k in cell.edges[cell.module_of[e]].ops_of(plan, e):
            if OPS[k] != "none" and not (OPS[k] == "skip_connect" and not (cell.reduction and src < 2)):
                out.add((src, k))
    return out
