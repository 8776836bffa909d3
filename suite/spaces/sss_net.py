"""The NATS size-space (SSS) network: one class for the width supernet and the stand-alone net.

Structure as NATS-Bench's ``infer.shape.tiny`` / XAutoDL's ``DynamicShapeTinyNet`` with 5
layers: a 3x3 stem of C1 channels, then cell(C1), ResNet block(C2, stride 2), cell(C3), ResNet
block(C4, stride 2), cell(C5), BN-ReLU, global pooling and a linear classifier. Every cell is
the best TSS cell (``BEST_CELL``). A cell maps C_in to C_out channels as XAutoDL's
``InferCell`` does: edges leaving node 0 map C_in -> C_out, the others C_out -> C_out; a
``skip_connect`` on an edge from node 0 is the identity when C_in == C_out and otherwise a
1x1 convolution + BN (``FactorizedReduce`` with stride 1), an ``avg_pool_3x3`` there is
preceded by a 1x1 ReLU-conv-BN when the widths differ.

The supernet (``channels=None``) is built at the largest width, 64, in every layer and
mixes widths by a channel mask per layer: with ``p_l = softmax(α_l)`` over the widths
``CHANNELS``, layer l's features are multiplied by ``m_l = Σ_c p_l[c] · mask_c`` (``mask_c``
keeps the first c of 64 channels), so ``m_l[k] = P(width_l > k)``. The mask is applied to every
feature map a layer produces (each cell node, the inner convolution of a ResNet block, the
layer output; the stem and layer 0 share C1's mask), so a one-hot ``p`` is exactly the
stand-alone network of those widths with sliced weights (``subnet_state_dict``). Where a cell's
input width may differ from its output width (cells 2 and 4), the identity and the projection
are both built and mixed by ``P(C_in == C_out) = Σ_c p_in[c] · p_out[c]``.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mixing import EdgePlan
from .nb201 import EDGES, NUM_NODES, Arch, as_arch
from .ops import ReLUConvBN, ResNetBasicblock
from .sss import CHANNELS, NUM_LAYERS, SizeArch, as_size_arch

BEST_CELL = Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
"""The cell every SSS network uses (the best TSS cell, NATS-Bench paper)."""
MAX_WIDTH = CHANNELS[-1]
_CONV = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
_REDUCTION = (False, True, False, True, False)  # layer kinds: cell, ResNet block, cell, ResNet block, cell


def width_masks(probs: torch.Tensor) -> torch.Tensor:
    """[layers, len(CHANNELS)] width probabilities -> [layers, 64] soft channel masks ``Σ_c p_c · mask_c``."""
    keep = torch.tensor([[1.0 if k < c else 0.0 for k in range(MAX_WIDTH)] for c in CHANNELS],
                        dtype=probs.dtype, device=probs.device)
    return probs @ keep


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class SizeCell(nn.Module):
    """A fixed-topology cell from ``c_in`` to ``c_out`` channels (XAutoDL ``InferCell``, stride 1).

    ``adapt``: also build the C_in -> C_out projections of width-keeping ops on node-0 edges when
    ``c_in == c_out`` (the supernet, where the two widths are chosen separately).
    """

    def __init__(self, cell: Arch, c_in: int, c_out: int, adapt: bool = False) -> None:
        super().__init__()
        self.cell, self.c_out = cell, c_out
        self.ops = nn.ModuleDict()
        self.proj = nn.ModuleDict()
        for (src, dst), op in zip(EDGES, cell.ops):
            key = f"{dst}<-{src}"
            cin = c_in if src == 0 else c_out
            if op in _CONV:
                k = _CONV[op]
                self.ops[key] = ReLUConvBN(cin, c_out, k, 1, k // 2)
            elif src == 0 and (adapt or c_in != c_out):
                if op == "skip_connect":  # FactorizedReduce, stride 1: conv 1x1 + BN, no ReLU
                    self.proj[key] = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
                elif op == "avg_pool_3x3":  # POOLING's preprocess
                    self.proj[key] = ReLUConvBN(c_in, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                same_width: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: [1, C, 1, 1] applied to every node; ``same_width``: P(C_in == C_out) (supernet)."""
        nodes = [x]
        for dst in range(1, NUM_NODES):
            total: torch.Tensor | None = None
            for (src, tgt), op in zip(EDGES, self.cell.ops):
                if tgt != dst or op == "none":
                    continue
                key, h = f"{dst}<-{src}", nodes[src]
                if op in _CONV:
                    t = self.ops[key](h)
                else:
                    pool = op == "avg_pool_3x3"
                    t = _avg_pool(h) if pool else h
                    if key in self.proj:
                        p = self.proj[key](h)
                        p = _avg_pool(p) if pool else p
                        t = p if same_width is None else same_width * t + (1 - same_width) * p
                total = t if total is None else total + t
            if total is None:  # every in-edge is `none`
                total = x.new_zeros(x.shape[0], self.c_out, x.shape[2], x.shape[3])
            nodes.append(total if mask is None else total * mask)
        return nodes[-1]


class SizeBlock(ResNetBasicblock):
    """The stride-2 ResNet block between cells; ``mask`` multiplies its inner and its output features."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return super().forward(x)
        return (self.conv_b(self.conv_a(x) * mask) + self.downsample(x)) * mask


class SSSNetwork(nn.Module):
    """The SSS network. ``channels=None`` builds the width supernet (64 channels, masked)."""

    def __init__(self, channels: SizeArch | str | Iterable[int] | None = None, num_classes: int = 10,
                 in_channels: int = 3, cell: Arch | str = BEST_CELL) -> None:
        super().__init__()
        self.search = channels is None
        widths = (MAX_WIDTH,) * NUM_LAYERS if self.search else as_size_arch(channels).channels
        self.widths: tuple[int, ...] = tuple(widths)
        cell = as_arch(cell)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]))
        layers: list[nn.Module] = []
        c_prev = widths[0]
        for i, (c, reduction) in enumerate(zip(widths, _REDUCTION)):
            # layer 0's input width is C1 itself, so only cells 2 and 4 need both skip forms
            layers.append(SizeBlock(c_prev, c, 2) if reduction
                          else SizeCell(cell, c_prev, c, adapt=self.search and i > 0))
            c_prev = c
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, plan: EdgePlan | torch.Tensor | None = None) -> torch.Tensor:
        """``plan``: width probabilities [5, len(CHANNELS)] (or an ``EdgePlan`` holding them); supernet only."""
        if not self.search:
            if plan is not None:
                raise ValueError("a stand-alone SSS network has fixed widths; call it without a plan")
            return self._forward(x, None, None)
        if plan is None:
            raise ValueError("the SSS width supernet needs width probabilities [5, 8] (an EdgePlan's weights)")
        probs = plan.weights if isinstance(plan, EdgePlan) else plan
        if tuple(probs.shape) != (NUM_LAYERS, len(CHANNELS)):
            raise ValueError(f"SSS width probabilities must have shape [{NUM_LAYERS}, {len(CHANNELS)}], "
                             f"got {list(probs.shape)}")
        masks = width_masks(probs).view(NUM_LAYERS, 1, MAX_WIDTH, 1, 1)
        same = (probs[1:] * probs[:-1]).sum(-1)  # same[l - 1] = P(width_{l-1} == width_l)
        return self._forward(x, masks, same)

    def _forward(self, x: torch.Tensor, masks: torch.Tensor | None, same: torch.Tensor | None) -> torch.Tensor:
        def m(t: torch.Tensor, layer: int) -> torch.Tensor:
            return t if masks is None else t * masks[layer]

        x = m(self.stem(x), 0)  # the stem has C1 channels, like layer 0
        for i, layer in enumerate(self.cells):
            mask = None if masks is None else masks[i]
            if isinstance(layer, SizeBlock):
                x = layer(x, mask)
            else:
                x = layer(x, mask, None if same is None or i == 0 else same[i - 1])
        x = m(self.lastact(x), NUM_LAYERS - 1)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def subnet_state_dict(supernet: SSSNetwork, channels: SizeArch | str | Sequence[int]) -> dict[str, torch.Tensor]:
    """The weights of the stand-alone network of ``channels``, sliced from the supernet (first channels)."""
    if not supernet.search:
        raise ValueError("subnet_state_dict needs the width supernet (SSSNetwork(None))")
    arch = as_size_arch(channels)
    with torch.device("meta"):  # shapes only: no memory, no draw from the global RNG
        target = SSSNetwork(arch, supernet.classifier.out_features, supernet.stem[0].in_channels,
                            supernet.cells[0].cell).state_dict()
    source = supernet.state_dict()
    return {k: source[k][tuple(slice(0, n) for n in v.shape)].clone() for k, v in target.items()}
