"""ISTA-NAS: sparse forward pass, LASSO recovery, z formula, derivation, one-stage freezing."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from methods import create_method
from methods._sparse import lasso_fista, lasso_sklearn
from methods.ista_nas import pick_slots
from suite.spaces import darts
from suite.spaces.nb201 import OPS as NB201_OPS
from suite.testing.checks import TINY, computed_darts_ops, darts_ops_needed, tiny_batch


def make(name="ista-nas", space="darts", seed=0, **kw):
    return create_method(name, space, 10, 1, seed=seed, **{**TINY[space], **kw})


def lasso_objective(A, b, gamma, x):
    return 0.5 * float(np.sum((A @ x - b) ** 2)) + gamma * float(np.abs(x).sum())


# ---------------------------------------------------------------------------------------- forward


def test_only_the_support_ops_run_and_get_gradients():
    m = make()
    m.on_epoch_start(0)
    plans = m.plans()
    x, y = tiny_batch(0)
    calls = computed_darts_ops(m.net, lambda: torch.nn.functional.cross_entropy(m.logits(x, plans), y).backward())
    for c, cell in enumerate(m.net.cells):
        plan = plans["reduce" if cell.reduction else "normal"]
        for node in range(2, 6):  # s = 2 ops per node, over all its in-edges
            assert sum(len(plan.active[e]) for e, (_, t) in enumerate(darts.EDGES) if t == node) == 2
        assert {(s, k) for s, k, _ in calls[c]} == darts_ops_needed(cell, plan)
        for e, mixed in enumerate(cell.edges):  # an op with weights runs per edge, only on its support
            ran = {k for (_, k, ee) in calls[c] if ee == e}
            assert ran == {k for k in plan.active[e] if list(mixed.ops[k].parameters())}
            for k, op in enumerate(mixed.ops):
                params = list(op.parameters())
                if k in plan.active[e]:
                    assert all(p.grad is not None for p in params)
                else:
                    assert all(p.grad is None for p in params), (c, e, darts.OPS[k])
            off = [k for k in range(len(darts.OPS)) if k not in plan.active[e]]
            assert torch.all(plan.weights[e, off] == 0)
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in m.b.values())


def test_nb201_runs_one_op_per_edge_and_derives_it():
    m = make(space="nb201")
    assert (m.hp["sparsity"], m.hp["proj_dims"]) == (1, 3)
    assert [u.n for u in m.units] == [5] * 6 and all(a.shape == (3, 5) for a in m.A.values())
    plan = m.plans()["cell"]
    assert all(len(a) == 1 for a in plan.active)
    codes = {u.name: torch.zeros(5, dtype=torch.float64) for u in m.units}
    want = [0, 1, 2, 3, 4, 3]
    for u, k in zip(m.units, want):
        codes[u.name][k] = -1.0 if k % 2 else 1.0  # |x| decides, not the sign
    assert m.derive_from(codes).ops == tuple(NB201_OPS[k] for k in want)


def test_z_is_one_ista_step_on_the_support():
    m = make()
    m.on_epoch_start(0)
    with torch.no_grad():  # move b away from the point x was recovered from
        for b in m.b.values():
            b.add_(1e-3 * torch.randn(b.shape, generator=torch.Generator().manual_seed(5)))
    plans = m.plans()
    for u in m.units:
        A = m.A[u.name].numpy()
        x = m.x[u.name].numpy()
        b = m.b[u.name].detach().double().numpy()
        S = np.argsort(-np.abs(x), kind="stable")[:2]
        xs = np.zeros_like(x)
        xs[S] = x[S]
        z = np.zeros_like(x)
        z[S] = x[S] + A[:, S].T @ (b - A @ xs)
        got = plans[u.group].weights.detach().double()[list(u.edges), list(u.ops)].numpy()
        np.testing.assert_allclose(got, z, rtol=1e-5, atol=1e-9)
        assert sorted(m.support[u.name].tolist()) == sorted(S.tolist())
    # differentiable in b: ∂(Σ z)/∂b = A_S · 1
    sum(p.weights.sum() for p in plans.values()).backward()
    for u in m.units:
        A_S = m.A[u.name][:, m.support[u.name]]
        torch.testing.assert_close(m.b[u.name].grad.double(), A_S.sum(1), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("scale", [1e-3, 1e-2])
def test_fista_agrees_with_sklearn_on_random_problems(scale):
    """b ~ scale·N(0, 1), as the method's b (init 1e-3). sklearn's α = γ / m: our ½‖Ax − b‖² + γ‖x‖₁."""
    rng = np.random.default_rng(0)
    agreed = 0
    for n in (14, 21, 28, 35, 5, 14, 21, 28, 35, 5):
        m = 3 if n == 5 else 7
        A = rng.random((m, n))
        b = scale * rng.standard_normal(m)
        ours, ref = lasso_fista(A, b, 1e-5), lasso_sklearn(A, b, 1e-5)
        assert ours.exact
        # the optimality conditions: A_j^T(b - Ax) = γ sign(x_j) on the support, |.| <= γ elsewhere
        corr = A.T @ (b - A @ ours.x)
        on = ours.x != 0
        np.testing.assert_allclose(corr[on], 1e-5 * np.sign(ours.x[on]), rtol=1e-6)
        assert np.all(np.abs(corr[~on]) <= 1e-5 * (1 + 1e-6)) and on.sum() <= m
        if ref.exact:  # coordinate descent converged: the same point
            np.testing.assert_allclose(ours.x, ref.x, rtol=0, atol=1e-9 * scale / 1e-3)
            agreed += 1
        else:  # it stalled (small γ against b): ours is at least as good
            assert lasso_objective(A, b, 1e-5, ours.x) <= lasso_objective(A, b, 1e-5, ref.x) + 1e-18
    assert agreed >= 8


def test_lasso_is_zero_above_lambda_max():
    A = np.random.default_rng(1).random((7, 14))
    b = np.full(7, 1e-8)
    assert not lasso_fista(A, b, 1e-5).x.any() and not lasso_sklearn(A, b, 1e-5).x.any()


def test_recovery_agrees_between_solvers_on_the_methods_own_codes():
    m = make(arch_lr=3e-3)
    m.on_epoch_start(0)
    m.step(tiny_batch(0), tiny_batch(1))  # b after a real architecture step
    n_nonzero = []
    for u in m.units:
        A, b = m.A[u.name].numpy(), m.b[u.name].detach().double().numpy()
        ours, ref = lasso_fista(A, b, m.hp["gamma"]), lasso_sklearn(A, b, m.hp["gamma"])
        assert ours.exact and ref.exact
        np.testing.assert_allclose(ours.x, ref.x, rtol=0, atol=1e-10)
        n_nonzero.append(int((ours.x != 0).sum()))
    assert max(n_nonzero) <= 7  # sparse: at most m non-zeros
    twin = make(solver="sklearn")
    twin.load_state_dict(m.state_dict())
    assert str(twin.derive()) == str(m.derive())
    for name, x in twin.recovered_codes().items():
        np.testing.assert_allclose(x.numpy(), m.recovered_codes()[name].numpy(), rtol=0, atol=1e-10)


def test_A_is_fixed_per_seed_and_separate_per_cell_type():
    a, b, c = make(seed=0), make(seed=0), make(seed=1)
    assert list(a.A) == [f"{g}_{i}" for g in ("normal", "reduce") for i in range(4)]
    for i in range(4):
        A = a.A[f"normal_{i}"]
        assert A.shape == (7, (i + 2) * 7) and A.dtype == torch.float64
        assert 0 <= float(A.min()) and float(A.max()) < 1
        assert not torch.equal(A, a.A[f"reduce_{i}"])
    assert all(torch.equal(a.A[k], b.A[k]) for k in a.A)
    assert not any(torch.equal(a.A[k], c.A[k]) for k in a.A)
    assert all(float(p.detach().abs().max()) < 1e-2 for p in a.b.values())  # b ~ 1e-3 N(0, 1)
    # A and x are run state: a method built with another seed takes them from a checkpoint
    c.load_state_dict(a.state_dict())
    assert all(torch.equal(a.A[k], c.A[k]) and torch.equal(a.x[k], c.x[k]) for k in a.A)


# ---------------------------------------------------------------------------------------- derivation


def test_derivation_reads_input_div_7_and_op_mod_7_and_keeps_inputs_distinct():
    ops7 = [o for o in darts.OPS if o != "none"]
    m = make()
    codes = {u.name: torch.zeros(u.n, dtype=torch.float64) for u in m.units}
    # node 3 (i = 1, inputs 0..2): largest |x| at slot 15 (input 2, op 1), then 17 (input 2, op 3), then 4
    codes["normal_1"][[15, 17, 4]] = torch.tensor([0.9, -0.8, 0.5], dtype=torch.float64)
    for u in m.units:
        if u.name != "normal_1":
            codes[u.name][[0, 7 + 6]] = torch.tensor([0.2, 0.1], dtype=torch.float64)
    assert (m.units[1].inputs[15], m.units[1].ops[15]) == (2, darts.OPS.index(ops7[15 % 7]))
    g = m.derive_from(codes)
    assert g.normal[2:4] == ((ops7[15 % 7], 15 // 7), (ops7[4 % 7], 4 // 7))  # second pick moved off input 2
    assert g.normal[0:2] == g.normal[4:6] == ((ops7[0], 0), (ops7[6], 1))
    assert g.reduce == ((ops7[0], 0), (ops7[6], 1)) * 4
    same = make(distinct_inputs=False).derive_from(codes)
    assert same.normal[2:4] == ((ops7[15 % 7], 2), (ops7[17 % 7], 2))  # the authors' rule: both on input 2
    assert pick_slots(np.array([0.1, -0.9, 0.5, 0.3]), (0, 0, 1, 1), 2, True) == [1, 2]
    assert isinstance(m.derive(), darts.Genotype)
    assert m.arch_weights()["normal"].shape == (14, 8) and float(m.arch_weights()["normal"][:, 0].abs().sum()) == 0


# ---------------------------------------------------------------------------------------- one-stage


def test_one_stage_freezes_settled_codes_and_unfreezes_their_bn_affine():
    m = make("ista-nas-one-stage", arch_lr=3e-3)
    assert m.net.auxiliary_head is not None and m.hp["aux_weight"] == 0.4
    assert all(not p.requires_grad and (float(p.detach().abs().max()) in (0.0, 1.0))
               for ps in m.bn_params.values() for p in ps)
    m.on_epoch_start(0)
    assert not any(m.frozen.values()) and m.lr == m.hp["lr"]
    start = {k: p.detach().clone() for k, p in m.b.items()}
    out = m.step(tiny_batch(0), tiny_batch(1))
    assert "aux_loss" in out and float(out["frozen_codes"]) == 0
    with torch.no_grad():  # normal_0 settles (same b, same x); the others move a lot
        m.b["normal_0"].copy_(start["normal_0"])
        for k, p in m.b.items():
            if k != "normal_0":
                p.add_(0.05)
    m.on_epoch_start(1)
    assert m.frozen == {k: k == "normal_0" for k in m.frozen}
    assert not m.b["normal_0"].requires_grad and all(p.requires_grad for k, p in m.b.items() if k != "normal_0")
    assert all(p.requires_grad for p in m.bn_params["normal_0"])
    assert not any(p.requires_grad for k, ps in m.bn_params.items() if k != "normal_0" for p in ps)
    assert m.lr == m.hp["lr"]  # constant while any code is active
    before = {k: p.detach().clone() for k, p in m.b.items()}
    bn_before = [p.detach().clone() for p in m.bn_params["normal_0"]]
    m.step(tiny_batch(2), tiny_batch(3))
    assert torch.equal(m.b["normal_0"], before["normal_0"])
    assert all(not torch.equal(p, before[k]) for k, p in m.b.items() if k != "normal_0")
    assert any(not torch.equal(p, q) for p, q in zip(m.bn_params["normal_0"], bn_before))  # arch weight absorbed
    assert all(float(p.detach().abs().max()) in (0.0, 1.0) for k, ps in m.bn_params.items() if k != "normal_0"
               for p in ps)
    # checkpoint: frozen flags and which parameters train come back
    clone = make("ista-nas-one-stage", seed=9, arch_lr=3e-3)
    clone.load_state_dict(m.state_dict())
    assert clone.frozen == m.frozen and not clone.b["normal_0"].requires_grad
    assert all(p.requires_grad for p in clone.bn_params["normal_0"])
    # all codes settle: the evaluation schedule (cosine from lr) starts from that epoch
    with torch.no_grad():
        for k, p in m.b.items():
            p.copy_(before[k])
    m.on_epoch_start(2)
    assert all(m.frozen.values()) and m.all_frozen_epoch == 2 and m.lr == pytest.approx(m.hp["lr"])
    m.on_epoch_start(3)
    assert m.lr == pytest.approx(m.hp["lr_min"])


def test_one_stage_defaults_and_cutout():
    d = create_method("ista-nas-one-stage", "darts", 10)
    assert (d.hp["channels"], d.hp["depth"], d.hp["batch_size"]) == (36, 20, 48)
    assert (d.hp["lr"], d.hp["aux_weight"], d.hp["epochs"], d.hp["cutout"]) == (0.025, 0.4, 600, 0.5)
    two = make()
    assert (two.hp["lr"], two.hp["lr_min"], two.hp["arch_lr"], two.hp["weight_decay"]) == (0.1, 0.001, 6e-4, 3e-4)
    assert create_method("ista-nas", "darts", 10).hp["batch_size"] == 256
    n = make("ista-nas-one-stage", space="nb201")
    assert n.hp["aux_weight"] == 0 and n.hp["batch_size"] == 4
    assert (n.hp["alpha_init"], n.hp["gamma"], n.hp["proj_dims"], n.hp["sparsity"]) == (1.0, 1e-2, 3, 1)
    assert (d.hp["alpha_init"], d.hp["gamma"], d.hp["proj_dims"], d.hp["sparsity"]) == (1e-3, 1e-5, 7, 2)
    with pytest.raises(ValueError, match="'aux_weight' parameter of ista-nas-one-stage must be 0 on the nb201"):
        make("ista-nas-one-stage", space="nb201", aux_weight=0.4)
    x = torch.ones(64, 1, 32, 32)
    holes = (n.cutout(x) == 0).flatten(1).sum(1)
    assert int(holes.max()) == 16 * 16 and int(holes.min()) >= 8 * 8  # 16x16, clipped at the border


def test_one_stage_resumes_exactly_from_a_checkpoint():
    def run(m, epoch):
        m.on_epoch_start(epoch)
        m.step(tiny_batch(epoch), tiny_batch(epoch + 50))

    a = make("ista-nas-one-stage", space="nb201", arch_lr=3e-3, freeze_tol=10.0)
    run(a, 0)
    state = copy.deepcopy(a.state_dict())
    run(a, 1)  # every code freezes here (tolerance 10)
    b = make("ista-nas-one-stage", space="nb201", seed=7, arch_lr=3e-3, freeze_tol=10.0)
    b.load_state_dict(state)
    run(b, 1)
    assert a.frozen == b.frozen and all(a.frozen.values()) and a.all_frozen_epoch == b.all_frozen_epoch == 1
    assert all(torch.equal(a.x[k], b.x[k]) and torch.equal(a.b[k], b.b[k]) for k in a.x)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters()))
    assert a.lr == b.lr and str(a.derive()) == str(b.derive())


def test_one_stage_drop_path_after_all_codes_freeze():
    from methods import create_method

    m = create_method("ista-nas-one-stage", "darts", 10, 1, seed=0, channels=4, depth=3, batch_size=4, epochs=10)
    m.on_epoch_start(1)
    assert m.net.drop_path_prob == 0.0  # codes still active: no drop-path, constant lr
    m.all_frozen_epoch = 2
    m.on_epoch_start(6)
    assert m.net.drop_path_prob == pytest.approx(0.2 * 4 / 8) and m.net.generator is m.generator
    x = torch.randn(4, 1, 8, 8)
    m.net.train()
    plans = m.plans()
    a, b = m.net(x, plans), m.net(x, plans)
    assert not torch.allclose(a, b)  # masks differ between passes in training
    m.net.eval()
    assert torch.equal(m.net(x, plans), m.net(x, plans))
