"""Supernets: the NB201 supernet with one-hot weights is the stand-alone network; DARTS space basics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from suite.spaces import darts, darts_net
from suite.spaces.mixing import EdgePlan, one_hot_plan
from suite.spaces.nb201 import OPS, Arch
from suite.spaces.nb201_net import NB201Network, subnet_state_dict

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("train_mode", [True, False])
def test_one_hot_supernet_is_the_standalone_network(arch, train_mode):
    torch.manual_seed(0)
    a = Arch.parse(arch)
    supernet = NB201Network(8, 2, 10, bn_affine=True, bn_track=True)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in supernet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
    standalone = NB201Network(8, 2, 10, arch=a)
    standalone.load_state_dict(subnet_state_dict(supernet, a))
    supernet.train(train_mode), standalone.train(train_mode)
    x = torch.randn(6, 3, 16, 16)
    plan = EdgePlan(one_hot_plan(list(a.op_indices), len(OPS)).weights)  # dense one-hot: every op runs
    y_super, y_alone = supernet(x, plan), standalone(x)
    assert torch.allclose(y_super, y_alone, atol=1e-5, rtol=1e-5)
    assert torch.allclose(supernet(x, one_hot_plan(list(a.op_indices), len(OPS))), y_alone, atol=1e-5, rtol=1e-5)


def test_standalone_network_allocates_only_its_ops():
    a = Arch.parse(ARCHS[2])  # one 1x1 conv per cell, no 3x3
    net = NB201Network(16, 5, 10, arch=a)
    per_cell = 16 * 16  # the 1x1 conv of the first stage's cells
    full = NB201Network(16, 5, 10, arch=Arch.parse(ARCHS[0]))
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in full.parameters())
    assert any(p.numel() == per_cell for p in net.cells[0].parameters())
    with pytest.raises(ValueError, match="needs an EdgePlan"):
        NB201Network(8, 1, 10)(torch.randn(2, 3, 8, 8))


def test_supernet_gradients_reach_all_alphas():
    net = NB201Network(8, 1, 10)
    alpha = torch.zeros(6, 5, requires_grad=True)
    net(torch.randn(4, 3, 8, 8), EdgePlan(torch.softmax(alpha, -1))).sum().backward()
    assert alpha.grad is not None and (alpha.grad.abs().sum(-1) > 0).all()


def test_darts_search_network_and_genotype():
    net = darts_net.DartsSearchNetwork(8, 5, 10)
    plans = {g: EdgePlan(torch.softmax(torch.randn(14, 8), -1)) for g in ("normal", "reduce")}
    assert net(torch.randn(2, 3, 16, 16), plans).shape == (2, 10)
    assert len(darts.EDGES) == 14 and darts.EDGES[:3] == ((0, 2), (1, 2), (0, 3))
    w = torch.full((14, 8), 0.1)
    w[0, darts.OPS.index("none")] = 5.0  # none never wins
    w[1, darts.OPS.index("sep_conv_3x3")] = 0.9
    w[0, darts.OPS.index("max_pool_3x3")] = 0.5
    gene = darts.derive_top2(w)
    assert gene[:2] == (("sep_conv_3x3", 1), ("max_pool_3x3", 0)) and len(gene) == 8
    g = darts.Genotype(gene, (2, 3, 4, 5), gene, (2, 3, 4, 5))
    assert darts.Genotype.parse(g.to_str()) == g
    with pytest.raises(ValueError, match="unknown DARTS op 'conv_7x7'"):
        darts.Genotype.parse(g.to_str().replace("sep_conv_3x3", "conv_7x7"))


def test_partial_channel_darts_edge_shapes():
    net = darts_net.DartsSearchNetwork(8, 3, 10, partial=4)
    plans = {g: EdgePlan(torch.softmax(torch.randn(14, 8), -1), edge_scale=torch.rand(14)) for g in ("normal", "reduce")}
    assert net(torch.randn(2, 3, 16, 16), plans).shape == (2, 10)
    sep = net.cells[0].edges[0].ops[darts.OPS.index("sep_conv_3x3")]
    assert sep[1].in_channels == 2  # C/K channels


def _groups_net(space: str):
    torch.manual_seed(0)
    if space == "nb201":
        groups = {"skip_connect": 1, "nor_conv_3x3": 1}
        return NB201Network(8, 1, 10, partial=2, op_groups=groups), 6, 5, (lambda n, x, p: n(x, p))
    groups = {"avg_pool_3x3": 1, "skip_connect": 1, "sep_conv_5x5": 1, "dil_conv_5x5": 1}
    return darts_net.DartsSearchNetwork(8, 3, 10, partial=2, op_groups=groups), 14, 8, \
        (lambda n, x, p: n(x, {"normal": p, "reduce": p}))


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_gated_paths_add_up_and_a_closed_path_computes_nothing(space):
    net, n_edges, n_ops, run = _groups_net(space)
    x = torch.randn(4, 3, 8, 8)
    w = torch.rand(n_edges, n_ops)
    both = run(net, x, EdgePlan(w, gates=[(1.0, 1.0)] * n_edges))
    p0 = run(net, x, EdgePlan(w, gates=[(1.0, 0.0)] * n_edges))
    p1 = run(net, x, EdgePlan(w, gates=[(0.0, 1.0)] * n_edges))
    assert both.shape == p0.shape == (4, 10) and not torch.allclose(p0, p1)
    # with path 1 closed, no op of group 1 runs: its weights get no gradient at all
    group1 = [p for name, p in net.named_parameters() if ("nor_conv_3x3" in name and space == "nb201")
              or (space == "darts" and ".ops.5." in name)]
    assert group1
    out = run(net, x, EdgePlan(w, gates=[(1.0, 0.0)] * n_edges)).sum()
    grads = torch.autograd.grad(out, group1, allow_unused=True)
    assert all(g is None for g in grads)
    out = run(net, x, EdgePlan(w, gates=[(0.0, 1.0)] * n_edges)).sum()
    assert any(g is not None for g in torch.autograd.grad(out, group1, allow_unused=True))


def test_shared_sources_and_per_cell_plans():
    shared = NB201Network(8, 2, 10, share_sources=True)
    per_edge = NB201Network(8, 2, 10)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(shared) < n(per_edge)
    plans = [EdgePlan(torch.softmax(torch.randn(6, 5), -1)) for _ in range(shared.num_search_cells)]
    x = torch.randn(2, 3, 8, 8)
    assert shared(x, plans).shape == (2, 10)
    with pytest.raises(ValueError, match="cell plans for 6 cells"):
        shared(x, plans[:2])
    d = darts_net.DartsSearchNetwork(8, 3, 10, share_sources=True)
    from suite.spaces.search import get_search_space

    counts = get_search_space("darts").cell_counts(d)
    assert counts == {"normal": 1, "reduce": 2}  # 3 cells: reductions at 1/3 and 2/3
    dp = {k: [EdgePlan(torch.rand(14, 8)) for _ in range(n)] for k, n in counts.items()}
    assert d(torch.randn(2, 3, 8, 8), dp).shape == (2, 10)
    assert len(d.cells[0].edges) == 5  # one op set per source node


def test_variable_degree_genotype_trains_in_the_evaluation_network():
    from suite.spaces.darts_eval import DartsEvalNetwork

    normal = (("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_3x3", 0), ("sep_conv_5x5", 2),
              ("max_pool_3x3", 1))
    g = darts.Genotype(normal, (2, 3, 4, 5), normal, (2, 3, 4, 5), (3, 0, 1, 1), (1, 1, 2, 1))
    assert darts.Genotype.parse(g.to_str()) == g
    assert [len(n) for n in g.nodes("normal")] == [3, 0, 1, 1]
    net = DartsEvalNetwork(g, c=8, layers=3, num_classes=10)
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and aux is not None
    with pytest.raises(ValueError, match="needs normal_nodes"):
        darts.Genotype(normal, (2, 3, 4, 5), normal, (2, 3, 4, 5))
    with pytest.raises(ValueError, match="must give 4 node degrees summing to the 5"):
        darts.Genotype(normal, (2, 3, 4, 5), normal, (2, 3, 4, 5), (2, 2, 2, 2), (1, 1, 2, 1))


def test_entrannas_dst_darts_genotype_is_trainable():
    from methods import create_method
    from suite.spaces.darts_eval import DartsEvalNetwork
    from suite.testing.checks import TINY

    m = create_method("entrannas-dst", "darts", 10, 1, seed=0, **TINY["darts"])
    g = m.derive()
    assert darts.Genotype.parse(g.to_str()) == g
    assert [len(n) for n in g.nodes("normal")] == [len([e for e in node]) for node in m.derived_graph()["normal"]]
    net = DartsEvalNetwork(g, c=4, layers=3, num_classes=10, auxiliary=False, in_channels=1)
    assert net(torch.randn(2, 1, 8, 8))[0].shape == (2, 10)


# ---- the DARTS cell computes per source node: same function as one module per edge ---------------
DARTS_GROUPS = {"avg_pool_3x3": 1, "skip_connect": 1, "sep_conv_5x5": 1, "dil_conv_5x5": 1}


def _darts_plans(rng: torch.Generator, partial: int) -> list[EdgePlan]:
    """Dense softmax, per-edge scales, sparse straight-through (GDAS-like), sparse with gates (FP-DARTS-like)."""
    w = torch.rand(14, 8, generator=rng, dtype=torch.double).requires_grad_()
    active = [sorted({int(k) for k in torch.randint(0, 8, (3,), generator=rng)}) for _ in range(14)]
    gates = [[(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)][e % 3] if partial == 2 else (1.0,) + (0.0,) * (partial - 1)
             for e in range(14)]
    return [EdgePlan(w), EdgePlan(w, edge_scale=torch.rand(14, generator=rng, dtype=torch.double)),
            EdgePlan(w, active=active, straight_through=True),
            EdgePlan(w, active=active, gates=gates, edge_scale=torch.rand(14, generator=rng, dtype=torch.double))]


@pytest.mark.parametrize("reduction", [False, True])
@pytest.mark.parametrize("partial", [1, 2, 4])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("affine", [False, True])
def test_darts_cell_per_source_equals_per_edge(reduction, partial, shared, affine):
    rng = torch.Generator().manual_seed(partial + 10 * reduction + 100 * shared + 1000 * affine)
    torch.manual_seed(0)
    cell = darts_net.SearchCell(12, 12, 8, reduction, False, partial, DARTS_GROUPS if partial == 2 else None, shared,
                            affine, identity_bn=affine).double()
    with torch.no_grad():
        for m in cell.modules():
            if isinstance(m, torch.nn.BatchNorm2d) and m.affine:
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
    for size in [(8, 6)] if reduction else [(8, 6), (7, 5)]:  # even: dilated convs on polyphase components
        s0, s1 = torch.randn(2, 3, 12, *size, generator=rng, dtype=torch.double)
        for plan in _darts_plans(rng, partial):
            fast, slow = cell(s0, s1, plan), cell.forward_per_edge(s0, s1, plan)
            torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
            (g_fast,), (g_slow,) = (torch.autograd.grad(y.square().sum(), plan.weights) for y in (fast, slow))
            torch.testing.assert_close(g_fast, g_slow, rtol=1e-9, atol=1e-9)
        cl = cell.to(memory_format=torch.channels_last)(s0.contiguous(memory_format=torch.channels_last),
                                                        s1.contiguous(memory_format=torch.channels_last), plan)
        torch.testing.assert_close(cl, slow, rtol=1e-10, atol=1e-10)
        cell.to(memory_format=torch.contiguous_format)


def test_darts_cell_drop_path_keeps_only_the_identity_when_everything_drops():
    cell = darts_net.SearchCell(8, 8, 4, False, False, 1).double()
    s0, s1 = torch.randn(2, 2, 8, 6, 6, dtype=torch.double)
    plan = EdgePlan(torch.rand(14, 8, dtype=torch.double))
    skip_only = EdgePlan(plan.weights * (torch.arange(8) == darts.OPS.index("skip_connect")))
    for p, want in ((1.0 - 1e-12, cell.forward_per_edge(s0, s1, skip_only)),
                    (1e-12, cell.forward_per_edge(s0, s1, plan))):
        got = cell(s0, s1, plan, (p, torch.Generator().manual_seed(0)))
        torch.testing.assert_close(got, want)


def test_polyphase_pooling_and_folded_batch_norm_helpers():
    from suite.spaces.ops import avg_pool_3x3, dense_grad, from_phases, scaled_batch_norm, to_phases

    x = torch.randn(3, 4, 10, 8, dtype=torch.double)
    for fmt in (torch.contiguous_format, torch.channels_last):
        xf = x.contiguous(memory_format=fmt)
        assert torch.equal(from_phases(to_phases(xf)), x)
        assert to_phases(xf).is_contiguous(memory_format=fmt)
        w = torch.randn(4, 1, 5, 5, dtype=torch.double)
        dilated = F.conv2d(xf, w, padding=4, dilation=2, groups=4)
        torch.testing.assert_close(from_phases(F.conv2d(to_phases(xf), w, padding=2, groups=4)), dilated)
        for stride in (1, 2):
            torch.testing.assert_close(avg_pool_3x3(xf, stride),
                                       F.avg_pool2d(x, 3, stride, 1, count_include_pad=False))
    with pytest.raises(ValueError, match="even height and width"):
        to_phases(torch.randn(1, 1, 5, 4))
    norm = torch.nn.BatchNorm2d(4, affine=True, track_running_stats=False).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-1, 1)
    s = torch.tensor(0.3, dtype=torch.double)
    torch.testing.assert_close(scaled_batch_norm(x, norm, s), norm(x) * s)
    leaf = x.clone().requires_grad_()
    wide = torch.randn(3, 8, 10, 8, dtype=torch.double)[:, 2:6]  # a strided slice
    (g,) = torch.autograd.grad(dense_grad(leaf), leaf, wide)
    assert g.is_contiguous() and torch.equal(g, wide)


@pytest.fixture(scope="module")
def xautodl_darts_pair():
    from xautodl_ref import darts_alpha_index, load_xautodl_darts, need_xautodl, xautodl_darts

    need_xautodl()
    torch.manual_seed(0)
    ref = xautodl_darts(8).double()
    with torch.no_grad():
        ref.arch_normal_parameters.normal_(), ref.arch_reduce_parameters.normal_()
    ours = darts_net.DartsSearchNetwork(8, 8, 10).double()
    load_xautodl_darts(ours, ref)
    return ref, ours, darts_alpha_index()


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_darts_supernet_is_xautodls(xautodl_darts_pair, fmt):
    """Loaded with XAutoDL's weights, our DARTS supernet gives its logits and α gradients (float64)."""
    ref, ours, (rows, cols) = xautodl_darts_pair
    ours = ours.to(memory_format=fmt)
    alphas = {g: torch.nn.Parameter(a.detach()[rows][:, cols].clone())
              for g, a in (("normal", ref.arch_normal_parameters), ("reduce", ref.arch_reduce_parameters))}
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8, generator=g, dtype=torch.double), torch.randint(0, 10, (4,), generator=g)
    ref.zero_grad()
    want = ref(x)[1]
    got = ours(x.contiguous(memory_format=fmt), {k: EdgePlan(F.softmax(a, -1)) for k, a in alphas.items()})
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    F.cross_entropy(want, y).backward()
    F.cross_entropy(got, y).backward()
    for k, a in (("normal", ref.arch_normal_parameters), ("reduce", ref.arch_reduce_parameters)):
        assert (alphas[k].grad.abs() > 1e-6).all()
        torch.testing.assert_close(alphas[k].grad, a.grad[rows][:, cols], rtol=1e-8, atol=1e-12)


def test_nb201_supernet_is_xautodls():
    """Loaded with XAutoDL's TinyNetworkDarts weights, our NB201 supernet gives its logits and α gradients."""
    from xautodl_ref import load_xautodl_nb201, need_xautodl, xautodl_nb201

    need_xautodl()
    torch.manual_seed(0)
    ref = xautodl_nb201(8, 2).double()
    with torch.no_grad():
        ref.arch_parameters.normal_()
    ours = NB201Network(8, 2, 10).double()
    load_xautodl_nb201(ours, ref)
    alpha = torch.nn.Parameter(ref.arch_parameters.detach().clone())
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8, generator=g, dtype=torch.double), torch.randint(0, 10, (4,), generator=g)
    for fmt in (torch.contiguous_format, torch.channels_last):
        ref.zero_grad()
        alpha.grad = None
        ours = ours.to(memory_format=fmt)
        want, got = ref(x)[1], ours(x.contiguous(memory_format=fmt), EdgePlan(F.softmax(alpha, -1)))
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
        F.cross_entropy(want, y).backward()
        F.cross_entropy(got, y).backward()
        assert (alpha.grad.abs() > 1e-6).all()
        torch.testing.assert_close(alpha.grad, ref.arch_parameters.grad, rtol=1e-8, atol=1e-12)
