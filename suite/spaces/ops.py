"""Building blocks shared by the supernets and the stand-alone networks.

Layer choices follow the reference implementations (NAS-Bench-201 / NATS-Bench for the
topology space, quark0/darts for the DARTS space) so that parameter counts and functions match.
"""
from __future__ import annotations

from typing import Any, Callable

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


def drop_path(x: torch.Tensor, p: float, generator: torch.Generator | None, repeats: int = 1) -> torch.Tensor:
    """Zero whole samples with probability ``p`` and rescale the rest (DARTS drop-path).

    Masks come from ``generator`` (drawn on the CPU), so a resumed run draws the same ones.
    ``repeats``: the batch holds each sample that many times, in blocks (see ``to_phases``), all
    of which share its mask."""
    keep = 1.0 - p
    mask = torch.rand(x.shape[0] // repeats, generator=generator) < keep
    return x * mask.repeat(repeats).view(-1, 1, 1, 1).to(x.device, x.dtype) / keep


def avg_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """3x3 average pooling, padding 1, not counting the padding.

    Computed as a depthwise convolution with a ones kernel divided by the per-position window
    size: the same numbers as ``F.avg_pool2d(..., count_include_pad=False)`` (up to rounding),
    several times faster forward and backward on CPU.
    """
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    kernel = torch.ones(c, 1, 3, 3, dtype=x.dtype, device=x.device)
    y = F.conv2d(x, kernel, stride=stride, padding=1, groups=c)

    def window(n: int, m: int) -> torch.Tensor:  # rows (or columns) inside each output's window
        i = torch.arange(m, device=x.device) * stride
        return ((i + 1).clamp(max=n - 1) - (i - 1).clamp(min=0) + 1).to(x.dtype)

    return y / (window(h, y.shape[2])[:, None] * window(w, y.shape[3])[None, :])


def to_phases(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [4N, C, H/2, W/2]: the four 2x2 polyphase components, stacked on the batch.

    A 2-dilated convolution (stride 1, "same" padding) is the undilated one applied to each
    phase (``from_phases`` puts them back), and per-pixel and per-channel ops (1x1 conv,
    BatchNorm statistics, ReLU) are the same in either layout. Undilated depthwise convolutions
    train several times faster than dilated ones on CPU. H and W must be even; channels-last
    stays channels-last.
    """
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"to_phases needs an even height and width, got {h}x{w}")
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).permute(2, 4, 0, 1, 3, 5)
        return y.reshape(4 * n, h // 2, w // 2, c).permute(0, 3, 1, 2)
    y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(3, 5, 0, 1, 2, 4)
    return y.reshape(4 * n, c, h // 2, w // 2)


def from_phases(y: torch.Tensor) -> torch.Tensor:
    """Inverse of ``to_phases``."""
    n4, c, h2, w2 = y.shape
    n = n4 // 4
    if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous():
        x = y.permute(0, 2, 3, 1).reshape(2, 2, n, h2, w2, c).permute(2, 3, 0, 4, 1, 5)
        return x.reshape(n, 2 * h2, 2 * w2, c).permute(0, 3, 1, 2)
    return y.reshape(2, 2, n, c, h2, w2).permute(2, 3, 4, 0, 5, 1).reshape(n, c, 2 * h2, 2 * w2)


def scaled_batch_norm(y: torch.Tensor, norm: nn.BatchNorm2d, scale: torch.Tensor | float | None = None
                      ) -> torch.Tensor:
    """``norm(y) * scale`` in one pass: the scale (an op weight) folds into the BN's affine.

    For a BN without affine parameters the scale becomes its per-channel weight; with them,
    weight and bias are scaled. Running statistics are used and updated as ``norm`` would.
    """
    weight, bias = norm.weight, norm.bias
    if scale is not None:
        s = scale.reshape(-1) if isinstance(scale, torch.Tensor) else torch.full((1,), scale, device=y.device)
        weight = s.expand(y.shape[1]).contiguous() if weight is None else weight * s  # an expanded weight is slow
        bias = None if bias is None else bias * s
    training = norm.training or norm.running_mean is None
    momentum = 0.1 if norm.momentum is None else norm.momentum
    return F.batch_norm(y, norm.running_mean, norm.running_var, weight, bias, training, momentum, norm.eps)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channel groups (PC-DARTS), so the bypassed channels move between steps."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient dense in the input's memory format."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.fmt = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous() else torch.contiguous_format
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=ctx.fmt)


def dense_grad(x: torch.Tensor) -> torch.Tensor:
    """``x``, with its gradient made dense once in backward.

    A tensor concatenated with others (a DARTS cell's nodes) gets a strided slice of the
    concatenation's gradient; every op that reads it in backward (BN, depthwise convolutions)
    is several times slower on such a slice than on a dense copy."""
    return _DenseGrad.apply(x)
