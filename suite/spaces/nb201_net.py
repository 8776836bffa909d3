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

from .mixing import EdgePlan
from .nb201 import EDGES, NUM_NODES, OPS, Arch, as_arch
from .ops import ResNetBasicblock, channel_shuffle

_CONV = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 average pooling, stride 1, padding 1, not counting the padding.

    Computed as a depthwise convolution with a ones kernel divided by the per-position window
    size: the same numbers as ``F.avg_pool2d(..., count_include_pad=False)`` (up to rounding),
    several times faster forward and backward on CPU.
    """
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    kernel = torch.ones(c, 1, 3, 3, dtype=x.dtype, device=x.device)
    rows = torch.full((h,), 3.0, dtype=x.dtype, device=x.device)
    cols = torch.full((w,), 3.0, dtype=x.dtype, device=x.device)
    rows[0] -= 1
    rows[-1] -= 1
    cols[0] -= 1
    cols[-1] -= 1
    return F.conv2d(x, kernel, padding=1, groups=c) / (rows[:, None] * cols[None, :])


class NB201Cell(nn.Module):
    """One cell; ``candidates[e]`` lists the op names edge e may use (EDGES order)."""

    def __init__(self, c: int, candidates: Sequence[Sequence[str]], partial: int = 1,
                 bn_affine: bool = False, bn_track: bool = False) -> None:
        super().__init__()
        if c % partial:
            raise ValueError(f"channels {c} must be divisible by the partial-channel factor {partial}")
        self.c, self.partial, self.cp = c, partial, c // partial
        self.candidates = [list(cands) for cands in candidates]
        self.bn_affine, self.bn_track = bn_affine, bn_track
        self.convs = nn.ModuleDict()
        self.rows: dict[str, list[int]] = {}  # "src.op" -> edge of each block of output rows
        for src in range(NUM_NODES - 1):
            for op, k in _CONV.items():
                edges = [e for e, (s, _) in enumerate(EDGES) if s == src and op in self.candidates[e]]
                if not edges:
                    continue
                key = f"{src}_{op}"
                conv = nn.Conv2d(self.cp, self.cp * len(edges), k, padding=k // 2, bias=False)
                norm = nn.BatchNorm2d(self.cp * len(edges), affine=bn_affine, track_running_stats=bn_track)
                self.convs[key] = nn.ModuleList([conv, norm])
                self.rows[key] = edges

    def forward(self, x: torch.Tensor, plan: EdgePlan | None = None) -> torch.Tensor:
        states = [x]
        terms: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        scalars: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for src in range(NUM_NODES - 1):
            xs = states[src]
            xin = xs[:, : self.cp] if self.partial > 1 else xs
            out_edges = [e for e, (s, _) in enumerate(EDGES) if s == src]
            runs = {e: self._ops_to_run(e, plan) for e in out_edges}
            outputs: dict[tuple[int, str], torch.Tensor] = {}
            needed = {op for e in out_edges for op in runs[e]}
            if needed & _CONV.keys():
                relu = F.relu(xin)
                for op in _CONV:
                    key = f"{src}_{op}"
                    edges = [e for e in self.rows.get(key, []) if op in runs[e]]
                    if edges:
                        scales = None if plan is None else [plan.weights[e, OPS.index(op)] for e in edges]
                        for e, y in zip(edges, self._conv(key, relu, edges, scales)):
                            outputs[(e, op)] = y
            pooled = avg_pool_3x3(xin) if "avg_pool_3x3" in needed else None
            for e in out_edges:
                acc = None
                for op in runs[e]:
                    if op in _CONV:  # already weighted inside its batch norm
                        t = outputs[(e, op)]
                        acc = t if acc is None else acc + t
                        continue
                    t = xin if op == "skip_connect" else pooled
                    if plan is None:
                        acc = t if acc is None else acc + t
                    else:
                        w = plan.weights[e, OPS.index(op)]
                        acc = t * w if acc is None else torch.addcmul(acc, t, w)
                tgt = EDGES[e][1]
                if acc is not None and self.partial > 1:
                    acc = channel_shuffle(torch.cat([acc, xs[:, self.cp:]], dim=1), self.partial)
                if plan is not None and plan.edge_scale is not None and acc is not None:
                    acc = acc * plan.edge_scale[e]
                if acc is not None:
                    terms[tgt].append(acc)
                if plan is not None:
                    rest = plan.skipped_weight(e)
                    if rest is not None:
                        scalars[tgt].append(rest if plan.edge_scale is None else rest * plan.edge_scale[e])
            node = src + 1
            total = terms[node][0] if terms[node] else torch.zeros_like(x)
            for t in terms[node][1:]:
                total = total + t
            for s in scalars[node]:
                total = total + s
            states.append(total)
        return states[-1]

    def _ops_to_run(self, edge: int, plan: EdgePlan | None) -> list[str]:
        cands = self.candidates[edge]
        if plan is None:
            if len(cands) != 1:
                raise ValueError("a cell with several candidate ops per edge needs an EdgePlan")
            names = cands
        else:
            names = [OPS[k] for k in plan.ops_of(edge)]
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
                 bn_track: bool | None = None) -> None:
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
            layers.extend(NB201Cell(c_cur, candidates, partial, bn_affine, bn_track) for _ in range(n))
            c_prev = c_cur
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, plan: EdgePlan | None = None) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, plan) if isinstance(layer, NB201Cell) else layer(x)
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
            idx = torch.cat([torch.arange(cell.cp) + cell.rows[key].index(e) * cell.cp for e in keep])
            state[name] = value[idx].clone()
        else:
            state[name] = value
    return state
