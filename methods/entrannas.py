"""EnTranNAS (Yang et al., CVPR 2021): one differentiable Engine-cell, Transit-cells for the rest.

The first cell of each cell type is the Engine-cell: a DARTS mixed cell with
``p = softmax(α / τ)`` (EnTranNAS) or the sparsified ``q̂`` (EnTranNAS-DST). Every other cell is
a Transit-cell: an unweighted sum over the derived set ``S_j``, re-derived from the current α
at every forward pass, with constant weights so that no gradient reaches α through it, and
running only the chosen ops. Ops are shared per source node (feature sharing). Update rule
and schedule as DARTS-V1: one Adam step on α (and β) from a validation batch, then one SGD
step on w from a train batch.

``S_j``: EnTranNAS — DARTS top-2 rule (darts space), per-edge argmax with ``none`` (nb201).
EnTranNAS-DST — ``t_j = sigmoid(β_j)``, ``q = ReLU(p / max_{i<j,k} p − t_j)``, ``q̂ = q / Σ_k q``
per edge, ``S_j = {(i, k): q̂ > 0}``, with ``none`` out of the max and out of q (an edge with no
surviving op is ``none``), so every node keeps a real input; the derived cell is the Engine-cell's
non-zero graph.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.params import Param, positive
from suite.spaces import darts, nb201
from suite.spaces.mixing import EdgePlan

from . import register_method
from .base import Batch, Method


def dst_weights(p: torch.Tensor, beta: torch.Tensor, in_edges: list[list[int]],
                none: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable sparsification of op weights ``p`` [n_edges, n_ops] with node thresholds sigmoid(β).

    Returns ``(q, q̂)``: ``q = ReLU(p / max_{node} p − t_j)`` with the max over every op of every
    in-edge of node j, and ``q̂ = q / Σ_k q`` on each edge with a non-zero q (zero elsewhere).
    The op ``none`` (column ``none``) is no input: it takes no part in the max and its q is 0, so
    the node's largest real op gets q = 1 − t_j > 0 and every node keeps a real input. t_j stays
    below 1 in floating point (sigmoid(β) rounds to 1 from β ≈ 17 in float32) for the same reason.
    """
    t = torch.sigmoid(beta).clamp(max=1.0 - torch.finfo(p.dtype).eps)
    if none is not None:
        p = p * (torch.arange(p.shape[1], device=p.device) != none).to(p.dtype)
    rows: list[torch.Tensor | None] = [None] * p.shape[0]
    for j, edges in enumerate(in_edges):
        block = p[edges]
        q_node = F.relu(block / block.max() - t[j])
        for e, row in zip(edges, q_node):
            rows[e] = row
    q = torch.stack(rows)  # type: ignore[arg-type]
    total = q.sum(-1, keepdim=True)
    # divide by 1 where the edge is all zero: q̂ = 0 there, and no 0/0 reaches the gradient
    return q, q / torch.where(total > 0, total, torch.ones_like(total))


def transit_plan(chosen: list[list[int]], n_ops: int, device: torch.device) -> EdgePlan:
    """An unweighted sum over the chosen ops of each edge: constant weights 1, only those ops run."""
    w = torch.zeros(len(chosen), n_ops, device=device)
    for e, ks in enumerate(chosen):
        w[e, ks] = 1.0
    return EdgePlan(w, active=[list(ks) for ks in chosen])


@register_method("entrannas", dst=False)
@register_method("entrannas-dst", dst=True)
class EnTranNAS(Method):
    PARAMS = {"dst": Param(False, "differentiable sparsification with learnable node thresholds (EnTranNAS-DST)", bool),
              "tau": positive("temperature of the Engine-cell's softmax, p = softmax(α / τ)", 1.0, float)}
    share_sources = True
    ARCH_PARAMETERS = (("alpha", "alphas"), ("beta", "betas"))

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        return self.bilevel_step(train, valid)

    def extra_arch_parameters(self) -> None:
        n_nodes = len(self.space.in_edges())
        self.betas = nn.ParameterDict({
            g: nn.Parameter(self.hp["alpha_init"] * torch.randn(n_nodes, generator=self.generator).to(self.device))
            for g in self.space.groups} if self.hp["dst"] else {})

    # ---- the Engine-cell's weights and the derived sets ------------------------------------------
    def probs(self, group: str) -> torch.Tensor:
        """p = softmax(α / τ) per edge."""
        return F.softmax(self.alphas[group] / self.hp["tau"], dim=-1)

    def engine_weights(self, group: str) -> torch.Tensor:
        """The Engine-cell's op weights: p, or q̂ with DST (differentiable in α and β)."""
        p = self.probs(group)
        if not self.hp["dst"]:
            return p
        return dst_weights(p, self.betas[group], self.space.in_edges(), self.space.ops.index("none"))[1]

    def chosen(self, group: str, weights: torch.Tensor) -> list[list[int]]:
        """S as op indices per edge, from the (detached) Engine weights of ``group``."""
        w = weights.detach().cpu()
        if self.hp["dst"]:  # the Engine-cell's non-zero graph
            return [[k for k, v in enumerate(row.tolist()) if v > 0] for row in w]
        if self.space.name == "nb201":  # [choice] per-edge argmax, `none` included
            return [[int(row.argmax())] for row in w]
        sets: list[list[int]] = [[] for _ in range(self.space.n_edges)]
        for i, (op, src) in enumerate(darts.derive_top2(w)):  # 2 entries per node, in node order
            sets[darts.EDGES.index((src, 2 + i // 2))].append(darts.OPS.index(op))
        return sets

    def plans(self) -> dict[str, EdgePlan | list[EdgePlan]]:
        """Per cell type: [Engine-cell plan] + [Transit-cell plan] × (cells of that type − 1)."""
        counts = self.space.cell_counts(self.net)
        out = {}
        for g in self.alphas:
            w = self.engine_weights(g)
            s = self.chosen(g, w)
            engine = EdgePlan(w, active=s if self.hp["dst"] else None)  # DST: ops with q̂ = 0 do not run
            out[g] = [engine] + [transit_plan(s, w.shape[1], w.device)] * (counts[g] - 1)
        return out

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """The Engine-cell's weights (p, or q̂ with DST), which the derivation reads."""
        with torch.no_grad():
            return {g: self.engine_weights(g).cpu() for g in self.alphas}

    def derived_graph(self) -> dict[str, list[list[tuple[int, str]]]]:
        """Per cell type and intermediate node, the (input node, op) pairs of S_j without `none`."""
        weights = self.arch_weights()
        out = {}
        for g, w in weights.items():
            s = self.chosen(g, w)
            out[g] = [[(self.space.edges[e][0], self.space.ops[k]) for e in edges for k in s[e]
                       if self.space.ops[k] != "none"] for edges in self.space.in_edges()]
        return out

    def derive(self) -> Any:
        if not self.hp["dst"]:  # nb201: per-edge argmax with `none`; darts: the DARTS top-2 rule
            return self.space.derive_argmax(self.arch_weights())
        if self.space.name == "nb201":  # [choice] one op per edge: the largest q̂, `none` if all are 0
            w = self.arch_weights()["cell"]
            return nb201.Arch.from_ops([int(row.argmax()) if row.max() > 0 else nb201.OPS.index("none")
                                        for row in w])
        graph = self.derived_graph()  # any number of inputs per node, listed node by node
        concat = tuple(range(2, darts.STEPS + 2))
        return darts.Genotype(tuple((op, i) for node in graph["normal"] for i, op in node), concat,
                              tuple((op, i) for node in graph["reduce"] for i, op in node), concat,
                              tuple(len(n) for n in graph["normal"]), tuple(len(n) for n in graph["reduce"]))

