"""The DARTS-space search network (normal + reduce search cells, per source node) and its parts.

The space itself (edges, ops, genotypes, the top-2 derivation) is ``suite.spaces.darts``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .darts import EDGES, OPS, STEPS
from .mixing import EdgePlan, accumulate, mix_groups, Term, weighted_sum
from .ops import (DARTS_OPS, FactorizedReduce, ReLUConvBN, avg_pool_3x3, bn, channel_shuffle, dense_grad, drop_path,
                  from_phases, scaled_batch_norm, to_phases)


class MixedOp(nn.Module):
    """The 8 ops of one edge (or of one source node, when shared); pools get a non-affine BN.

    With ``partial`` > 1 op ``o`` acts on channel group ``op_groups[o]`` (default 0) and the
    plan's gates decide which groups pass through (PC-DARTS, FP-DARTS); on stride-2 edges the
    passed-through channels are max-pooled 2x2. ``affine`` gives every BN of the ops affine
    parameters; ``identity_bn`` puts a BN after the stride-1 ``skip_connect`` too (ISTA-NAS
    one-stage). Both are off in the DARTS search cell.
    """

    def __init__(self, c: int, stride: int, partial: int = 1, op_groups: dict[str, int] | None = None,
                 affine: bool = False, identity_bn: bool = False) -> None:
        super().__init__()
        self.partial, self.stride = partial, stride
        self.group = [(op_groups or {}).get(name, 0) for name in OPS]
        cp = c // partial
        self.ops = nn.ModuleList()
        for name in OPS:
            op = DARTS_OPS[name](cp, stride, affine, False)
            if "pool" in name or (identity_bn and isinstance(op, nn.Identity)):
                op = nn.Sequential(op, bn(cp, affine, False))
            self.ops.append(op)

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(x.split(x.shape[1] // self.partial, dim=1)) if self.partial > 1 else [x]

    def outputs(self, x: torch.Tensor, ops: set[int]) -> dict[int, torch.Tensor]:
        """The raw output of each op in ``ops`` (``none`` is never computed)."""
        xg = self.split(x)
        return {k: self.ops[k](xg[self.group[k]]) for k in sorted(ops) if OPS[k] != "none"}

    def combine(self, x: torch.Tensor, outs: dict[int, torch.Tensor], plan: EdgePlan, edge: int,
                drop: tuple[float, torch.Generator | None] = (0.0, None)) -> torch.Tensor:
        """The edge output from precomputed op outputs, as the plan weighs, gates and scales them.

        ``drop``: drop-path probability and generator, applied (in training) to every op output
        except the stride-1 identity, as in the DARTS evaluation cell."""
        xg = self.split(x)
        parts: list[torch.Tensor | None] = [None] * self.partial
        for k in self.ops_of(plan, edge):
            if k in outs:
                g, w = self.group[k], plan.weights[edge, k]
                t = outs[k]
                if drop[0] > 0 and self.training and not (OPS[k] == "skip_connect" and self.stride == 1):
                    t = drop_path(t, drop[0], drop[1])
                accumulate(parts, g, t, w)
        s = self.stride
        out = mix_groups(parts, xg, plan.gate(edge, self.partial),
                         keep=lambda x: F.max_pool2d(x, 2, 2) if s == 2 else x,
                         empty=lambda x: x[:, :, ::s, ::s] * 0.0)
        rest_w = plan.skipped_weight(edge)
        if rest_w is not None:
            out = out + rest_w
        if plan.edge_scale is not None:
            out = out * plan.edge_scale[edge]
        return out

    def forward(self, x: torch.Tensor, plan: EdgePlan, edge: int,
                drop: tuple[float, torch.Generator | None] = (0.0, None)) -> torch.Tensor:
        return self.combine(x, self.outputs(x, set(self.ops_of(plan, edge))), plan, edge, drop)

    def ops_of(self, plan: EdgePlan, edge: int) -> list[int]:
        """The ops this edge runs under ``plan`` (closed groups excluded)."""
        return plan.ops_of(edge, self.group, self.partial)


class SearchCell(nn.Module):
    """A DARTS search cell: two preprocessed inputs, 4 intermediate nodes, 14 mixed edges.

    The forward pass computes per *source* node (``forward_per_edge`` is the plain one-module-
    per-edge reference with the same function): the ReLU that opens every convolution leaving
    a node, its max and average pooling (each with its parameter-free BN) and its identity are
    computed once and weighted per out-edge; ``none`` is never computed; each convolution's op
    weight is folded into its last BN. Dilated convolutions run undilated on the polyphase
    components of the source (``to_phases``, shared by all of them), and each node sums its
    terms in place, split by channel group and shuffled once (partial channels).
    """

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, partial: int,
                 op_groups: dict[str, int] | None = None, share_sources: bool = False, affine: bool = False,
                 identity_bn: bool = False) -> None:
        super().__init__()
        self.reduction, self.shared, self.partial = reduction, share_sources, partial
        self.pre0 = FactorizedReduce(c_pp, c, affine, False) if reduction_prev else \
            ReLUConvBN(c_pp, c, 1, 1, 0, 1, affine, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, 1, affine, False)
        stride = [2 if reduction and s < 2 else 1 for s, _ in EDGES]
        if share_sources:  # one op set per source node, used by all its out-edges
            sources = sorted({s for s, _ in EDGES})
            self.edges = nn.ModuleList(MixedOp(c, 2 if reduction and s < 2 else 1, partial, op_groups, affine,
                                               identity_bn) for s in sources)
            self.module_of = [s for s, _ in EDGES]
        else:
            self.edges = nn.ModuleList(MixedOp(c, st, partial, op_groups, affine, identity_bn) for st in stride)
            self.module_of = list(range(len(EDGES)))
        self.trace: list[tuple[int, int, int | None]] | None = None
        """Set to a list to record every op computation of the following forward passes as
        (source node, op, edge), edge None when computed once for all out-edges (tests, profiling)."""

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, plan: EdgePlan,
                drop: tuple[float, torch.Generator | None] = (0.0, None)) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        nodes = {t: _NodeSum(self.partial) for t in range(2, STEPS + 2)}
        for s in range(STEPS + 1):
            if s >= 2:
                states.append(dense_grad(nodes[s].total()))
            self._from_source(s, states[s], plan, drop, nodes)
        states.append(dense_grad(nodes[STEPS + 1].total()))
        return torch.cat(states[2:], dim=1)

    def _from_source(self, src: int, x: torch.Tensor, plan: EdgePlan, drop: tuple[float, torch.Generator | None],
                     nodes: dict[int, "_NodeSum"]) -> None:
        """Add the terms of every out-edge of node ``src`` (input ``x``) to its target nodes."""
        stride = 2 if self.reduction and src < 2 else 1
        xg = list(x.split(x.shape[1] // self.partial, dim=1)) if self.partial > 1 else [x]
        dropping = drop[0] > 0 and self.training
        memo: dict[tuple, torch.Tensor] = {}

        def shared(key: tuple, make: Callable[[], torch.Tensor], op: tuple[int, int | None] | None = None
                   ) -> torch.Tensor:
            """``make()`` once per source node and ``key``; ``op`` = (op, edge or None) is traced when it runs."""
            if key not in memo:
                memo[key] = make()
                if op is not None and self.trace is not None:
                    self.trace.append((src, *op))
            return memo[key]

        for e in (e for e, (s, _) in enumerate(EDGES) if s == src):
            node, mixed = nodes[EDGES[e][1]], self.edges[self.module_of[e]]
            scale = plan.edge_scale[e] if plan.edge_scale is not None else None
            gate = plan.gate(e, self.partial)
            for g in range(self.partial):
                node.template(g, xg[g][:, :, ::stride, ::stride])
            for k in mixed.ops_of(plan, e):
                name, g = OPS[k], mixed.group[k]
                if name == "none":
                    continue
                coef = plan.weights[e, k]
                coef = coef if gate[g] == 1.0 else coef * gate[g]
                coef = coef if scale is None else coef * scale
                t, phased, coef = self._op(mixed, k, e, xg[g], stride, coef, shared)
                if dropping and not (name == "skip_connect" and stride == 1):
                    t = drop_path(t, drop[0], drop[1], 4 if phased else 1)
                node.add(g, t, coef, phased)
            if self.partial > 1:  # the channel groups an open path bypasses: identity (max-pooled when reducing)
                for g in range(self.partial):
                    bypass = sum(gate) - gate[g]
                    if bypass:
                        keep = shared(("keep", g), lambda g=g: F.max_pool2d(xg[g], 2, 2) if stride == 2 else xg[g])
                        node.add(g, keep, bypass if scale is None else bypass * scale)
            rest = plan.skipped_weight(e)
            if rest is not None:
                node.consts.append(rest if scale is None else rest * scale)

    def _op(self, mixed: "MixedOp", k: int, e: int, x: torch.Tensor, stride: int, coef: torch.Tensor,
            shared: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, bool, torch.Tensor | None]:
        """Op ``k`` of edge ``e`` on its channel group ``x``: (output, in polyphase layout?, weight left to apply).

        Parameter-free parts are computed once per source node through ``shared``; an op's own
        weights run once per edge with ``coef`` folded into their last BN, or once per source
        node (``share_sources``) with ``coef`` left to the node sum."""
        name, op, g = OPS[k], mixed.ops[k], mixed.group[k]
        if name in ("max_pool_3x3", "avg_pool_3x3") or (name == "skip_connect" and stride == 1):
            if name == "max_pool_3x3":
                y = shared(("max", g), lambda: F.max_pool2d(x, 3, stride, 1), (k, None))
            elif name == "avg_pool_3x3":
                y = shared(("avg", g), lambda: avg_pool_3x3(x, stride), (k, None))
            else:
                y = x
            if not isinstance(op, nn.Sequential):  # a bare identity
                return y, False, coef
            norm = op[1]
            if norm.affine:  # each edge has its own affine: fold the weight into it
                return scaled_batch_norm(y, norm, coef), False, None
            return shared(("bn", name, g), lambda: scaled_batch_norm(y, norm), (k, None)), False, coef
        fold, key, who = (None, ("op", k), (k, None)) if self.shared else (coef, ("op", k, e), (k, e))
        left = coef if fold is None else None
        relu = shared(("relu", g), lambda: F.relu(x))
        if name == "skip_connect":  # stride 2: FactorizedReduce
            shifted = shared(("shift", g), lambda: F.pad(relu, (0, 1, 0, 1))[:, :, 1:, 1:])
            return shared(key, lambda: scaled_batch_norm(torch.cat([op.conv_1(relu), op.conv_2(shifted)], dim=1),
                                                         op.bn, fold), who), False, left
        if name.startswith("sep_conv"):
            def sep() -> torch.Tensor:
                h = op[3](op[2](op[1](relu)))
                return scaled_batch_norm(op[6](op[5](F.relu(h))), op[7], fold)
            return shared(key, sep, who), False, left
        # dil_conv: undilated on the polyphase components (stride 1, even size) or on the even pixels (stride 2)
        dw = op[1]
        if stride == 2:
            src, pad, dil, phased = shared(("even", g), lambda: relu[:, :, ::2, ::2]), dw.kernel_size[0] // 2, 1, False
        elif x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0:
            src, pad, dil, phased = shared(("phases", g), lambda: to_phases(relu)), dw.kernel_size[0] // 2, 1, True
        else:
            src, pad, dil, phased = relu, dw.padding, dw.dilation, False
        y = shared(key, lambda: scaled_batch_norm(
            op[2](F.conv2d(src, dw.weight, padding=pad, dilation=dil, groups=dw.groups)), op[3], fold), who)
        return y, phased, left

    def forward_per_edge(self, s0: torch.Tensor, s1: torch.Tensor, plan: EdgePlan,
                         drop: tuple[float, torch.Generator | None] = (0.0, None)) -> torch.Tensor:
        """The same function as ``forward``, one module call per edge and op (the reference)."""
        states = [self.pre0(s0), self.pre1(s1)]
        cache: dict[int, dict[int, torch.Tensor]] = {}
        for t in range(2, STEPS + 2):
            total = None
            for e, (s, tt) in enumerate(EDGES):
                if tt != t:
                    continue
                op = self.edges[self.module_of[e]]
                if self.shared:
                    if s not in cache:
                        need = {k for e2, (s2, _) in enumerate(EDGES) if s2 == s for k in op.ops_of(plan, e2)}
                        cache[s] = op.outputs(states[s], need)
                    y = op.combine(states[s], cache[s], plan, e, drop)
                else:
                    y = op(states[s], plan, e, drop)
                total = y if total is None else total + y
            states.append(total)
        return torch.cat(states[2:], dim=1)


class _NodeSum:
    """The terms of one intermediate node, per channel group, summed once all its in-edges are in.

    Terms in polyphase layout are summed apart and put back once; groups are concatenated and
    shuffled once (the per-edge shuffle of partial channels is the same permutation on every
    edge); ``consts`` are scalars added to every channel (GDAS's skipped-op weights)."""

    def __init__(self, groups: int) -> None:
        self.terms: list[list[Term]] = [[] for _ in range(groups)]
        self.phased: list[list[Term]] = [[] for _ in range(groups)]
        self.like: list[torch.Tensor | None] = [None] * groups
        self.consts: list[torch.Tensor] = []

    def template(self, g: int, like: torch.Tensor) -> None:
        if self.like[g] is None:
            self.like[g] = like

    def add(self, g: int, t: torch.Tensor, weight: torch.Tensor | float | None, phased: bool = False) -> None:
        (self.phased if phased else self.terms)[g].append((t, weight))

    def total(self) -> torch.Tensor:
        chunks = []
        for g, like in enumerate(self.like):
            parts = list(self.terms[g])
            if self.phased[g]:
                parts.append((from_phases(weighted_sum(self.phased[g])), None))
            chunks.append(weighted_sum(parts) if parts else torch.zeros_like(like))
        out = chunks[0] if len(chunks) == 1 else channel_shuffle(torch.cat(chunks, dim=1), len(chunks))
        for c in self.consts:
            out = out + c
        return out


class SearchAuxiliaryHead(nn.Module):
    """quark0/darts's CIFAR auxiliary classifier, for a search network.

    On the 8x8 maps it was designed for it pools 5x5 with stride 3 as published; on maps of any
    other size (e.g. 2x2 from 8x8 digits) it pools adaptively to 2x2 instead, so it always ends
    in the 2x2 convolution's 1x1 output.
    """

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
                                      nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if x.shape[-2:] == (8, 8):
            x = F.avg_pool2d(x, 5, stride=3, padding=0, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsSearchNetwork(nn.Module):
    """The DARTS search network: stem, ``layers`` cells (reductions at 1/3 and 2/3), classifier.

    Off by default (the DARTS search network): ``affine`` BNs in the cells, ``identity_bn`` after
    stride-1 skips, and an ``auxiliary`` head after cell ``2 * layers // 3`` (ISTA-NAS one-stage).
    """

    def __init__(self, c: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 stem_multiplier: int = 3, partial: int = 1, op_groups: dict[str, int] | None = None,
                 share_sources: bool = False, affine: bool = False, identity_bn: bool = False,
                 auxiliary: bool = False) -> None:
        super().__init__()
        c_cur = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        self.aux_cell = 2 * layers // 3
        c_aux = c_p
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(SearchCell(c_pp, c_p, c_cur, reduction, reduction_prev, partial, op_groups,
                                         share_sources, affine, identity_bn))
            reduction_prev = reduction
            c_pp, c_p = c_p, STEPS * c_cur
            if i == self.aux_cell:
                c_aux = c_p
        self.auxiliary_head = SearchAuxiliaryHead(c_aux, num_classes) if auxiliary else None
        self.drop_path_prob = 0.0  # set by a method that trains the search network as the target (ISTA-NAS)
        self.generator: torch.Generator | None = None
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor, plans: dict[str, EdgePlan | list[EdgePlan]], return_aux: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """``plans[type]``: one EdgePlan for every cell of that type, or a list with one per such cell.

        ``return_aux``: return (logits, auxiliary logits), the latter None without a head or in eval mode.
        """
        s0 = s1 = self.stem(x)
        seen = {"normal": 0, "reduce": 0}
        aux = None
        for i, cell in enumerate(self.cells):
            kind = "reduce" if cell.reduction else "normal"
            plan = plans[kind]
            if isinstance(plan, (list, tuple)):
                plan = plan[seen[kind]]
            seen[kind] += 1
            s0, s1 = s1, cell(s0, s1, plan, (self.drop_path_prob, self.generator))
            if return_aux and i == self.aux_cell and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))
        return (logits, aux) if return_aux else logits
