"""The training engine's shared pieces give exactly what the code they replaced gave."""
from __future__ import annotations

import math

import pytest
import torch

from suite.train.augment import centred_cutout, cutout
from suite.train.schedules import cosine, learning_rate


def _protocol_cutout(x, size, generator):  # the evaluation runs' own cutout, as it was written
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator)
    cx = torch.randint(0, w, (b,), generator=generator)
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    inside = ((ys - cy[:, None, None]).abs() * 2 < size) & ((xs - cx[:, None, None]).abs() * 2 < size)
    return x * (~inside)[:, None].to(x.dtype)


def _ista_cutout(x, fraction, generator):  # ISTA-NAS one-stage's own cutout, as it was written
    h, w = x.shape[-2:]
    half = round(fraction * h) // 2
    cy = torch.randint(0, h, (x.shape[0],), generator=generator)
    cx = torch.randint(0, w, (x.shape[0],), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    in_y = (rows[None] >= cy[:, None] - half) & (rows[None] < cy[:, None] + half)
    in_x = (cols[None] >= cx[:, None] - half) & (cols[None] < cx[:, None] + half)
    hole = in_y[:, :, None] & in_x[:, None, :]
    return x * (~hole)[:, None].to(x.dtype)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 16, 17, 40])
@pytest.mark.parametrize("hw", [(8, 8), (32, 32), (16, 12)])
def test_cutout_equals_both_former_cutouts(size, hw):
    x = torch.randn(64, 3, *hw)
    a = centred_cutout(x, size, torch.Generator().manual_seed(size))
    assert torch.equal(a, _protocol_cutout(x, size, torch.Generator().manual_seed(size)))
    frac = size / hw[0]
    half = round(frac * hw[0]) // 2
    b = cutout(x, torch.Generator().manual_seed(size), half, half)
    assert torch.equal(b, _ista_cutout(x, frac, torch.Generator().manual_seed(size)))
    assert (a == 0).any() and (b == 0).any() if half else True


def test_cosine_is_the_former_formula_to_the_bit():
    for lr, lo, n in ((0.025, 0.001, 50), (0.1, 0.0, 200), (0.05, 1e-4, 7)):
        for e in range(n + 1):
            assert cosine(lr, lo, e, n) == lo + (lr - lo) * (1 + math.cos(math.pi * e / n)) / 2
            t = e / n
            assert cosine(lr, lo, t, 1) == lo + (lr - lo) * (1 + math.cos(math.pi * t)) / 2
    hp = {"schedule": "cosine-step", "lr": 0.1, "lr_min": 0.0, "epochs": 12, "lr_gamma": 0.97}
    assert learning_rate(hp, 3.25) == 0.0 + 0.1 * (1 + math.cos(math.pi * 3.25 / 12)) / 2
