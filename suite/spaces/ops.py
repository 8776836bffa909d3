"""Building blocks shared by the supernets and the stand-alone networks.

Layer choices follow the reference implementations (NAS-Bench-201 / NATS-Bench for the
topology space, quark0/darts for the DARTS space) so that parameter counts and functions match.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def bn(c: int, affine: bool, track: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Sequential):
    """ReLU -> conv -> BN, the convolution of both spaces."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, dilation: int = 1,
                 affine: bool = True, track: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, k, stride, pad, dilation=dilation, bias=False),
                         bn(c_out, affine, track))


class ResNetBasicblock(nn.Module):
    """The stride-2 residual block between NB201 stages."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, 1, affine, track)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, 1, affine, track)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False)) \
            if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_b(self.conv_a(x))
        return y + (self.downsample(x) if self.downsample is not None else x)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Stride-2 identity substitute: two offset 1x1 convs, concatenated (DARTS)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        y = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(y)], dim=1))


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (DARTS ``sep_conv``)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, affine: bool = True,
                 track: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False), nn.Conv2d(c_in, c_in, k, stride, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False), bn(c_in, affine, track),
            nn.ReLU(inplace=False), nn.Conv2d(c_in, c_in, k, 1, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False), bn(c_out, affine, track))


class DilConv(nn.Sequential):
    """Dilated depthwise-separable convolution (DARTS ``dil_conv``)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, dilation: int,
                 affine: bool = True, track: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_in, k, stride, pad, dilation=dilation, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False), bn(c_out, affine, track))


OpFactory = Callable[[int, int, bool, bool], nn.Module]
"""(C, stride, affine, track) -> module."""

DARTS_OPS: dict[str, OpFactory] = {
    "none": lambda c, s, a, t: Zero(s),
    "avg_pool_3x3": lambda c, s, a, t: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "max_pool_3x3": lambda c, s, a, t: nn.MaxPool2d(3, s, 1),
    "skip_connect": lambda c, s, a, t: nn.Identity() if s == 1 else FactorizedReduce(c, c, a, t),
    "sep_conv_3x3": lambda c, s, a, t: SepConv(c, c, 3, s, 1, a, t),
    "sep_conv_5x5": lambda c, s, a, t: SepConv(c, c, 5, s, 2, a, t),
    "dil_conv_3x3": lambda c, s, a, t: DilConv(c, c, 3, s, 2, 2, a, t),
    "dil_conv_5x5": lambda c, s, a, t: DilConv(c, c, 5, s, 4, 2, a, t),
}
"""The DARTS op table, in the order of quark0/darts ``PRIMITIVES``."""
DARTS_PRIMITIVES: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                     "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def drop_path(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Zero whole samples with probability ``p`` and rescale the rest (DARTS drop-path).

    Masks come from ``generator`` (drawn on the CPU), so a resumed run draws the same ones."""
    keep = 1.0 - p
    mask = torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device, x.dtype) < keep
    return x * mask / keep


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channel groups (PC-DARTS), so the bypassed channels move between steps."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)
