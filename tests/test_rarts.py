"""RARTS: the Gauss–Seidel single-level step, its two networks, and the SSS width search."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from methods import create_method
from suite.runs import Lookup
from suite.spaces.mixing import EdgePlan
from suite.spaces.search import get_search_space
from suite.spaces.sss import CHANNELS, SizeArch
from suite.spaces.sss_net import BEST_CELL, SSSNetwork, subnet_state_dict, width_masks
from suite.testing.checks import TINY, tiny_batch
from xautodl_ref import need_xautodl

SSS_TINY = {"epochs": 3, "batch_size": 4, "arch_start_epoch": 0}
PLAIN_SGD = {"momentum": 0.0, "weight_decay": 0.0, "grad_clip": 1e9, "lr": 0.1}  # the update is the formula


def rarts(space: str = "nb201", **kw):
    return create_method("rarts", space, 10, 1, seed=0, **{**TINY.get(space, SSS_TINY), **kw})


def loss_of(m, net, batch, plans):
    return F.cross_entropy(m.space.forward(net, batch[0], plans), batch[1])


def grads_at(m, net, batch, plans):
    net = copy.deepcopy(net)  # leave the method's networks (and BN statistics) alone
    params = list(net.parameters())
    return [g.detach() for g in torch.autograd.grad(loss_of(m, net, batch, plans), params)]


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def one_hot_alpha(widths) -> torch.Tensor:
    a = torch.zeros(5, len(CHANNELS))
    a[torch.arange(5), torch.tensor([CHANNELS.index(c) for c in widths])] = 10.0
    return a


# ---- the method ------------------------------------------------------------------------------
def test_defaults_and_y_starts_as_a_copy_of_w():
    m = rarts()
    assert (m.hp["lam"], m.hp["coupling"]) == (1.0, 1e-2)
    assert isinstance(m.y_opt, torch.optim.SGD) and isinstance(m.a_opt, torch.optim.Adam)
    assert m.net_y is not m.net
    assert all(torch.equal(a, b) for a, b in zip(m.net.parameters(), m.net_y.parameters()))
    m.on_epoch_start(2)
    assert m.y_opt.param_groups[0]["lr"] == m.lr < m.hp["lr"]  # one cosine schedule for w and y
    s = create_method("rarts", "sss", 10)
    assert (s.hp["epochs"], s.hp["channels"], s.hp["depth"], s.hp["nesterov"]) == (100, 64, 5, True)


def test_one_step_is_the_gauss_seidel_update():
    lam, beta = 0.7, 0.5
    m = rarts(lam=lam, coupling=beta, **PLAIN_SGD)
    with torch.no_grad():  # start from y != w so the coupling acts
        for p in m.net_y.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    m.on_epoch_start(0)
    eta = m.lr
    train, valid = tiny_batch(1), tiny_batch(2)
    with torch.no_grad():
        plans = m.plans()
    w0, y0 = params(m.net), params(m.net_y)
    w1 = [w - eta * (lam * g + beta * (w - y)) for w, y, g in zip(w0, y0, grads_at(m, m.net, train, plans))]
    y1 = [y - eta * (g + beta * (y - w)) for y, w, g in zip(y0, w1, grads_at(m, m.net_y, valid, plans))]
    m.step(train, valid)
    for got, want in zip(m.net.parameters(), w1):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)
    for got, want in zip(m.net_y.parameters(), y1):  # Gauss–Seidel: y is pulled towards the new w
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)


def test_coupling_alone_pulls_w_and_y_together():
    beta = 2.0
    m = rarts(lam=0.0, coupling=beta, **PLAIN_SGD)  # λ = 0: w moves by the coupling term only
    with torch.no_grad():
        for p in m.net_y.parameters():
            p.add_(1.0)
    m.on_epoch_start(0)
    w0, y0 = params(m.net), params(m.net_y)
    out = m.step(tiny_batch(1), tiny_batch(2))
    for w, a, b in zip(m.net.parameters(), w0, y0):
        torch.testing.assert_close(w.detach() - b, (1 - m.lr * beta) * (a - b))
    dist0 = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(w0, y0)))
    assert float(out["wy_distance"]) < dist0


def test_alpha_gradient_is_first_order_at_the_new_w_and_y(monkeypatch):
    lam = 0.5
    m = rarts(lam=lam)
    m.on_epoch_start(0)
    train, valid = tiny_batch(1), tiny_batch(2)
    alpha0 = {g: a.detach().clone() for g, a in m.alphas.items()}
    w0, y0 = copy.deepcopy(m.net), copy.deepcopy(m.net_y)
    seen, calls = [], []
    real_grad, real_step = torch.autograd.grad, m.a_opt.step

    def spy_grad(*args, **kwargs):
        calls.append(bool(kwargs.get("create_graph")) or bool(kwargs.get("retain_graph")))
        return real_grad(*args, **kwargs)

    def spy_step(*args, **kwargs):
        seen.append([a.grad.detach().clone() for a in m.arch_parameters()])
        return real_step(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", spy_grad)
    monkeypatch.setattr(m.a_opt, "step", spy_step)
    m.step(train, valid)
    monkeypatch.undo()
    assert calls and not any(calls), "RARTS must not build graphs for higher derivatives"

    def alpha_grad(w_net, y_net):
        alpha = m.alphas["cell"].detach().clone().copy_(alpha0["cell"]).requires_grad_(True)
        plans = {"cell": EdgePlan(F.softmax(alpha, dim=-1))}
        total = loss_of(m, copy.deepcopy(y_net), valid, plans) + lam * loss_of(m, copy.deepcopy(w_net), train, plans)
        return torch.autograd.grad(total, [alpha])[0]

    want = alpha_grad(m.net, m.net_y)  # w and y after their updates of this step
    torch.testing.assert_close(seen[0][0], want, rtol=1e-5, atol=1e-8)
    assert not torch.allclose(seen[0][0], alpha_grad(w0, y0), rtol=1e-3, atol=0)  # not the old w, y


def test_data_splitting_w_sees_train_y_sees_valid():
    m = rarts()
    m.on_epoch_start(0)
    train, valid = tiny_batch(1), tiny_batch(2)
    seen = {"w": [], "y": []}
    m.net.register_forward_pre_hook(lambda mod, args: seen["w"].append(args[0]))
    m.net_y.register_forward_pre_hook(lambda mod, args: seen["y"].append(args[0]))
    m.step(train, valid)
    assert len(seen["w"]) == 2 and all(torch.equal(x, train[0]) for x in seen["w"])  # w step, α step
    assert len(seen["y"]) == 2 and all(torch.equal(x, valid[0]) for x in seen["y"])
    # with β = 0 the two networks are independent: w's update ignores the valid batch
    a, b = rarts(coupling=0.0), rarts(coupling=0.0)
    a.on_epoch_start(0), b.on_epoch_start(0)
    a.step(train, valid), b.step(train, tiny_batch(3))
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.net_y.parameters(), b.net_y.parameters()))


def test_checkpoint_restores_both_networks():
    m = rarts()
    for epoch in range(2):
        m.on_epoch_start(epoch)
        m.step(tiny_batch(epoch), tiny_batch(epoch + 10))
    clone = create_method("rarts", "nb201", 10, 1, seed=5, **TINY["nb201"])
    clone.load_state_dict(copy.deepcopy(m.state_dict()))  # as a checkpoint file: optimizer state not shared
    assert all(torch.equal(a, b) for a, b in zip(m.net_y.parameters(), clone.net_y.parameters()))
    m.step(tiny_batch(7), tiny_batch(8)), clone.step(tiny_batch(7), tiny_batch(8))  # y's momentum buffers too
    for net in ("net", "net_y"):
        assert all(torch.equal(a, b) for a, b in zip(getattr(m, net).parameters(), getattr(clone, net).parameters()))
    assert torch.equal(m.alphas["cell"], clone.alphas["cell"])


# ---- the SSS width space -------------------------------------------------------------------
def randomise(net: torch.nn.Module) -> None:
    """Non-trivial BN affine parameters and statistics, so unmasked extra channels would show."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if "running_var" in name
                        else 0.3 * torch.randn(t.shape, generator=g))


def test_sss_widths_mask_channels():
    net = SSSNetwork(None, 10, 1)
    randomise(net)
    widths = (16, 40, 24, 64, 8)
    outs = []
    for layer in net.cells:
        layer.register_forward_hook(lambda mod, args, out: outs.append(out))
    net(tiny_batch(0)[0], EdgePlan(F.softmax(one_hot_alpha(widths), -1).round()))
    for out, c in zip(outs, widths):
        assert out.shape[1] == 64 and (out[:, c:] == 0).all() and (out[:, :c] != 0).any()
    soft = width_masks(torch.full((1, 8), 1 / 8))[0]
    assert torch.allclose(soft[:8], torch.ones(8)) and float(soft[63]) == pytest.approx(1 / 8)
    assert (soft[1:] <= soft[:-1]).all()


@pytest.mark.parametrize("widths", [(16, 40, 24, 64, 8), (24, 32, 32, 48, 48)])  # cells with C_in != / == C_out
def test_sss_one_hot_supernet_is_the_sliced_network(widths):
    sup = SSSNetwork(None, 10, 1)
    randomise(sup)
    sub = SSSNetwork(widths, 10, 1)
    sub.load_state_dict(subnet_state_dict(sup, widths))
    hot = EdgePlan(one_hot_alpha(widths).softmax(-1).round())
    assert set(hot.weights.flatten().tolist()) == {0.0, 1.0}
    x = tiny_batch(3, n=6)[0]
    for train in (True, False):
        sup.train(train), sub.train(train)
        torch.testing.assert_close(sup(x, hot), sub(x), rtol=1e-4, atol=1e-5)


def test_sss_network_matches_the_benchmark(sss_store):
    import benchmarks

    bench = benchmarks.open(sss_store)
    for code in (0, 11, 284):  # the official parameter counts
        arch = SizeArch.from_code(code)
        n = sum(p.numel() for p in SSSNetwork(arch, 10, 3).parameters())
        assert n / 1e6 == pytest.approx(bench.cost(arch, "cifar10", 90)["params"], abs=1e-6)


def test_sss_network_is_xautodls_dynamic_shape_tiny_net():
    need_xautodl()
    from xautodl.models.cell_searchs.genotypes import Structure
    from xautodl.models.shape_infers.InferTinyCellNet import DynamicShapeTinyNet

    from suite.spaces.nb201 import EDGES

    widths = [16, 40, 24, 64, 8]
    ref = DynamicShapeTinyNet(widths, Structure.str2structure(BEST_CELL.to_str()), 10)
    ours = SSSNetwork(widths, 10, 3)
    randomise(ref)
    names = {}
    for k in ref.state_dict():
        parts = k.split(".")
        if parts[0] == "cells" and parts[2] == "layers":  # layer k of a cell is edge k (node-major order)
            src, dst = EDGES[int(parts[3])]
            # ReLUConvBN: layers.k.op.<i>.* -> ops.<e>.<i>.*; FactorizedReduce: layers.k.{conv,bn}.* -> proj.<e>.{0,1}.*
            where = {"op": f"ops.{dst}<-{src}", "conv": f"proj.{dst}<-{src}.0", "bn": f"proj.{dst}<-{src}.1"}
            names[k] = ".".join(["cells", parts[1], where[parts[4]], *parts[5:]])
        else:
            names[k] = k.replace(".op.", ".")  # ResNet blocks' ReLUConvBN
    ours.load_state_dict({names[k]: v for k, v in ref.state_dict().items()})
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for train in (True, False):
        ref.train(train), ours.train(train)
        torch.testing.assert_close(ours(x), ref(x)[1], rtol=1e-4, atol=1e-5)


def test_sss_search_derives_argmax_widths_and_looks_them_up(sss_store, official_sss):
    m = rarts("sss")
    assert m.space is get_search_space("size") and m.alphas["width"].shape == (5, 8)
    assert m.space.benchmark_space == "sss"
    for epoch in range(2):
        m.on_epoch_start(epoch)
        out = m.step(tiny_batch(epoch), tiny_batch(epoch + 10))
        assert all(torch.isfinite(v) for v in out.values())
    assert isinstance(m.derive(), SizeArch)
    clone = create_method("rarts", "sss", 10, 1, seed=4, **SSS_TINY)
    clone.load_state_dict(m.state_dict())
    m.net.eval(), clone.net.eval()
    assert torch.equal(m.logits(tiny_batch(5)[0]), clone.logits(tiny_batch(5)[0]))
    with torch.no_grad():
        m.alphas["width"].copy_(one_hot_alpha((8, 8, 8, 16, 32)) * 0.01)  # argmax only, far from one-hot
    arch = m.derive()
    assert arch == SizeArch((8, 8, 8, 16, 32)) and arch.code == 11
    row = Lookup(str(sss_store), m.space)(arch)
    assert row["cifar10@90/test-accuracy"] == pytest.approx(
        official_sss.get_more_info(11, "cifar10", hp="90", is_random=False)["test-accuracy"])
    assert all(math.isfinite(v) for k, v in row.items() if "@90/" in k)


def test_other_methods_refuse_sss_clearly():
    with pytest.raises(ValueError, match="darts-v1 does not support the sss space; it supports: nb201, darts"):
        create_method("darts-v1", "sss", 10)
    with pytest.raises(ValueError, match="pc-darts does not support the sss space"):
        create_method("pc-darts", "sss", 10, channels=64)
    with pytest.raises(ValueError, match="sss width supernet is fixed by NATS-Bench.*set channels=64 and depth=5"):
        create_method("rarts", "sss", 10, channels=32)
