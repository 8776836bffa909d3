"""The pluggable mixed edge: what a method tells a supernet about how to mix each edge's ops.

A method turns its architecture parameters into an ``EdgePlan`` every forward pass; the
supernet executes it. DARTS gives softmax weights on all ops, GDAS a hard one-hot with
gradients, PC-DARTS adds per-edge scales (edge normalisation), sparse methods say which
ops to run. The supernet never knows which method it serves.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EdgePlan:
    """Per-edge op weights, and optionally which ops to run and an extra per-edge scale.

    ``weights``: [n_edges, n_ops]. Edge e outputs ``sum_k weights[e, k] * op_k(x)``, times
    ``edge_scale[e]`` when given (see ``gates`` for partial channels). With ``active``, edge e runs only the ops ``active[e]``; each
    skipped op adds ``weights[e, k]`` itself (a scalar, zero in value for a hard one-hot) so its
    weight still gets a gradient, as GDAS's reference implementation does.
    """

    weights: torch.Tensor
    active: list[list[int]] | None = None
    edge_scale: torch.Tensor | None = None
    gates: list[tuple[float, ...]] | None = None
    """Per edge, one 0/1 gate per channel group (partial-channel path). Path g applies the ops of
    group g to channels g and passes the other groups through; the edge sums its open paths.
    None means only path 0 is open (PC-DARTS: the other groups bypass the ops)."""

    def gate(self, edge: int, n_groups: int) -> tuple[float, ...]:
        if self.gates is None:
            return (1.0,) + (0.0,) * (n_groups - 1)
        return self.gates[edge]

    def ops_of(self, edge: int) -> list[int]:
        if self.active is not None:
            return self.active[edge]
        return list(range(self.weights.shape[1]))

    def skipped_weight(self, edge: int) -> torch.Tensor | None:
        """Sum of the weights of the ops not run on ``edge`` (None when all run)."""
        if self.active is None:
            return None
        run = set(self.active[edge])
        rest = [k for k in range(self.weights.shape[1]) if k not in run]
        return self.weights[edge, rest].sum() if rest else None


def one_hot_plan(op_indices: list[int], n_ops: int, dtype: torch.dtype = torch.float32) -> EdgePlan:
    """A plan that selects one op per edge with weight exactly 1 (and runs only that op)."""
    w = torch.zeros(len(op_indices), n_ops, dtype=dtype)
    w[torch.arange(len(op_indices)), torch.tensor(op_indices)] = 1.0
    return EdgePlan(w, active=[[k] for k in op_indices])
