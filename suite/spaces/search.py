"""What a search method needs from a space: its supernet, its α groups and its derivation rules.

One ``SearchSpace`` per searchable entry of ``suite.spaces.REGISTRY``; what differs between
spaces (building the supernet, counting its cells, calling it, deriving an architecture) is
each space's own function below, so no method branches on a space's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from suite.errors import InvalidInput

from . import REGISTRY, darts, darts_net, nb201, space_entry, sss
from .mixing import EdgePlan
from .nb201_net import NB201Network
from .sss_net import MAX_WIDTH, SSSNetwork

Plans = dict[str, EdgePlan | list[EdgePlan]]


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
    _build: Callable[..., nn.Module] = field(repr=False, compare=False)
    _cell_counts: Callable[[nn.Module], dict[str, int]] = field(repr=False, compare=False)
    _forward: Callable[[nn.Module, torch.Tensor, Plans], torch.Tensor] = field(repr=False, compare=False)
    _derive: Callable[[dict[str, torch.Tensor]], Any] = field(repr=False, compare=False)

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
        return self._build(num_classes, in_channels, c, depth, partial, op_groups, share_sources)

    def cell_counts(self, net: nn.Module) -> dict[str, int]:
        """How many searchable cells of each type the supernet has (for per-cell plans)."""
        return self._cell_counts(net)

    def forward(self, net: nn.Module, x: torch.Tensor, plans: Plans) -> torch.Tensor:
        return self._forward(net, x, plans)

    def derive_argmax(self, weights: dict[str, torch.Tensor]) -> Any:
        """NB201: the best op per edge, ``none`` included. DARTS: the top-2 rule (no ``none``).
        SSS: the most likely width per layer, a ``SizeArch``."""
        return self._derive(weights)


# ---- each space's own behaviour -------------------------------------------------------------------

def _nb201_build(num_classes: int, in_channels: int, c: int, depth: int, partial: int,
                 op_groups: dict[str, int] | None, share_sources: bool) -> nn.Module:
    return NB201Network(c, depth, num_classes, None, in_channels, partial, op_groups=op_groups,
                        share_sources=share_sources)


def _darts_build(num_classes: int, in_channels: int, c: int, depth: int, partial: int,
                 op_groups: dict[str, int] | None, share_sources: bool) -> nn.Module:
    return darts_net.DartsSearchNetwork(c, depth, num_classes, in_channels, partial=partial, op_groups=op_groups,
                                    share_sources=share_sources)


def _sss_build(num_classes: int, in_channels: int, c: int, depth: int, partial: int,
               op_groups: dict[str, int] | None, share_sources: bool) -> nn.Module:
    if (c, depth) != (MAX_WIDTH, sss.NUM_LAYERS) or partial != 1 or op_groups or share_sources:
        raise InvalidInput(f"the sss width supernet is fixed by NATS-Bench ({sss.NUM_LAYERS} layers of at most "
                           f"{MAX_WIDTH} channels, no partial channels or shared sources); set "
                           f"channels={MAX_WIDTH} and depth={sss.NUM_LAYERS} (got channels={c}, "
                           f"depth={depth}, partial={partial})")
    return SSSNetwork(None, num_classes, in_channels)


def _darts_cells(net: nn.Module) -> dict[str, int]:
    red = sum(c.reduction for c in net.cells)
    return {"normal": len(net.cells) - red, "reduce": red}


def _darts_derive(weights: dict[str, torch.Tensor]) -> Any:
    return darts.Genotype(darts.derive_top2(weights["normal"]), tuple(range(2, 6)),
                          darts.derive_top2(weights["reduce"]), tuple(range(2, 6)))


def _benchmark_space(name: str) -> str | None:
    table = REGISTRY[name].table
    return table.name if table is not None else None


SEARCH_SPACES = {
    "nb201": SearchSpace("nb201", nb201.OPS, nb201.EDGES, ("cell",), _benchmark_space("nb201"), _nb201_build,
                         lambda net: {"cell": net.num_search_cells}, lambda net, x, plans: net(x, plans["cell"]),
                         lambda w: nb201.Arch.from_ops([int(k) for k in w["cell"].detach().argmax(-1)])),
    "darts": SearchSpace("darts", darts.OPS, darts.EDGES, ("normal", "reduce"), _benchmark_space("darts"),
                         _darts_build, _darts_cells, lambda net, x, plans: net(x, plans), _darts_derive),
    "sss": SearchSpace("sss", tuple(str(c) for c in sss.CHANNELS), tuple((i, i + 1) for i in range(sss.NUM_LAYERS)),
                       ("width",), _benchmark_space("sss"), _sss_build,
                       lambda net: {"width": 1},  # one [layers, widths] plan for the whole network
                       lambda net, x, plans: net(x, plans["width"]),
                       lambda w: sss.SizeArch(tuple(sss.CHANNELS[int(k)] for k in w["width"].detach().argmax(-1)))),
}


def get_search_space(name: str) -> SearchSpace:
    """The searchable view of a space, by name or alias (``suite.spaces.REGISTRY``)."""
    entry = space_entry(name)
    if entry is None or entry.name not in SEARCH_SPACES:
        raise InvalidInput(f"unknown search space {name!r}; choose nb201 (= tss), darts or sss (= size)")
    return SEARCH_SPACES[entry.name]
