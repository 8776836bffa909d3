"""FP-DARTS: what defines it beyond the shared method contract (tests/test_methods.py)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from methods import create_method
from methods.fp_darts import GATES, SUBSETS
from suite.spaces import darts, nb201
from suite.spaces.mixing import EdgePlan
from suite.testing.checks import TINY, computed_darts_ops, tiny_batch

NB201 = {**TINY["nb201"], "channels": 8}  # halves of 4 channels


def make(space: str = "nb201", seed: int = 0, **kw):
    return create_method("fp-darts", space, 10, 1, seed=seed, **{**(NB201 if space == "nb201" else TINY[space]), **kw})


def set_gates(m, code: int) -> None:
    m.gates = {g: torch.full_like(c, code) for g, c in m.gates.items()}


def loss_of(m, batch=None):
    x, y = batch or tiny_batch(0)
    return F.cross_entropy(m.logits(x), y)


# ---- subsets and channel halves ------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_subsets_are_disjoint_cover_all_ops_and_map_to_channel_halves(space):
    m = make(space)
    a, b = m.subsets
    assert (",".join(a), ",".join(b)) == SUBSETS[space] == (m.hp["subset_a"], m.hp["subset_b"])
    assert not set(a) & set(b) and set(a) | set(b) == set(m.space.ops)
    assert m.partial == 2 and m.op_groups == {**{o: 0 for o in a}, **{o: 1 for o in b}}
    if space == "nb201":
        cell = m.net.cells[0]
        assert cell.cp == 4 and cell.op_group["nor_conv_1x1"] == 0 and cell.op_group["nor_conv_3x3"] == 1
        assert cell.convs["0_nor_conv_3x3"][0].in_channels == 4
    else:
        mixed = m.net.cells[0].edges[0]
        assert [mixed.group[darts.OPS.index(o)] for o in a + b] == [0] * len(a) + [1] * len(b)


def test_paper_subsets_and_pc_darts_settings_are_the_defaults():
    d = create_method("fp-darts", "darts", 10)
    assert set(SUBSETS["darts"][0].split(",")) == {"none", "max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3"}
    assert (d.hp["batch_size"], d.hp["lr"], d.hp["lr_min"], d.hp["arch_lr"], d.hp["arch_start_epoch"]) == \
        (256, 0.1, 0.0, 6e-4, 15)
    n = create_method("fp-darts", "nb201", 10)
    assert (n.hp["epochs"], n.hp["batch_size"], n.hp["lr"], n.hp["nesterov"], n.hp["arch_start_epoch"]) == \
        (50, 64, 0.025, True, 15)
    assert n.hp["gate_draw"] == "step"


def test_custom_subsets_and_their_validation():
    m = make("nb201", subset_a=["none", "skip_connect"], subset_b="nor_conv_1x1, nor_conv_3x3,avg_pool_3x3")
    assert m.hp["subset_a"] == "none,skip_connect" and m.op_groups["skip_connect"] == 0
    with pytest.raises(ValueError, match=r"disjoint sets covering all of them\. Got \['skip_connect'\] in both"):
        make("nb201", subset_a="none,nor_conv_1x1,avg_pool_3x3,skip_connect")
    with pytest.raises(ValueError, match=r"Got none in both and \['avg_pool_3x3'\] in neither"):
        make("nb201", subset_a="none,nor_conv_1x1")
    with pytest.raises(ValueError, match="The 'subset_b' parameter of fp-darts must be distinct nb201 op names"):
        make("nb201", subset_b="skip_connect,sep_conv_3x3")


# ---- sigmoid weights -----------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_operation_and_edge_weights_are_sigmoids_with_gradients_through_them(space):
    m = make(space)
    with torch.no_grad():
        for p in m.arch_parameters():
            p.copy_(2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(5)))
    set_gates(m, 0)  # both paths open: every op weighted
    plans = m.plans()
    g = m.space.groups[0]
    plan = plans[g][0]
    w = plan.weights.detach()
    assert torch.equal(w, torch.sigmoid(m.alphas[g].detach()))
    assert ((w > 0) & (w < 1)).all() and not torch.allclose(w.sum(-1), torch.ones(m.space.n_edges), atol=0.1)
    assert torch.equal(plan.edge_scale.detach(), torch.sigmoid(m.betas[g].detach()))  # not normalised per node
    # ∂L/∂α = ∂L/∂w · σ(α)(1 − σ(α)) entry by entry: the weights are sigmoids, not a softmax
    leaves = {k: [EdgePlan(p.weights.detach().requires_grad_(), p.active, p.edge_scale.detach(), p.gates)
                  for p in v] for k, v in plans.items()}
    x, y = tiny_batch(0)
    m.net.eval()
    F.cross_entropy(m.logits(x, plans), y).backward()
    F.cross_entropy(m.logits(x, leaves), y).backward()
    for k, a in m.alphas.items():
        dw = sum(p.weights.grad for p in leaves[k])
        s = torch.sigmoid(a.detach())
        assert torch.allclose(a.grad, dw * s * (1 - s), rtol=1e-4, atol=1e-8)
        assert (a.grad[:, 1:] != 0).any()
    assert all(b.grad is not None and (b.grad != 0).any() for b in m.betas.values())


# ---- gates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code,closed", [(1, 1), (2, 0)])
def test_a_dropped_path_does_no_computation(code, closed):
    m = make("darts")
    set_gates(m, code)
    subset = m.subsets[closed]
    closed_ops = [darts.OPS.index(o) for o in subset]
    plan = m.plans()["normal"][0]
    assert all(set(a).isdisjoint(closed_ops) for a in plan.active)
    assert all(g == GATES[code] for g in plan.gates)
    ran = computed_darts_ops(m.net, lambda: loss_of(m).backward())
    assert all(k not in closed_ops for cell in ran for _, k, _ in cell), "an op of a closed path was run"
    assert all(ran), "the open path ran nothing"
    params = [p for n, p in m.net.named_parameters() if ".edges." in n and int(n.split(".ops.")[1].split(".")[0])
              in closed_ops]
    assert params and all(p.grad is None for p in params)
    for a in m.alphas.values():  # closed ops get exactly zero α gradient, open ones a real one
        assert torch.equal(a.grad[:, closed_ops], torch.zeros_like(a.grad[:, closed_ops]))
        open_ops = [k for k in range(8) if k not in closed_ops and darts.OPS[k] != "none"]
        assert (a.grad[:, open_ops] != 0).any()


def test_a_dropped_path_does_no_computation_on_nb201():
    m = make("nb201")
    set_gates(m, 1)  # path 1 ({skip_connect, nor_conv_3x3}) dropped everywhere
    loss_of(m).backward()
    convs3 = [p for n, p in m.net.named_parameters() if "nor_conv_3x3" in n]
    convs1 = [p for n, p in m.net.named_parameters() if "nor_conv_1x1" in n]
    assert convs3 and all(p.grad is None for p in convs3)
    assert all(p.grad is not None for p in convs1)
    a = m.alphas["cell"].grad
    b_ops = [nb201.OPS.index(o) for o in ("skip_connect", "nor_conv_3x3")]
    assert torch.equal(a[:, b_ops], torch.zeros(6, 2)) and (a[:, nb201.OPS.index("nor_conv_1x1")] != 0).all()


def test_the_method_plan_is_the_engine_gated_edge_with_closed_ops_masked():
    """Masking the closed ops' weights and not running them computes the engine's gated paths exactly."""
    m = make("nb201", depth=1)
    cell = m.net.cells[0]
    h = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(2))
    w = torch.sigmoid(m.alphas["cell"].detach())
    scale = torch.sigmoid(m.betas["cell"].detach())
    outs = []
    for code, gate in enumerate(GATES):
        set_gates(m, code)
        ours = cell(h, m.plans()["cell"][0])
        assert torch.allclose(ours, cell(h, EdgePlan(w, edge_scale=scale, gates=[gate] * 6)), atol=1e-6)
        outs.append(ours)
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])


def test_gates_are_uniform_over_the_three_options_per_edge_and_cell():
    assert GATES == ((1.0, 1.0), (1.0, 0.0), (0.0, 1.0))  # both paths, path 0 alone, path 1 alone
    m = make("darts")
    assert m.gates["normal"].shape == (1, 14) and m.gates["reduce"].shape == (2, 14)
    draws = []
    for _ in range(200):
        m.redraw_gates()
        draws.append(torch.cat([c.flatten() for c in m.gates.values()]))
    counts = torch.bincount(torch.cat(draws), minlength=3).double() / (200 * 42)
    assert torch.allclose(counts, torch.full((3,), 1 / 3, dtype=torch.double), atol=0.02), counts
    cells = m.gates["reduce"]
    assert not torch.equal(cells[0], cells[1])  # independent per cell, as the authors' per-module draw


def test_gates_are_redrawn_every_step_and_deterministic_per_seed():
    def trace(seed=0, **kw):
        m = make("nb201", seed=seed, arch_start_epoch=9, **kw)  # weight steps only: the gates are what is tested
        seen = [m.gates["cell"].clone()]
        for i in range(2):
            m.step(tiny_batch(i, n=2), tiny_batch(i + 10, n=2))
            seen.append(m.gates["cell"].clone())
        return seen

    a, b = trace(), trace()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len({tuple(g.flatten().tolist()) for g in a}) == len(a)  # a new draw each step
    assert not torch.equal(make("nb201", seed=1).gates["cell"], a[0])
    once = trace(gate_draw="build")
    assert all(torch.equal(g, once[0]) for g in once)  # the authors' draw-once: fixed for the search
    assert torch.equal(once[0], a[0])  # the same build-time draw


def test_gates_and_their_random_state_survive_a_checkpoint():
    m = make("nb201", seed=0, arch_start_epoch=9)
    m.step(tiny_batch(0, n=2), tiny_batch(1, n=2))
    clone = make("nb201", seed=7)
    clone.load_state_dict(m.state_dict())
    assert torch.equal(clone.gates["cell"], m.gates["cell"])
    m.redraw_gates(), clone.redraw_gates()
    assert torch.equal(clone.gates["cell"], m.gates["cell"])


# ---- derivation ----------------------------------------------------------------------------------
def test_nb201_derivation_takes_the_best_op_of_either_subset_none_included():
    m = make("nb201")
    best = ["nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none", "nor_conv_3x3"]
    with torch.no_grad():
        m.alphas["cell"].fill_(-1.0)
        for e, op in enumerate(best):
            m.alphas["cell"][e, nb201.OPS.index(op)] = 1.0
        m.betas["cell"].copy_(torch.linspace(-3, 3, 6))  # edge weights do not change a per-edge argmax
    assert m.derive().ops == tuple(best)


def test_darts_derivation_uses_sigmoid_weights_scaled_by_edge_weights():
    m = make("darts")
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in m.arch_parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    w = m.arch_weights()
    for k in ("normal", "reduce"):
        expect = torch.sigmoid(m.alphas[k].detach()) * torch.sigmoid(m.betas[k].detach())[:, None]
        assert torch.equal(w[k], expect)
    geno = m.derive()
    assert geno.normal == darts.derive_top2(w["normal"]) and geno.reduce == darts.derive_top2(w["reduce"])
    ops = {op for op, _ in geno.normal + geno.reduce}
    assert ops & set(m.subsets[0]) and ops & set(m.subsets[1]) and "none" not in ops
    # node 3 (edges 2, 3, 4): a small edge weight sinks edge 2's large op weight
    with torch.no_grad():
        m.alphas["normal"].fill_(0.0)
        m.betas["normal"].fill_(0.0)
        m.alphas["normal"][2, darts.OPS.index("sep_conv_3x3")] = 4.0  # σ = 0.98, but σ(β) = 0.05
        m.betas["normal"][2] = -3.0
        m.alphas["normal"][3, darts.OPS.index("sep_conv_5x5")] = 1.0  # 0.73 · 0.95 (subset B)
        m.alphas["normal"][4, darts.OPS.index("dil_conv_3x3")] = 1.0  # 0.73 · 0.95 (subset A)
        m.betas["normal"][3:5] = 3.0
    assert set(m.derive().normal[2:4]) == {("sep_conv_5x5", 1), ("dil_conv_3x3", 2)}
