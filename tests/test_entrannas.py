"""EnTranNAS / EnTranNAS-DST: Engine- and Transit-cells, feature sharing, differentiable sparsification."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from methods import create_method
from methods.entrannas import dst_weights
from suite.spaces import darts, darts_net, nb201
from suite.spaces.mixing import EdgePlan
from suite.testing.checks import TINY, computed_darts_ops, darts_ops_needed, tiny_batch

VARIANTS = [(name, space) for name in ("entrannas", "entrannas-dst") for space in ("nb201", "darts")]
# darts with 5 cells: normal 0, 2, 4 and reduce 1, 3, so each type has Transit-cells
SIZES = {"nb201": TINY["nb201"], "darts": {**TINY["darts"], "depth": 5}}


def make(name: str, space: str, transit: bool = True, **kw):
    """A tiny method; ``transit``: enough cells that every cell type has Transit-cells."""
    return create_method(name, space, 10, 1, seed=0, **{**(SIZES if transit else TINY)[space], **kw})


def spread(m, scale: float = 3.0, seed: int = 0) -> None:
    """Well-separated random α (and β), so the derived sets are sparse and have no ties."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.arch_parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g))


def loss_of(m, plans, seed: int = 0) -> torch.Tensor:
    x, y = tiny_batch(seed)
    return F.cross_entropy(m.logits(x, plans), y)


def nonzero_sets(weights: torch.Tensor) -> list[list[int]]:
    return [[k for k in range(weights.shape[1]) if weights[e, k] > 0] for e in range(weights.shape[0])]


@pytest.mark.parametrize("name,space", VARIANTS)
def test_one_engine_cell_per_type_then_transit_cells(name, space):
    m = make(name, space)
    spread(m)
    plans = m.plans()
    assert {g: len(p) for g, p in plans.items()} == m.space.cell_counts(m.net)
    for g, (engine, *transit) in plans.items():
        assert transit, "every cell type needs Transit-cells for this test"
        assert engine.weights.requires_grad
        chosen = m.chosen(g, engine.weights)
        for plan in transit:  # unweighted sum over S, constant weights, only S runs
            assert not plan.weights.requires_grad
            assert plan.active == chosen
            assert nonzero_sets(plan.weights) == chosen
            assert set(plan.weights.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name,space", VARIANTS)
def test_no_gradient_reaches_the_architecture_through_transit_cells(name, space):
    m = make(name, space)
    spread(m)
    params = m.arch_parameters()
    full = torch.autograd.grad(loss_of(m, m.plans()), params, allow_unused=True)
    assert full[0] is not None and (full[0] != 0).any()
    # cut the Engine-cells' dependence on α (and β): nothing else may lead back to them
    cut = {g: [EdgePlan(ps[0].weights.detach(), active=ps[0].active), *ps[1:]] for g, ps in m.plans().items()}
    loss = loss_of(m, cut)
    assert loss.requires_grad  # the network weights still get gradients
    assert all(g is None for g in torch.autograd.grad(loss, params, allow_unused=True))


@pytest.mark.parametrize("seed", range(3))
def test_dst_derived_cell_is_the_engine_cells_nonzero_graph_darts(seed):
    m = make("entrannas-dst", "darts")
    spread(m, seed=seed)
    plans, graph, geno = m.plans(), m.derived_graph(), m.derive()
    degrees = []
    for g in ("normal", "reduce"):
        engine = plans[g][0]
        w = engine.weights.detach()
        assert engine.active == nonzero_sets(w)  # ops with q̂ = 0 do not run in the Engine-cell
        for node, edges in enumerate(m.space.in_edges()):
            live = {(darts.EDGES[e][0], darts.OPS[k]) for e in edges for k in range(len(darts.OPS))
                    if w[e, k] > 0 and darts.OPS[k] != "none"}
            assert set(graph[g][node]) == live and len(graph[g][node]) == len(live)
            degrees.append(len({i for i, _ in live}))
        cell = geno.normal if g == "normal" else geno.reduce
        assert list(cell) == [(op, i) for node in graph[g] for i, op in node]
    assert set(degrees) != {2}, "DST should not be bound to two inputs per node"


def test_dst_nb201_derivation_largest_weight_per_edge_and_none_for_dropped_edges():
    m = make("entrannas-dst", "nb201")
    a = torch.zeros(6, 5)
    a[0, 1], a[0, 2] = 3.0, 2.9  # edge 0->1: skip and 1x1 conv both survive the threshold
    a[1, 3] = 5.0  # edge 0->2 dominates node 2 ...
    # ... so edge 1->2 (all α = 0) falls below t = 0.5 on every op
    a[3, 4] = a[4, 3] = a[5, 2] = 2.0
    with torch.no_grad():
        m.alphas["cell"].copy_(a)
        m.betas["cell"].zero_()  # t_j = 0.5
    w = m.plans()["cell"][0].weights.detach()
    assert (w[2] == 0).all() and (w[0, [1, 2]] > 0).all()
    arch = m.derive()
    assert arch.ops[0] == "skip_connect" and arch.ops[2] == "none" and arch.ops[1] == "nor_conv_3x3"
    for e, op in enumerate(arch.ops):
        assert op == ("none" if (w[e] == 0).all() else nb201.OPS[int(w[e].argmax())])
    # the Transit-cells sum every surviving op, as the Engine-cell runs them
    assert m.plans()["cell"][1].active[0] == [1, 2] and m.plans()["cell"][1].active[2] == []


def _real_inputs(m, group: str, engine: EdgePlan) -> list[set[tuple[int, str]]]:
    """Per node, the (input node, op) pairs the Engine-cell runs, `none` left out."""
    return [{(m.space.edges[e][0], m.space.ops[k]) for e in edges for k in engine.active[e]
             if m.space.ops[k] != "none"} for edges in m.space.in_edges()]


def _check_every_node_keeps_a_real_input(m) -> None:
    none = m.space.ops.index("none")
    for g in m.alphas:
        p = m.probs(g).detach()
        q, q_hat = dst_weights(p, m.betas[g].detach(), m.space.in_edges(), none)
        t = torch.sigmoid(m.betas[g].detach())
        engine = m.plans()[g][0]
        assert (q[:, none] == 0).all()  # `none` is never a surviving input
        for j, edges in enumerate(m.space.in_edges()):
            real = p[edges].clone()
            real[:, none] = -1.0
            e, k = divmod(int(real.argmax()), p.shape[1])
            # the node's largest real op gets q = 1 - t_j > 0 (t_j kept below 1 in floating point)
            assert float(q[edges[e], k]) == pytest.approx(max(float(1 - t[j]), torch.finfo(p.dtype).eps))
            assert float(q[edges[e], k]) > 0
        assert all(_real_inputs(m, g, engine)), _real_inputs(m, g, engine)
        live = q.sum(-1) > 0
        w = engine.weights.detach()  # the Engine-cell runs q̂: normalised per surviving edge, 0 elsewhere
        assert torch.allclose(w, q_hat) and torch.allclose(w[live].sum(-1), torch.ones(int(live.sum())))
        assert (w[~live] == 0).all()
    derived = m.derive()
    if m.space.name == "darts":  # every node of the genotype has an entry, none of them `none`
        assert all(n > 0 for n in (*derived.normal_nodes, *derived.reduce_nodes)), derived
        assert all(op != "none" for op, _ in (*derived.normal, *derived.reduce))
    else:  # every node of the NB201 cell has an in-edge that is not `none`
        for edges in m.space.in_edges():
            assert any(derived.ops[e] != "none" for e in edges), str(derived)


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("seed", range(3))
def test_every_node_keeps_a_real_input(space, seed):
    m = make("entrannas-dst", space)
    spread(m, scale=4.0, seed=seed)
    with torch.no_grad():
        for b in m.betas.values():
            b.fill_(4.0)  # t = 0.982: a harsh threshold
    _check_every_node_keeps_a_real_input(m)
    assert any((~(m.plans()[g][0].weights.detach().sum(-1) > 0)).any() for g in m.alphas)  # edges do drop


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("beta", [0.0, 4.0, 40.0])
def test_a_dominant_none_leaves_every_node_a_real_input(space, beta):
    """`none` with the largest α on every edge (t from 0.5 to sigmoid(40) = 1.0 in float32)."""
    m = make("entrannas-dst", space)
    with torch.no_grad():
        for g, a in m.alphas.items():
            a.copy_(torch.randn(a.shape, generator=torch.Generator().manual_seed(1)) * 0.3)
            a[:, m.space.ops.index("none")] = 2.0
        for b in m.betas.values():
            b.fill_(beta)
    _check_every_node_keeps_a_real_input(m)


def test_dst_gradient_is_finite_with_dropped_edges_and_reaches_the_thresholds():
    m = make("entrannas-dst", "nb201")
    with torch.no_grad():
        m.alphas["cell"][1, 3] = 5.0  # edge 0->2 dominates node 2, edge 1->2 drops out
    assert m.plans()["cell"][0].active[2] == []
    grads = torch.autograd.grad(loss_of(m, m.plans()), m.arch_parameters())
    assert all(torch.isfinite(g).all() for g in grads)
    assert (grads[1] != 0).any()  # β learns


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_entrannas_derived_set_is_the_darts_rule(space):
    m = make("entrannas", space)
    spread(m)
    for g, (engine, transit, *_) in m.plans().items():
        p = F.softmax(m.alphas[g].detach(), -1)
        assert torch.allclose(engine.weights.detach(), p) and engine.active is None  # dense Engine-cell
        if space == "nb201":
            assert transit.active == [[int(k)] for k in p.argmax(-1)]
            assert str(m.derive()) == str(nb201.Arch.from_ops([int(k) for k in p.argmax(-1)]))
        else:
            expect = {(src, 2 + i // 2, op) for i, (op, src) in enumerate(darts.derive_top2(p))}
            got = {(darts.EDGES[e][0], darts.EDGES[e][1], darts.OPS[k]) for e, ks in enumerate(transit.active)
                   for k in ks}
            assert got == expect and all(len(ks) <= 1 for ks in transit.active)


def test_engine_temperature():
    m = make("entrannas", "nb201", tau=2.0)
    assert torch.allclose(m.plans()["cell"][0].weights, F.softmax(m.alphas["cell"] / 2.0, -1))


def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _count_calls(modules: dict) -> tuple[dict, list]:
    calls = {key: 0 for key in modules}
    handles = []
    for key, mod in modules.items():
        def hook(_mod, _inp, _out, key=key):
            calls[key] += 1
        handles.append(mod.register_forward_hook(hook))
    return calls, handles


def test_feature_sharing_darts():
    m = make("entrannas", "darts", transit=False)
    unshared = darts_net.DartsSearchNetwork(4, 3, 10, 1)
    sources = sorted({s for s, _ in darts.EDGES})
    for cell, ref in zip(m.net.cells, unshared.cells):
        assert len(cell.edges) == len(sources) and cell.module_of == [s for s, _ in darts.EDGES]
        first_edge = {s: next(e for e, (s2, _) in enumerate(darts.EDGES) if s2 == s) for s in sources}
        assert _numel(cell.edges) == sum(_numel(ref.edges[first_edge[s]]) for s in sources)  # one op set per source
    # every op of a source runs once per forward, though the source feeds several nodes
    plan = m.plans()["normal"][0]
    ran = computed_darts_ops(m.net, lambda: m.logits(tiny_batch(0)[0]))[0]
    assert all(e is None for _, _, e in ran)  # computed once for all out-edges of its source
    assert {(s, k) for s, k, _ in ran} == darts_ops_needed(m.net.cells[0], plan)
    assert len({(s, k) for s, k, _ in ran}) == 5 * 6  # 5 sources x 6 ops (no `none`, the identity is free)


def test_feature_sharing_nb201():
    m = make("entrannas", "nb201")
    cells = [c for c in m.net.cells if isinstance(c, type(m.net.cells[0]))]
    for cell in cells:  # one 1x1 and one 3x3 conv per source node, shared by its out-edges
        assert sorted(cell.convs) == sorted(f"{s}_{op}" for s in range(3) for op in ("nor_conv_1x1", "nor_conv_3x3"))
        assert sum(p.numel() for p in cell.parameters()) == 3 * (cell.c * cell.c * (1 + 9))
    calls, handles = _count_calls({key: mods[0] for key, mods in cells[0].convs.items()})
    m.logits(tiny_batch(0)[0])
    for h in handles:
        h.remove()
    assert calls == {key: 1 for key in calls}  # e.g. node 0's 3x3 conv feeds nodes 1, 2 and 3 once


@pytest.mark.parametrize("name", ["entrannas", "entrannas-dst"])
def test_transit_cells_run_only_their_chosen_ops_darts(name):
    m = make(name, "darts")
    spread(m, seed=1)
    plans = m.plans()
    ran = computed_darts_ops(m.net, lambda: m.logits(tiny_batch(0)[0], plans))
    seen = {"normal": 0, "reduce": 0}
    for c, cell in enumerate(m.net.cells):
        g = "reduce" if cell.reduction else "normal"
        plan = plans[g][seen[g]]
        seen[g] += 1
        assert {(s, k) for s, k, _ in ran[c]} == darts_ops_needed(cell, plan)
        if plan is not plans[g][0]:
            assert len(ran[c]) <= 8  # top-2: at most two ops per node
            if name == "entrannas":
                assert len({(darts.EDGES[e][1]) for e, ks in enumerate(plan.active) for _ in ks}) == 4


def test_transit_cells_run_only_their_chosen_convs_nb201():
    m = make("entrannas", "nb201")
    spread(m, seed=2)
    plans = m.plans()["cell"]
    cells = [c for c in m.net.cells if isinstance(c, type(m.net.cells[0]))]
    modules = {(c, key): mods[0] for c, cell in enumerate(cells) for key, mods in cell.convs.items()}
    calls, handles = _count_calls(modules)
    m.logits(tiny_batch(0)[0])
    for h in handles:
        h.remove()
    for c, plan in enumerate(plans[1:], start=1):
        ran = {key for (cc, key), n in calls.items() if cc == c and n}
        want = {f"{nb201.EDGES[e][0]}_{nb201.OPS[k]}" for e, ks in enumerate(plan.active) for k in ks
                if nb201.OPS[k].startswith("nor_conv")}
        assert ran == want
    assert len({key for (cc, key), n in calls.items() if cc == 0 and n}) == 6  # the Engine-cell runs all


def test_dst_thresholds_are_architecture_parameters():
    m = make("entrannas-dst", "darts", transit=False)
    assert set(m.named_arch()) == {"alpha.normal", "alpha.reduce", "beta.normal", "beta.reduce"}
    assert all(b.shape == (4,) for b in m.betas.values())  # one threshold per intermediate node
    assert {id(p) for p in m.betas.values()} <= {id(p) for grp in m.a_opt.param_groups for p in grp["params"]}
    before = {k: v.detach().clone() for k, v in m.named_arch().items()}
    m.on_epoch_start(0)
    out = m.step(tiny_batch(0), tiny_batch(1))
    assert {"valid_loss", "valid_acc", "train_loss", "train_acc"} <= set(out)
    assert not torch.equal(before["beta.normal"], m.betas["normal"].detach())
    clone = make("entrannas-dst", "darts", transit=False)
    clone.load_state_dict(m.state_dict())
    assert torch.equal(clone.betas["reduce"], m.betas["reduce"])
    assert set(make("entrannas", "nb201").named_arch()) == {"alpha.cell"}


def test_defaults_are_darts_v1():
    for name in ("entrannas", "entrannas-dst"):
        for space, wd, depth in (("nb201", 5e-4, 5), ("darts", 3e-4, 8)):
            hp = create_method(name, space, 10, 1).hp
            assert (hp["epochs"], hp["batch_size"], hp["channels"], hp["depth"]) == (50, 64, 16, depth)
            assert (hp["lr"], hp["lr_min"], hp["arch_lr"], hp["arch_weight_decay"], hp["weight_decay"]) == \
                (0.025, 0.001, 3e-4, 1e-3, wd)
            assert hp["tau"] == 1.0 and hp["arch_start_epoch"] == 0
    with pytest.raises(ValueError, match="'dst' is fixed by the method name entrannas"):
        create_method("entrannas", "nb201", 10, dst=True)
