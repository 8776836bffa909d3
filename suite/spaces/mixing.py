"""The pluggable mixed edge: what a method tells a supernet about how to mix each edge's ops.

A method turns its architecture parameters into an ``EdgePlan`` every forward pass; the
supernet executes it. DARTS gives softmax weights on all ops, GDAS a hard one-hot with
gradients, PC-DARTS adds per-edge scales (edge normalisation), sparse methods say which
ops to run. The supernet never knows which method it serves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .ops import channel_shuffle


@dataclass
class EdgePlan:
    """Per-edge op weights, and optionally which ops to run and an extra per-edge scale.

    ``weights``: [n_edges, n_ops]. Edge e outputs ``sum_k weights[e, k] * op_k(x)``, times
    ``edge_scale[e]`` when given (see ``gates`` for partial channels). With ``active``, edge e
    runs only the ops ``active[e]`` (see ``straight_through``). Ops of a group whose gate is
    closed are never run.
    """

    weights: torch.Tensor
    active: list[list[int]] | None = None
    edge_scale: torch.Tensor | None = None
    gates: list[tuple[float, ...]] | None = None
    """Per edge, one 0/1 gate per channel group (partial-channel path). Path g applies the ops of
    group g to channels g and passes the other groups through; the edge sums its open paths.
    None means only path 0 is open (PC-DARTS: the other groups bypass the ops)."""
    straight_through: bool = False
    """With ``active``: add each skipped op's weight as a scalar (GDAS's trick, for hard one-hot
    weights whose zeros carry gradients). Off by default: a skipped op contributes nothing."""

    def gate(self, edge: int, n_groups: int) -> tuple[float, ...]:
        if self.gates is None:
            return (1.0,) + (0.0,) * (n_groups - 1)
        return self.gates[edge]

    def ops_of(self, edge: int, op_group: Sequence[int] | None = None, n_groups: int = 1) -> list[int]:
        """The ops edge ``edge`` runs: ``active`` (or all), minus those whose group's gate is closed."""
        ops = self.active[edge] if self.active is not None else range(self.weights.shape[1])
        if op_group is None or n_groups == 1:
            return list(ops)
        gate = self.gate(edge, n_groups)
        return [k for k in ops if gate[op_group[k]]]

    def skipped_weight(self, edge: int) -> torch.Tensor | None:
        """Sum of the weights of the ops not run on ``edge`` (None when all run)."""
        if self.active is None or not self.straight_through:
            return None
        run = set(self.active[edge])
        rest = [k for k in range(self.weights.shape[1]) if k not in run]
        return self.weights[edge, rest].sum() if rest else None


def one_hot_plan(op_indices: list[int], n_ops: int, dtype: torch.dtype = torch.float32) -> EdgePlan:
    """A plan that selects one op per edge with weight exactly 1 (and runs only that op)."""
    w = torch.zeros(len(op_indices), n_ops, dtype=dtype)
    w[torch.arange(len(op_indices)), torch.tensor(op_indices)] = 1.0
    return EdgePlan(w, active=[[k] for k in op_indices])


Term = tuple[torch.Tensor, "torch.Tensor | float | None"]
"""A tensor and its weight (0-d tensor, float, or None for 1) in a sum."""


def weighted_sum(terms: Sequence[Term]) -> torch.Tensor:
    """Σ tensor · weight over ``terms``, accumulated in place into one new tensor.

    One allocation for the whole sum instead of one per product and per addition; on CPU a
    fresh large tensor costs page faults, which show in a supernet's element-wise time.
    """
    acc, own = None, False
    for t, w in terms:
        if acc is None:
            acc, own = (t, False) if w is None else (t * w, True)
        elif not own:
            acc, own = (acc + t if w is None else torch.addcmul(acc, t, w) if isinstance(w, torch.Tensor)
                        else acc + t * w), True
        elif w is None:
            acc.add_(t)
        elif isinstance(w, torch.Tensor):
            acc.addcmul_(t, w)
        else:
            acc.add_(t, alpha=w)
    if acc is None:
        raise ValueError("weighted_sum of no terms")
    return acc


def accumulate(parts: list[torch.Tensor | None], g: int, t: torch.Tensor, w: torch.Tensor | None = None) -> None:
    """Add an op's output ``t`` (times its weight ``w``, when given) to channel group ``g``'s sum."""
    if w is None:
        parts[g] = t if parts[g] is None else parts[g] + t
    else:
        parts[g] = t * w if parts[g] is None else torch.addcmul(parts[g], t, w)


def mix_groups(parts: list[torch.Tensor | None], xg: list[torch.Tensor], gate: Sequence[float],
               keep: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
               empty: Callable[[torch.Tensor], torch.Tensor] = torch.zeros_like) -> torch.Tensor:
    """The partial-channel mixed edge, for every space: channel group g's output is its ops' sum
    ``parts[g]`` times its gate, plus the group's input passed through (``keep``: max-pooled on a
    reducing edge) times the gates of the other open paths; ``empty`` for a group with neither.
    The groups are concatenated and shuffled (PC-DARTS); one group is returned as it is."""
    total = sum(gate)
    chunks = []
    for g, x in enumerate(xg):
        chunk = None
        if parts[g] is not None and gate[g]:
            chunk = parts[g] if gate[g] == 1.0 else parts[g] * gate[g]
        bypass = total - gate[g]
        if bypass:
            kept = keep(x)
            kept = kept if bypass == 1.0 else kept * bypass
            chunk = kept if chunk is None else chunk + kept
        chunks.append(chunk if chunk is not None else empty(x))
    return chunks[0] if len(chunks) == 1 else channel_shuffle(torch.cat(chunks, dim=1), len(chunks))
