"""Methods: the registry, declared hyperparameters, and what defines each method."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import methods
from methods import create_method
from suite.testing.checks import TINY, check_data_split, check_method_contract, one_step, same_gradients, tiny_batch

ALL = [n for n in methods.list_methods() if methods.method_class(n)[0].weight_sharing]
"""The weight-sharing methods (random search trains no supernet: tests/test_random_search.py)."""


def test_registry():
    assert {"darts-v1", "darts-v2", "gdas", "pc-darts"} <= set(ALL)
    with pytest.raises(ValueError, match="unknown method 'dart'; registered: darts-v1"):
        create_method("dart", "nb201", 10)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_every_method_meets_the_contract(name, space):
    check_method_contract(name, space)


# What each parameter set learns from in one step (METHODS.md): for each batch, True = its update must
# change when only that batch changes, False = it must not, None = either (it sees that batch only
# through an update made earlier in the same step). "active": architecture updates on; "frozen":
# before arch_start_epoch; "hp": hyperparameters of the probe.
_W_TRAIN_ONLY = {"train": True, "valid": False}
ALPHA_THEN_W = [{"active": {"arch": {"valid": True, "train": False}, "net": {"train": True, "valid": None}},
                 "frozen": {"net": _W_TRAIN_ONLY}}]
"""Bi-level, first order, α step on the valid batch then w step on the train batch."""
SPLITS = {
    "darts-v1": ALPHA_THEN_W, "pc-darts": ALPHA_THEN_W, "entrannas": ALPHA_THEN_W, "entrannas-dst": ALPHA_THEN_W,
    "fp-darts": ALPHA_THEN_W, "ista-nas": ALPHA_THEN_W,
    # second order: α's gradient also unrolls a w step on the train batch (roles: see the test below)
    "darts-v2": [{"active": {"arch": {"valid": True, "train": True}, "net": {"train": True, "valid": None}},
                  "frozen": {"net": _W_TRAIN_ONLY}}],
    # w step on the train batch first, then the α step on the valid batch
    "gdas": [{"active": {"net": _W_TRAIN_ONLY, "arch": {"valid": True, "train": None}},
              "frozen": {"net": _W_TRAIN_ONLY}}],
    # single level with data and network splitting: w on train, y on valid (coupled to the new w by β),
    # α on L_val(y) + λ L_train(w); with λ = β = 0, α and y see the valid batch alone
    "rarts": [{"active": {"net": _W_TRAIN_ONLY, "net_y": {"valid": True, "train": None},
                          "arch": {"valid": True, "train": True}},
               "frozen": {"net": _W_TRAIN_ONLY, "net_y": {"valid": True, "train": None}}},
              {"hp": {"lam": 0.0, "coupling": 0.0},
               "active": {"net_y": {"valid": True, "train": False}, "arch": {"valid": True, "train": False}},
               "frozen": {"net_y": {"valid": True, "train": False}}}],
    # single level on all the search data: one backward over both batches for b and w
    "ista-nas-one-stage": [{"active": {"arch": {"train": True, "valid": True}, "net": {"train": True, "valid": True}},
                            "frozen": {"net": {"train": True, "valid": True}}}],
}


def test_every_method_declares_its_data_split():
    assert sorted(SPLITS) == ALL, "add the new method's data split to SPLITS"


@pytest.mark.parametrize("name,space", [(n, "nb201") for n in ALL] + [("ista-nas-one-stage", "darts")])
def test_each_parameter_set_learns_from_its_own_batch(name, space):
    """A swapped split (α from the train batch, w from the valid batch) fails here. The steps are
    the same code in both spaces, except one-stage ISTA-NAS's (auxiliary head in the darts space)."""
    for probe in SPLITS[name]:
        check_data_split(name, space, probe["active"], **probe.get("hp", {}))
        check_data_split(name, space, probe["frozen"], arch_active=False, **probe.get("hp", {}))


def test_darts_v2_steps_on_the_unrolled_gradient_of_its_own_batches():
    """Both batches reach α in DARTS-V2, so dependence cannot tell their roles: the gradient α steps on
    must be the unrolled one with w' from the train batch and L_val from the valid batch."""
    train, valid = tiny_batch(11), tiny_batch(21)

    def fresh():
        m = create_method("darts-v2", "nb201", 10, 1, seed=3, **TINY["nb201"])
        m.on_epoch_start(0)
        return m

    stepped = one_step("darts-v2", "nb201", train, valid, ["arch"])["arch"]
    assert len(stepped) == 1
    right, _, _ = fresh().unrolled_gradient(train, valid)
    swapped, _, _ = fresh().unrolled_gradient(valid, train)
    assert same_gradients(stepped, [right]) and not same_gradients(stepped, [swapped], close=True)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_one_stage_ista_nas_treats_both_batches_as_one_data_set(space):
    """Single level: swapping the train and valid batches changes nothing but the summation order."""
    def grads(train, valid):
        return one_step("ista-nas-one-stage", space, tiny_batch(train), tiny_batch(valid), ["arch", "net"], cutout=0.0)

    a, swapped, other = grads(11, 21), grads(21, 11), grads(11, 22)
    for part in a:
        assert same_gradients(a[part], swapped[part], close=True) and not same_gradients(a[part], other[part]), part


@pytest.mark.parametrize("epoch", [0, 2])
def test_gdas_samples_each_edge_from_softmax_alpha(epoch):
    """The Gumbel-max draw picks op k with probability softmax(α)_k whatever τ; each edge its own α."""
    m = create_method("gdas", "nb201", 10, 1, seed=0, **TINY["nb201"])
    p = torch.tensor([0.04, 0.08, 0.16, 0.24, 0.48])
    probs = torch.stack([p.roll(e) for e in range(6)])  # another distribution on every edge
    with torch.no_grad():
        m.alphas["cell"].copy_(probs.log() + torch.arange(6.0)[:, None])  # softmax ignores the per-edge shift
    m.on_epoch_start(epoch)
    n = 3000
    counts = torch.zeros(6, 5)
    for _ in range(n):
        for e, (k,) in enumerate(m.plans()["cell"].active):
            counts[e, k] += 1
    sd = (probs * (1 - probs) / n).sqrt()
    assert ((counts / n - probs).abs() < 5 * sd).all(), (counts / n, probs)


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


def test_a_shorter_run_scales_the_published_warm_up():
    """PC-DARTS's (and FP-DARTS's) 15 warm-up epochs of 50 are 2 of a 5-epoch run, not all of them;
    a warm-up given explicitly, or a run as long as the published one, keeps its number."""
    from methods import create_method

    def start(method: str, **hp) -> int:
        return create_method(method, "nb201", 10, 3, seed=0, device="cpu", channels=4, depth=1, **hp).hp[
            "arch_start_epoch"]

    assert start("pc-darts") == 15 and start("fp-darts") == 15
    assert start("pc-darts", epochs=5) == 2 and start("fp-darts", epochs=5) == 2
    assert start("pc-darts", epochs=2) == 1 and start("pc-darts", epochs=1) == 0  # always below epochs
    assert start("pc-darts", epochs=5, arch_start_epoch=4) == 4
    assert start("pc-darts", epochs=80) == 15
    assert start("darts-v1", epochs=5) == 0


def test_ista_nas_steps_scale_with_its_codes_on_nb201():
    """The NB201 codes start at 1e3 the paper's scale, and so does Adam's step (README: ISTA-NAS)."""
    from methods import create_method

    m = create_method("ista-nas", "nb201", 10, 3, seed=0, device="cpu", channels=4, depth=1)
    assert m.hp["alpha_init"] == 1.0 and m.hp["arch_lr"] == pytest.approx(0.3)


def test_the_method_contract_is_explicit():
    """``step`` is what a method must define (abstract); everything else has a working default."""
    from methods.base import Method

    class NoStep(Method):
        pass

    with pytest.raises(TypeError, match="abstract method.*step"):
        NoStep("no-step", "nb201", 10, 1, **TINY["nb201"])

    class FirstOrder(Method):
        def step(self, train, valid):
            return self.bilevel_step(train, valid)

    m = FirstOrder("first-order", "nb201", 10, 1, **TINY["nb201"])
    m.on_epoch_start(0)
    assert set(m.step(tiny_batch(0), tiny_batch(1))) == {"train_loss", "train_acc", "valid_loss", "valid_acc"}
    assert list(m.named_arch()) == ["alpha.cell"] and m.arch_parameters() == [m.alphas["cell"]]
