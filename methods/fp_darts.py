"""FP-DARTS (Wang et al., Pattern Recognition 2023): two op subsets on two channel halves.

Every edge splits its input into channel halves x₁, x₂. Path 0 runs op subset A on x₁ and
passes x₂ through, path 1 runs subset B on x₂ and passes x₁ through (each then shuffled); the
edge sums its open paths. A binary gate per edge keeps both paths or drops one, and a dropped
path computes nothing. Op weights are sigmoid(α) and edge weights sigmoid(β): no softmax, so
ops (and the two subsets) do not compete for one unit of weight. First order, PC-DARTS schedule.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from suite.errors import InvalidInput
from suite.params import Param, choice
from suite.spaces.mixing import EdgePlan

from . import register_method
from .base import Batch, Method
from .pc_darts import PCDARTS

GATES: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.0, 0.0), (0.0, 1.0))
"""Gate code -> (path 0 open, path 1 open): both paths, path 0 alone, path 1 alone; drawn uniformly."""

SUBSETS = {  # [choice] the authors' subset file is missing (METHODS.md)
    "nb201": ("none,nor_conv_1x1,avg_pool_3x3", "skip_connect,nor_conv_3x3"),
    "darts": ("none,max_pool_3x3,sep_conv_3x3,dil_conv_3x3", "avg_pool_3x3,skip_connect,sep_conv_5x5,dil_conv_5x5"),
}


def _names(value: Any) -> tuple[str, ...]:
    """Op names from a comma-separated string (command line) or a list (YAML)."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(n).strip() for n in items if str(n).strip())


def _subset(doc: str) -> Param:
    return Param(None, doc + " (comma-separated op names; default per space)", (str, list, tuple))


@register_method("fp-darts")
class FPDARTS(Method):
    PARAMS = {
        "subset_a": _subset("ops of path 0, acting on channel half x1"),
        "subset_b": _subset("ops of path 1, acting on channel half x2"),
        "gate_draw": choice("when each edge's path gate is drawn: 'step' redraws it every step [choice], "
                            "'build' draws it once with the supernet (the authors' code)", "step", "step", "build"),
    }
    SPACE_DEFAULTS = {  # [choice] PC-DARTS's settings on both spaces (METHODS.md)
        space: {**PCDARTS.SPACE_DEFAULTS[space], "subset_a": a, "subset_b": b} for space, (a, b) in SUBSETS.items()
    }
    partial = 2  # K = 2 channel halves; op_groups comes from the subsets
    ARCH_PARAMETERS = (("alpha", "alphas"), ("beta", "betas"))

    def build_network(self, num_classes: int, in_channels: int) -> nn.Module:
        self.subsets = self._check_subsets()
        self.hp["subset_a"], self.hp["subset_b"] = (",".join(s) for s in self.subsets)  # recorded canonically
        self.op_groups = {op: g for g, ops in enumerate(self.subsets) for op in ops}
        group = [self.op_groups[op] for op in self.space.ops]
        self._op_mask = torch.tensor([[float(gate[g]) for g in group] for gate in GATES])  # [code, op]
        self._active = [[k for k, g in enumerate(group) if gate[g]] for gate in GATES]  # code -> ops run
        return super().build_network(num_classes, in_channels)

    def _check_subsets(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ops, subsets = self.space.ops, []
        for key in ("subset_a", "subset_b"):
            names = _names(self.hp[key])
            if not names or any(n not in ops for n in names) or len(set(names)) != len(names):
                raise InvalidInput(f"The {key!r} parameter of {self.name} must be distinct {self.space.name} op names "
                                   f"from {', '.join(ops)}. Got {self.hp[key]!r} instead.")
            subsets.append(names)
        a, b = subsets
        both, neither = sorted(set(a) & set(b)), [o for o in ops if o not in a and o not in b]
        if both or neither:
            raise InvalidInput(f"The 'subset_a' and 'subset_b' parameters of {self.name} must split the "
                               f"{self.space.name} ops into two disjoint sets covering all of them. Got "
                               f"{both or 'none'} in both and {neither or 'none'} in neither instead.")
        return a, b

    def extra_arch_parameters(self) -> None:
        self.betas = nn.ParameterDict({
            g: nn.Parameter(self.hp["alpha_init"] * torch.randn(self.space.n_edges, generator=self.generator)
                            .to(self.device)) for g in self.space.groups})
        self.cells = self.space.cell_counts(self.net)
        self.redraw_gates()  # the build-time draw ('build' keeps it for the whole search)

    def redraw_gates(self) -> None:
        """Draw every edge's gate code (see ``GATES``), independently per cell, from the method's generator."""
        self.gates = {g: torch.randint(len(GATES), (self.cells[g], self.space.n_edges), generator=self.generator)
                      for g in self.space.groups}

    def plans(self) -> dict[str, EdgePlan | list[EdgePlan]]:
        """One plan per cell: weights sigmoid(α) on the open paths' ops (zero elsewhere), scale sigmoid(β)."""
        out = {}
        for g, a in self.alphas.items():
            codes = self.gates[g]
            weights = torch.sigmoid(a) * self._op_mask[codes].to(a.device)  # [cells, edges, ops]
            scale = torch.sigmoid(self.betas[g])
            out[g] = [EdgePlan(weights[c], active=[self._active[k] for k in row], edge_scale=scale,
                               gates=[GATES[k] for k in row]) for c, row in enumerate(codes.tolist())]
        return out

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """W = [w⁰, w¹] = sigmoid(α) (each op in its own subset) scaled by the edge weights sigmoid(β)."""
        with torch.no_grad():
            return {g: (torch.sigmoid(a) * torch.sigmoid(self.betas[g])[:, None]).cpu() for g, a in self.alphas.items()}

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        if self.hp["gate_draw"] == "step":
            self.redraw_gates()  # one draw per step, used by the α and the w step alike [choice]
        return self.bilevel_step(train, valid)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "gates": {g: c.clone() for g, c in self.gates.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.gates = {g: c.clone() for g, c in state["gates"].items()}
