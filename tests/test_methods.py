"""Methods: the registry, declared hyperparameters, and what defines each method."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import methods
from methods import create_method
from suite.testing import TINY, check_method_contract, tiny_batch

ALL = methods.list_methods()


def test_registry():
    assert {"darts-v1", "darts-v2", "gdas", "pc-darts"} <= set(ALL)
    with pytest.raises(ValueError, match="unknown method 'dart'; registered: darts-v1"):
        create_method("dart", "nb201", 10)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_every_method_meets_the_contract(name, space):
    check_method_contract(name, space)


def test_hyperparameters_are_declared_and_validated():
    m = create_method("darts-v1", "nb201", 10, **TINY["nb201"])
    assert m.hp["lr"] == 0.025 and m.hp["weight_decay"] == 5e-4 and m.hp["nesterov"] is True
    d = create_method("darts-v1", "darts", 10, **TINY["darts"])
    assert d.hp["weight_decay"] == 3e-4 and d.hp["nesterov"] is False
    assert create_method("gdas", "nb201", 10).hp["epochs"] == 250
    pc = create_method("pc-darts", "darts", 10, **TINY["darts"])
    assert (pc.hp["batch_size"], pc.hp["lr"], pc.hp["arch_lr"]) == (4, 0.1, 6e-4)
    with pytest.raises(ValueError, match=r"The 'lr' parameter of darts-v1 must be > 0\. Got -1\.0 instead\."):
        create_method("darts-v1", "nb201", 10, lr=-1.0)
    with pytest.raises(ValueError, match="unknown parameter 'learning_rate' for darts-v1; known: "):
        create_method("darts-v1", "nb201", 10, learning_rate=0.1)
    with pytest.raises(ValueError, match="'order' is fixed by the method name darts-v1"):
        create_method("darts-v1", "nb201", 10, order=2)
    assert create_method("darts-v1", "nb201", 10, lr="0.05", **TINY["nb201"]).hp["lr"] == 0.05


def test_darts_v2_gradient_matches_exact_second_order():
    torch.manual_seed(0)
    # ReLU kinks make DARTS's step of 0.01 too coarse for a tight check; the formula is what is tested
    m = create_method("darts-v2", "nb201", 10, 1, seed=0, **TINY["nb201"], unroll_eps=1e-6)
    m.net.double()
    with torch.no_grad():
        for p in m.arch_parameters():
            p.copy_(torch.randn_like(p).double())
    m.alphas = torch.nn.ParameterDict({g: torch.nn.Parameter(a.detach().double()) for g, a in m.alphas.items()})
    m.w_opt = torch.optim.SGD(m.net.parameters(), 0.1, momentum=0.9, weight_decay=5e-4)
    m.on_epoch_start(1)
    train = tuple(t.double() if t.is_floating_point() else t for t in tiny_batch(1, n=16, size=16))
    valid = tuple(t.double() if t.is_floating_point() else t for t in tiny_batch(2, n=16, size=16))
    m.weight_step(train)  # creates momentum buffers
    approx, _, _ = m.unrolled_gradient(train, valid)

    names = [n for n, _ in m.net.named_parameters()]
    weights = [p for p in m.net.parameters()]
    alpha = m.alphas["cell"]
    xi, mom, wd = m.lr, m.hp["momentum"], m.hp["weight_decay"]

    def loss(params, batch):
        plan = m.plans()
        out = functional_call(m.net, dict(zip(names, params)), (batch[0], plan["cell"]))
        return torch.nn.functional.cross_entropy(out, batch[1])

    g_train = torch.autograd.grad(loss(weights, train), weights, create_graph=True)
    unrolled = [w - xi * (g + wd * w + mom * m.w_opt.state[w]["momentum_buffer"]) for w, g in zip(weights, g_train)]
    (exact,) = torch.autograd.grad(loss(unrolled, valid), [alpha])
    first_order = torch.autograd.grad(loss([u.detach() for u in unrolled], valid), [alpha])
    assert torch.allclose(approx[0], exact, rtol=1e-4, atol=1e-7), (approx[0] - exact).abs().max()
    assert not torch.allclose(exact, first_order[0], rtol=1e-3)  # the second-order term matters here


def test_gdas_runs_one_op_per_edge_with_straight_through_gradients():
    m = create_method("gdas", "nb201", 10, 1, seed=0, **TINY["nb201"])
    plan = m.plans()["cell"]
    assert plan.active is not None and all(len(a) == 1 for a in plan.active)
    assert torch.equal(plan.weights.detach().sum(-1), torch.ones(6))
    assert set(plan.weights.detach().flatten().tolist()) <= {0.0, 1.0}
    x, y = tiny_batch(0)
    torch.nn.functional.cross_entropy(m.logits(x, {"cell": plan}), y).backward()
    assert m.alphas["cell"].grad is not None and (m.alphas["cell"].grad != 0).any()
    m.on_epoch_start(0)
    assert m.tau == 10.0
    m.on_epoch_start(2)
    assert m.tau == pytest.approx(0.1)


def test_pc_darts_partial_channels_and_edge_normalisation():
    m = create_method("pc-darts", "nb201", 10, 1, seed=0, **{**TINY["nb201"], "channels": 8}, k=4)
    cell = m.net.cells[0]
    assert cell.cp == 2 and cell.convs["0_nor_conv_3x3"][0].in_channels == 2
    scale = m.edge_scale(m.betas["cell"])
    for edges in m.space.in_edges():
        assert float(scale[edges].sum().detach()) == pytest.approx(1.0)
    assert m.hp["arch_start_epoch"] == 0  # TINY overrides the published warm-up of 15
    assert create_method("pc-darts", "nb201", 10).hp["arch_start_epoch"] == 15


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_channels_last_search_is_the_same_search_and_bf16_autocast_runs(space):
    ms = {cl: create_method("darts-v1", space, 10, 1, seed=0, channels_last=cl, **TINY[space]) for cl in (False, True)}
    assert ms[True].channels_last and not ms[True].amp  # the CPU defaults
    assert (ms[True].channels_last, ms[True].amp) == (create_method("darts-v1", space, 10, 1).channels_last, False)
    def layout(m):
        return {p.is_contiguous(memory_format=torch.channels_last) for p in m.net.parameters() if p.dim() == 4}
    # (in darts' tiny net every kernel is depthwise or 1x1, which look alike in both layouts)
    assert layout(ms[True]) == {True} and (layout(ms[False]) == {True, False} or space == "darts")
    assert ms[True].prepare(tiny_batch(0)[0]).is_contiguous(memory_format=torch.channels_last)
    for epoch in range(2):
        for m in ms.values():
            m.on_epoch_start(epoch)
            m.step(tiny_batch(epoch), tiny_batch(epoch + 10))
    for (ka, a), (kb, b) in zip(ms[False].named_arch().items(), ms[True].named_arch().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ms[False].logits(tiny_batch(3)[0]), ms[True].logits(tiny_batch(3)[0]),
                               rtol=1e-4, atol=1e-5)
    amp = create_method("darts-v1", space, 10, 1, seed=0, amp=True, **TINY[space])
    amp.on_epoch_start(0)
    out = amp.step(tiny_batch(0), tiny_batch(10))
    assert all(torch.isfinite(v) for v in out.values()) and amp.logits(tiny_batch(3)[0]).dtype == torch.float32
    assert all((p.detach() != q.detach()).any() for p, q in zip(amp.arch_parameters(), ms[False].arch_parameters()))
