"""Checks that every registered method must pass: the contract, the data split each parameter set learns from
(used by tests/test_methods.py; method authors can run them on their own methods)."""
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


OPTIMIZERS = {"arch": "a_opt", "net": "w_opt", "net_y": "y_opt"}
"""Parameter set -> the method's optimizer attribute that updates it (``net_y``: RARTS's second network)."""


def one_step(name: str, space: str, train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor],
             parts: list[str], *, arch_active: bool = True, **hparams) -> dict[str, list[list[torch.Tensor | None]]]:
    """The gradients each optimizer of ``parts`` (see ``OPTIMIZERS``) steps on during one
    ``step(train, valid)`` from the same initial state (seed 3): per part, one list per optimizer
    step. Gradients, not parameters: Adam's first step is about lr·sign(g) and would hide them.
    ``arch_active=False`` runs the step before ``arch_start_epoch``."""
    m = create_method(name, space, 10, 1, seed=3, **{**TINY[space], "arch_start_epoch": 0 if arch_active else 1,
                                                     **hparams})
    m.on_epoch_start(0)
    seen: dict[str, list[list[torch.Tensor | None]]] = {p: [] for p in parts}
    for part in parts:
        opt = getattr(m, OPTIMIZERS[part])

        def spy(*args, _opt=opt, _step=opt.step, _part=part, **kwargs):
            seen[_part].append([None if p.grad is None else p.grad.detach().clone()
                                for g in _opt.param_groups for p in g["params"]])
            return _step(*args, **kwargs)

        opt.step = spy
    out = m.step(train, valid)
    assert all(torch.isfinite(v) for v in out.values()), out
    return seen


def same_gradients(a: list[list[torch.Tensor | None]], b: list[list[torch.Tensor | None]], close: bool = False) -> bool:
    """Whether two records of ``one_step`` hold the same gradients (``close``: up to float rounding)."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all((u is None and v is None) or (u is not None and v is not None and (
            torch.allclose(u, v, rtol=1e-4, atol=1e-6) if close else torch.equal(u, v))) for u, v in zip(x, y))
        for x, y in zip(a, b))


def check_data_split(name: str, space: str, learns: dict[str, dict[str, bool | None]], *,
                     arch_active: bool = True, **hparams) -> None:
    """Which batch each parameter set learns from, seen from outside: change only the train batch,
    or only the valid batch, and compare the gradients each optimizer steps on in one step.

    ``learns[part][batch]``: True = they must change with that batch, False = they must not,
    None = either (the part sees that batch only through an update made earlier in the same step).
    With ``arch_active=False`` the architecture optimizer must not step at all."""
    t0, t1, v0, v1 = (tiny_batch(s) for s in (11, 12, 21, 22))
    parts = sorted({*learns, "arch"})
    base = one_step(name, space, t0, v0, parts, arch_active=arch_active, **hparams)
    changed = {"train": one_step(name, space, t1, v0, parts, arch_active=arch_active, **hparams),
               "valid": one_step(name, space, t0, v1, parts, arch_active=arch_active, **hparams)}
    for part, by_batch in learns.items():
        assert base[part], f"{name} ({space}): {OPTIMIZERS[part]} never stepped"
        for batch, must in by_batch.items():
            same = same_gradients(base[part], changed[batch][part])
            if must is True:
                assert not same, f"{name} ({space}): the {part} update ignores the {batch} batch"
            elif must is False:
                assert same, f"{name} ({space}): the {part} update depends on the {batch} batch"
    if not arch_active:
        assert not base["arch"], f"{name} ({space}) updated its architecture before arch_start_epoch"


def computed_darts_ops(net: torch.nn.Module, run: Callable[[], object]) -> list[set[tuple[int, int, int | None]]]:
    """Per cell of a DARTS search network, the op computations ``run()`` made: {(source node, op, edge)}.

    The edge is None for what a cell computes once for all out-edges of a source node (pools,
    ops shared per source); see ``suite.spaces.darts_net.SearchCell.trace``."""
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
