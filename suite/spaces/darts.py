"""The DARTS CNN space: genotypes and the search network (8 ops, 14 edges, normal + reduce).

A cell has two input nodes (the two previous cells) and 4 intermediate nodes; node j (2..5)
sums one mixed op on each earlier node, so edges are enumerated node by node: (0,2), (1,2),
(0,3), (1,3), (2,3), (0,4), ... 14 in all. The output concatenates the 4 intermediate nodes.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mixing import EdgePlan
from .ops import DARTS_OPS, DARTS_PRIMITIVES, FactorizedReduce, ReLUConvBN, bn, channel_shuffle

STEPS = 4
EDGES: tuple[tuple[int, int], ...] = tuple((s, t) for t in range(2, STEPS + 2) for s in range(t))
OPS = DARTS_PRIMITIVES


@dataclass(frozen=True)
class Genotype:
    """A derived DARTS cell pair, in quark0/darts's Genotype layout: (op, input node) per chosen edge."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def to_str(self) -> str:
        return (f"Genotype(normal={list(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={list(self.reduce)}, reduce_concat={list(self.reduce_concat)})")

    __str__ = to_str

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """Parse the string ``to_str`` writes (also quark0/darts's ``Genotype(...)`` repr)."""
        body = text.strip()
        if not (body.startswith("Genotype(") and body.endswith(")")):
            raise ValueError(f"a DARTS genotype reads 'Genotype(normal=[...], normal_concat=[...], "
                             f"reduce=[...], reduce_concat=[...])', got {text[:60]!r}")
        fields = {}
        try:
            call = ast.parse(body, mode="eval").body
            for kw in call.keywords:  # type: ignore[attr-defined]
                fields[kw.arg] = ast.literal_eval(kw.value)
        except (SyntaxError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed DARTS genotype {text[:60]!r}: {exc}") from None
        missing = {"normal", "normal_concat", "reduce", "reduce_concat"} - set(fields)
        if missing:
            raise ValueError(f"DARTS genotype lacks {sorted(missing)}")
        for cell in ("normal", "reduce"):
            for op, node in fields[cell]:
                if op not in OPS:
                    raise ValueError(f"unknown DARTS op {op!r}; allowed values: {list(OPS)}")
        return cls(tuple((op, int(n)) for op, n in fields["normal"]), tuple(fields["normal_concat"]),
                   tuple((op, int(n)) for op, n in fields["reduce"]), tuple(fields["reduce_concat"]))


def derive_top2(weights: torch.Tensor, exclude: str = "none") -> tuple[tuple[str, int], ...]:
    """DARTS rule: per node keep the 2 in-edges with the largest non-``none`` weight, each with its best op."""
    w = weights.detach().cpu()
    gene: list[tuple[str, int]] = []
    skip = OPS.index(exclude)
    for t in range(2, STEPS + 2):
        edges = [e for e, (_, tt) in enumerate(EDGES) if tt == t]
        scored = []
        for e in edges:
            row = w[e].clone()
            row[skip] = -float("inf")
            scored.append((float(row.max()), e, int(row.argmax())))
        for _, e, k in sorted(scored, key=lambda x: -x[0])[:2]:
            gene.append((OPS[k], EDGES[e][0]))
    return tuple(gene)


class MixedOp(nn.Module):
    """All 8 ops of one edge; pools get a non-affine BN as in the DARTS search cell."""

    def __init__(self, c: int, stride: int, partial: int = 1) -> None:
        super().__init__()
        self.partial, self.stride = partial, stride
        cp = c // partial
        self.ops = nn.ModuleList()
        for name in OPS:
            op = DARTS_OPS[name](cp, stride, False, False)
            if "pool" in name:
                op = nn.Sequential(op, bn(cp, False, False))
            self.ops.append(op)

    def forward(self, x: torch.Tensor, plan: EdgePlan, edge: int) -> torch.Tensor:
        cp = x.shape[1] // self.partial
        xin = x[:, :cp] if self.partial > 1 else x
        acc = None
        for k in plan.ops_of(edge):
            if OPS[k] == "none":
                continue
            t = self.ops[k](xin)
            w = plan.weights[edge, k]
            acc = t * w if acc is None else torch.addcmul(acc, t, w)
        if acc is None:
            acc = xin[:, :, :: self.stride, :: self.stride] * 0.0
        if self.partial > 1:
            rest = x[:, cp:]
            rest = F.max_pool2d(rest, 2, 2) if self.stride == 2 else rest
            acc = channel_shuffle(torch.cat([acc, rest], dim=1), self.partial)
        rest_w = plan.skipped_weight(edge)
        if rest_w is not None:
            acc = acc + rest_w
        if plan.edge_scale is not None:
            acc = acc * plan.edge_scale[edge]
        return acc


class SearchCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, partial: int) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, False, False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, 1, False, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, 1, False, False)
        self.edges = nn.ModuleList(MixedOp(c, 2 if reduction and s < 2 else 1, partial) for s, _ in EDGES)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, plan: EdgePlan) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for t in range(2, STEPS + 2):
            total = None
            for e, (s, tt) in enumerate(EDGES):
                if tt == t:
                    y = self.edges[e](states[s], plan, e)
                    total = y if total is None else total + y
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSearchNetwork(nn.Module):
    """The DARTS search network: stem, ``layers`` cells (reductions at 1/3 and 2/3), classifier."""

    def __init__(self, c: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 stem_multiplier: int = 3, partial: int = 1) -> None:
        super().__init__()
        c_cur = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(SearchCell(c_pp, c_p, c_cur, reduction, reduction_prev, partial))
            reduction_prev = reduction
            c_pp, c_p = c_p, STEPS * c_cur
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor, plans: dict[str, EdgePlan]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, plans["reduce" if cell.reduction else "normal"])
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))
