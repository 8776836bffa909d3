"""Augmentation on device batches (the loaders' crop and flip live in ``suite.data``)."""
from __future__ import annotations

import torch


def cutout(x: torch.Tensor, generator: torch.Generator, before: int, after: int) -> torch.Tensor:
    """Zero one square per image: rows and columns ``c - before <= i < c + after`` around a centre ``c``
    drawn uniformly over the image (rows, then columns, from ``generator``), clipped at the border.

    quark0/darts's ``Cutout(length)`` is ``before = after = length // 2``; see ``centred_cutout``."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_y = (rows[None] >= cy[:, None] - before) & (rows[None] < cy[:, None] + after)
    in_x = (cols[None] >= cx[:, None] - before) & (cols[None] < cx[:, None] + after)
    hole = in_y[:, :, None] & in_x[:, None, :]
    return x * (~hole)[:, None].to(x.dtype)


def centred_cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """The training protocols' cutout: the pixels less than ``size / 2`` from the centre in each axis
    (a ``size - 1`` square for even ``size``, as the evaluation runs have always drawn it)."""
    return cutout(x, generator, (size - 1) // 2, (size - 1) // 2 + 1)
