"""What a search method needs from a space: its supernet, its α groups and its derivation rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from . import darts, nb201
from .mixing import EdgePlan
from .nb201_net import NB201Network


@dataclass(frozen=True)
class SearchSpace:
    """A searchable cell space. ``groups`` are the cell types, each with its own α [n_edges, n_ops]."""

    name: str
    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    groups: tuple[str, ...]
    benchmark_space: str | None  # the tabular benchmark space its archs can be looked up in

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def in_edges(self) -> list[list[int]]:
        """Edge indices entering each intermediate node, in node order (for edge normalisation)."""
        targets = sorted({t for _, t in self.edges})
        return [[e for e, (_, t) in enumerate(self.edges) if t == tgt] for tgt in targets]

    def build(self, num_classes: int, in_channels: int, c: int, depth: int, partial: int = 1,
              op_groups: dict[str, int] | None = None, share_sources: bool = False) -> nn.Module:
        """The supernet: ``depth`` is N cells per stage for nb201, the number of cells for darts.

        ``partial``/``op_groups``: channel groups and which group each op acts on;
        ``share_sources``: one op set per source node shared by its out-edges.
        """
        if self.name == "nb201":
            return NB201Network(c, depth, num_classes, None, in_channels, partial, op_groups=op_groups,
                                share_sources=share_sources)
        return darts.DartsSearchNetwork(c, depth, num_classes, in_channels, partial=partial, op_groups=op_groups,
                                        share_sources=share_sources)

    def cell_counts(self, net: nn.Module) -> dict[str, int]:
        """How many searchable cells of each type the supernet has (for per-cell plans)."""
        if self.name == "nb201":
            return {"cell": net.num_search_cells}
        red = sum(c.reduction for c in net.cells)
        return {"normal": len(net.cells) - red, "reduce": red}

    def forward(self, net: nn.Module, x: torch.Tensor, plans: dict[str, EdgePlan]) -> torch.Tensor:
        return net(x, plans["cell"]) if self.name == "nb201" else net(x, plans)

    def derive_argmax(self, weights: dict[str, torch.Tensor]) -> Any:
        """NB201: the best op per edge, ``none`` included. DARTS: the top-2 rule (no ``none``)."""
        if self.name == "nb201":
            return nb201.Arch.from_ops([int(k) for k in weights["cell"].detach().argmax(-1)])
        return darts.Genotype(darts.derive_top2(weights["normal"]), tuple(range(2, 6)),
                              darts.derive_top2(weights["reduce"]), tuple(range(2, 6)))


SEARCH_SPACES = {
    "nb201": SearchSpace("nb201", nb201.OPS, nb201.EDGES, ("cell",), "tss"),
    "darts": SearchSpace("darts", darts.OPS, darts.EDGES, ("normal", "reduce"), None),
}
_ALIASES = {"nb201": "nb201", "tss": "nb201", "nas-bench-201": "nb201", "topology": "nb201",
            "darts": "darts", "darts-cnn": "darts"}


def get_search_space(name: str) -> SearchSpace:
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown search space {name!r}; choose nb201 (= tss) or darts")
    return SEARCH_SPACES[key]
