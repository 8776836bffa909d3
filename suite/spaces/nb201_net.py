"""The NB201 (NATS topology) network: one class for the supernet and the stand-alone net.

Structure as NATS-Bench's ``infer.tiny`` / XAutoDL's ``TinyNetworkDarts``: a 3x3 stem, three
stages of N cells (C, 2C, 4C channels) joined by stride-2 residual blocks, BN-ReLU, global
pooling and a linear classifier. A cell has 4 nodes; node j sums one op per earlier node.

The cell computes per *source* node rather than per edge: the ReLU feeding every convolution
leaving node i is computed once, the convolutions of one kind leaving node i run as a single
convolution over all their targets (weights stacked along output channels), and the average
pool and identity of node i are computed once and shared by all its out-edges. That is the same
function as one module per edge (each output channel is its own convolution and BN channel)
with far fewer kernel launches and saved activations. ``none`` is never computed.

A supernet is built with every op as a candidate on every edge and mixes them by an
``EdgePlan``; a stand-alone network is built with one candidate per edge and needs no plan.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.errors import InvalidInput

from .mixing import EdgePlan, accumulate, mix_groups
from .nb201 import EDGES, NUM_NODES, OPS, Arch, as_arch
from .ops import ResNetBasicblock, avg_pool_3x3

_CONV = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


class NB201Cell(nn.Module):
    """One cell; ``candidates[e]`` lists the op names edge e may use (EDGES order).

    ``partial`` splits channels into that many groups; op ``o`` acts on group ``op_groups[o]``
    (default 0) and the other groups bypass it, as the plan's gates say (PC-DARTS, FP-DARTS).
    ``share_sources`` gives every op one set of weights per source node, used by all its
    out-edges (EnTranNAS's feature sharing) instead of one per edge.
    """

    def __init__(self, c: int, candidates: Sequence[Sequence[str]], partial: int = 1,
                 bn_affine: bool = False, bn_track: bool = False, op_groups: dict[str, int] | None = None,
                 share_sources: bool = False) -> None:
        super().__init__()
        if c % partial:
            raise InvalidInput(f"channels {c} must be divisible by the partial-channel factor {partial}")
        self.c, self.partial, self.cp = c, partial, c // partial
        self.op_group = {op: (op_groups or {}).get(op, 0) for op in OPS}
        if any(not 0 <= g < partial for g in self.op_group.values()):
            raise InvalidInput(f"op groups must be in [0, {partial}), got {op_groups}")
        self.candidates = [list(cands) for cands in candidates]
        self.bn_affine, self.bn_track, self.shared = bn_affine, bn_track, share_sources
        self.convs = nn.ModuleDict()
        self.rows: dict[str, list[int]] = {}  # "src_op" -> edge of each block of output rows
        for src in range(NUM_NODES - 1):
            for op, k in _CONV.items():
                edges = [e for e, (s, _) in enumerate(EDGES) if s == src and op in self.candidates[e]]
                if not edges:
                    continue
                key = f"{src}_{op}"
                blocks = 1 if share_sources else len(edges)
                conv = nn.Conv2d(self.cp, self.cp * blocks, k, padding=k // 2, bias=False)
                norm = nn.BatchNorm2d(self.cp * blocks, affine=bn_affine, track_running_stats=bn_track)
                self.convs[key] = nn.ModuleList([conv, norm])
                self.rows[key] = edges

    def forward(self, x: torch.Tensor, plan: EdgePlan | None = None) -> torch.Tensor:
        states = [x]
        terms: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for src in range(NUM_NODES - 1):
            xs = states[src]
            xg = list(xs.split(self.cp, dim=1)) if self.partial > 1 else [xs]
            out_edges = [e for e, (s, _) in enumerate(EDGES) if s == src]
            runs = {e: self._ops_to_run(e, plan) for e in out_edges}
            outputs: dict[tuple[int, str], torch.Tensor] = {}  # weighted conv outputs
            relus: dict[int, torch.Tensor] = {}
            pools: dict[int, torch.Tensor] = {}
            for op in _CONV:
                key = f"{src}_{op}"
                edges = [e for e in self.rows.get(key, []) if op in runs[e]]
                if edges:
                    g = self.op_group[op]
                    if g not in relus:
                        relus[g] = F.relu(xg[g])
                    scales = None if plan is None else [plan.weights[e, OPS.index(op)] for e in edges]
                    for e, y in zip(edges, self._conv(key, relus[g], edges, scales)):
                        outputs[(e, op)] = y
            for e in out_edges:
                parts: list[torch.Tensor | None] = [None] * self.partial
                for op in runs[e]:
                    g = self.op_group[op]
                    if op in _CONV:  # already weighted
                        accumulate(parts, g, outputs[(e, op)])
                        continue
                    if op == "skip_connect":
                        t = xg[g]
                    else:
                        if g not in pools:
                            pools[g] = avg_pool_3x3(xg[g])
                        t = pools[g]
                    accumulate(parts, g, t, None if plan is None else plan.weights[e, OPS.index(op)])
                out = self._edge_output(parts, xg, plan, e)
                if out is not None:
                    terms[EDGES[e][1]].append(out)
                if plan is not None and (rest := plan.skipped_weight(e)) is not None:
                    terms[EDGES[e][1]].append(rest if plan.edge_scale is None else rest * plan.edge_scale[e])
            node = src + 1
            tensors = [t for t in terms[node] if t.dim() > 0]
            total = tensors[0] if tensors else torch.zeros_like(x)
            for t in tensors[1:] + [t for t in terms[node] if t.dim() == 0]:
                total = total + t
            states.append(total)
        return states[-1]

    def conv_flops(self, h: int, w: int) -> float:
        """Multiply-adds of this cell's stacked convolutions on an h x w input (all rows run)."""
        return sum(h * w * conv.kernel_size[0] * conv.kernel_size[1] * conv.in_channels * conv.out_channels
                   for conv, _ in self.convs.values())

    def _edge_output(self, parts: list[torch.Tensor | None], xg: list[torch.Tensor], plan: EdgePlan | None,
                     edge: int) -> torch.Tensor | None:
        """Combine an edge's per-group op sums with the bypassed groups, shuffle, scale."""
        if self.partial == 1:
            out = parts[0]
        else:
            gate = plan.gate(edge, self.partial) if plan is not None else (1.0,) + (0.0,) * (self.partial - 1)
            if sum(gate) == 0:
                return None
            out = mix_groups(parts, xg, gate)
        if out is not None and plan is not None and plan.edge_scale is not None:
            out = out * plan.edge_scale[edge]
        return out

    def _ops_to_run(self, edge: int, plan: EdgePlan | None) -> list[str]:
        cands = self.candidates[edge]
        if plan is None:
            if len(cands) != 1:
                raise ValueError("a cell with several candidate ops per edge needs an EdgePlan")
            names = cands
        else:
            names = [OPS[k] for k in plan.ops_of(edge, [self.op_group[o] for o in OPS], self.partial)]
            missing = [n for n in names if n not in cands]
            if missing:
                raise ValueError(f"edge {EDGES[edge]} has no candidate op {missing[0]!r}")
        return [n for n in names if n != "none"]

    def _conv(self, key: str, relu: torch.Tensor, edges: list[int],
              scales: list[torch.Tensor] | None) -> list[torch.Tensor]:
        """Convolution + BN of ``key`` for the target ``edges``, each output times its scale.

        In a search cell the BN has no affine parameters, so the op weights are passed to the
        BN as its per-channel scale: one fused pass instead of a separate multiply.
        """
        conv, norm = self.convs[key]
        if self.shared:  # one output for every target, weighted per edge afterwards
            y = norm(conv(relu))
            return [y if s is None else y * s for s in (scales or [None] * len(edges))]
        all_edges = self.rows[key]
        if edges == all_edges:
            weight, bn_w, bn_b, rm, rv = conv.weight, norm.weight, norm.bias, norm.running_mean, norm.running_var
        else:  # only some targets run this op (e.g. GDAS): convolve with their rows only
            idx = torch.cat([torch.arange(self.cp) + all_edges.index(e) * self.cp for e in edges])
            weight = conv.weight[idx]
            bn_w = norm.weight[idx] if norm.weight is not None else None
            bn_b = norm.bias[idx] if norm.bias is not None else None
            rm = norm.running_mean[idx] if norm.running_mean is not None else None  # copies
            rv = norm.running_var[idx] if norm.running_var is not None else None
        y = F.conv2d(relu, weight, padding=conv.padding)
        fold = scales is not None and bn_w is None
        if fold:
            bn_w = torch.cat([s.reshape(1).expand(self.cp) for s in scales])
        training = self.training or rm is None
        y = F.batch_norm(y, rm, rv, bn_w, bn_b, training, norm.momentum if norm.momentum is not None else 0.1,
                         norm.eps)
        if edges != all_edges and self.training and rm is not None:  # write the updated statistics back
            norm.running_mean[idx] = rm
            norm.running_var[idx] = rv
        outs = list(y.split(self.cp, dim=1))
        if scales is not None and not fold:
            outs = [o * s for o, s in zip(outs, scales)]
        return outs


class NB201Network(nn.Module):
    """The NB201 network. ``arch=None`` builds the supernet (all ops on every edge)."""

    def __init__(self, c: int = 16, n: int = 5, num_classes: int = 10, arch: Arch | str | None = None,
                 in_channels: int = 3, partial: int = 1, bn_affine: bool | None = None,
                 bn_track: bool | None = None, op_groups: dict[str, int] | None = None,
                 share_sources: bool = False) -> None:
        super().__init__()
        self.arch = as_arch(arch) if arch is not None else None
        search = self.arch is None
        # search cells: BN without affine or running stats (NATS-Bench); trained nets: the usual BN
        bn_affine = (not search) if bn_affine is None else bn_affine
        bn_track = (not search) if bn_track is None else bn_track
        candidates = [list(OPS)] * len(EDGES) if search else [[op] for op in self.arch.ops]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        c_prev = c
        for stage, c_cur in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                layers.append(ResNetBasicblock(c_prev, c_cur, 2))
            layers.extend(NB201Cell(c_cur, candidates, partial, bn_affine, bn_track, op_groups, share_sources)
                          for _ in range(n))
            c_prev = c_cur
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)

    @property
    def num_search_cells(self) -> int:
        return sum(isinstance(layer, NB201Cell) for layer in self.cells)

    def forward(self, x: torch.Tensor, plan: EdgePlan | Sequence[EdgePlan] | None = None) -> torch.Tensor:
        """``plan``: one EdgePlan for every cell, or a sequence with one per cell (in order)."""
        per_cell = isinstance(plan, (list, tuple))
        if per_cell and len(plan) != self.num_search_cells:
            raise ValueError(f"got {len(plan)} cell plans for {self.num_search_cells} cells")
        x = self.stem(x)
        k = 0
        for layer in self.cells:
            if isinstance(layer, NB201Cell):
                x = layer(x, plan[k] if per_cell else plan)
                k += 1
            else:
                x = layer(x)
        x = self.lastact(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def subnet_state_dict(supernet: NB201Network, arch: Arch | str) -> dict[str, torch.Tensor]:
    """The weights of ``arch``'s stand-alone network, taken from a supernet (weight inheritance)."""
    arch = as_arch(arch)
    state = {}
    for name, value in supernet.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and len(parts) > 3 and parts[2] == "convs":
            cell: NB201Cell = supernet.cells[int(parts[1])]  # type: ignore[assignment]
            key = parts[3]
            op = key.split("_", 1)[1]
            keep = [e for e in cell.rows[key] if arch.ops[e] == op]
            if not keep:
                continue
            if value.dim() == 0:
                state[name] = value
                continue
            blocks = [0] if cell.shared else [cell.rows[key].index(e) for e in keep]
            idx = torch.cat([torch.arange(cell.cp) + b * cell.cp for b in blocks])
            state[name] = value[idx].clone()
        else:
            state[name] = value
    return state
