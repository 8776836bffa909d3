"""What a search method needs from a space: its supernet, its α groups and its derivation rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from . import darts, nb201, sss
from .mixing import EdgePlan
from .nb201_net import NB201Network
from .sss_net import MAX_WIDTH, SSSNetwork


@dataclass(frozen=True)
class SearchSpace:
    """A searchable cell space. ``groups`` are the cell types, each with its own α [n_edges, n_ops].

    The ``sss`` width space reads it as one group ``width`` with α [layers, widths]: its "edges"
    are the 5 layers in a chain and its "ops" the channel counts.
    """

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
        sss: the widths and depth are NATS-Bench's (5 layers of at most 64 channels), so ``c`` must be
        64 and ``depth`` 5; there are no partial channels or shared sources.
        """
        if self.name == "sss":
            if (c, depth) != (MAX_WIDTH, sss.NUM_LAYERS) or partial != 1 or op_groups or share_sources:
                raise ValueError(f"the sss width supernet is fixed by NATS-Bench ({sss.NUM_LAYERS} layers of at most "
                                 f"{MAX_WIDTH} channels, no partial channels or shared sources); set "
                                 f"channels={MAX_WIDTH} and depth={sss.NUM_LAYERS} (got channels={c}, "
                                 f"depth={depth}, partial={partial})")
            return SSSNetwork(None, num_classes, in_channels)
        if self.name == "nb201":
            return NB201Network(c, depth, num_classes, None, in_channels, partial, op_groups=op_groups,
                                share_sources=share_sources)
        return darts.DartsSearchNetwork(c, depth, num_classes, in_channels, partial=partial, op_groups=op_groups,
                                        share_sources=share_sources)

    def cell_counts(self, net: nn.Module) -> dict[str, int]:
        """How many searchable cells of each type the supernet has (for per-cell plans)."""
        if self.name == "nb201":
            return {"cell": net.num_search_cells}
        if self.name == "sss":
            return {"width": 1}  # one [layers, widths] plan for the whole network
        red = sum(c.reduction for c in net.cells)
        return {"normal": len(net.cells) - red, "reduce": red}

    def forward(self, net: nn.Module, x: torch.Tensor, plans: dict[str, EdgePlan | list[EdgePlan]]) -> torch.Tensor:
        if self.name == "sss":
            return net(x, plans["width"])
        return net(x, plans["cell"]) if self.name == "nb201" else net(x, plans)

    def derive_argmax(self, weights: dict[str, torch.Tensor]) -> Any:
        """NB201: the best op per edge, ``none`` included. DARTS: the top-2 rule (no ``none``).
        SSS: the most likely width per layer, a ``SizeArch``."""
        if self.name == "sss":
            return sss.SizeArch(tuple(sss.CHANNELS[int(k)] for k in weights["width"].detach().argmax(-1)))
        if self.name == "nb201":
            return nb201.Arch.from_ops([int(k) for k in weights["cell"].detach().argmax(-1)])
        return darts.Genotype(darts.derive_top2(weights["normal"]), tuple(range(2, 6)),
                              darts.derive_top2(weights["reduce"]), tuple(range(2, 6)))


SEARCH_SPACES = {
    "nb201": SearchSpace("nb201", nb201.OPS, nb201.EDGES, ("cell",), "tss"),
    "darts": SearchSpace("darts", darts.OPS, darts.EDGES, ("normal", "reduce"), None),
    "sss": SearchSpace("sss", tuple(str(c) for c in sss.CHANNELS),
                       tuple((i, i + 1) for i in range(sss.NUM_LAYERS)), ("width",), "sss"),
}
_ALIASES = {"nb201": "nb201", "tss": "nb201", "nas-bench-201": "nb201", "topology": "nb201",
            "darts": "darts", "darts-cnn": "darts", "sss": "sss", "size": "sss"}


def get_search_space(name: str) -> SearchSpace:
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown search space {name!r}; choose nb201 (= tss), darts or sss (= size)")
    return SEARCH_SPACES[key]
