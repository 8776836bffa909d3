"""Step-by-step agreement of a search under other numerics: bf16 autocast (with channels-last) against
fp32, and fp32 against float64, at the same states along a real 20-step trajectory.

At each step the supernet's validation loss and the architecture gradients are computed from the same
weights, the same batch and the same random draws (GDAS samples) in both settings; then the run
advances one search step in the reference setting. Used on CPU in the default test run and on CUDA in
the GPU test set (``-m gpu``)."""
from __future__ import annotations

import copy
from typing import Any

import torch

TINY = {"channels": 4, "depth": 1, "batch_size": 8}
LOSS_RTOL = {"bf16": 5e-3, "float64": 1e-6}
"""Largest relative loss difference allowed per step (measured on CPU, 20 steps, every method but GDAS:
bf16 at most 1.0e-3, float64 at most 1.4e-7)."""
GRAD_RTOL = {"bf16": 2.0, "float64": 1e-5}
"""Largest ||g - g_fp32|| / ||g_fp32|| of the architecture gradient (measured: bf16 0.23-1.36, float64 at
most 1.4e-6). bf16's architecture gradients are that far from fp32's on these tiny networks: the bound
catches a broken path (NaN, a wrong cast), not bf16's rounding."""
NOT_COMPARABLE = {"gdas": "its hard Gumbel sample flips under other rounding (and draws in the parameters' dtype)",
                  "ista-nas": "its fixed projection A stays float32", "ista-nas-one-stage": "the same as ista-nas"}
"""Methods whose step cannot be set against float64 this way (bf16 is compared for all but GDAS)."""


def batches(steps: int, seed: int = 0, size: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, size, size, generator=g), torch.randint(0, 10, (8,), generator=g))
            for _ in range(2 * steps)]


def loss_and_grads(m: Any, batch: tuple[torch.Tensor, torch.Tensor], draw: int) -> tuple[float, torch.Tensor]:
    """Validation loss and the flattened architecture gradient of ``m`` on ``batch`` (random draws seeded)."""
    params = list(m.arch_parameters())
    dtype = next(m.net.parameters()).dtype
    x, y = batch
    devices = [m.device] if m.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(draw)
        loss, _ = m.loss_acc((m.prepare(x.to(m.device, dtype)), y.to(m.device)))
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    loss = loss.detach()
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).double().cpu()
                      for g, p in zip(grads, params)])
    return float(loss), flat


def as_float64(m: Any) -> Any:
    """A copy of ``m`` on the CPU whose network and architecture parameters are float64 (no autocast)."""
    c = copy.deepcopy(m)
    c.amp = False
    c.device = torch.device("cpu")
    c.net.to("cpu").double()
    for p in c.arch_parameters():
        p.data = p.data.cpu().double()
    return c


def agreement(method: str, device: str, steps: int = 20, *, other: str = "bf16") -> list[dict[str, float]]:
    """Per step: loss relative error and architecture-gradient relative error (||g - g_ref|| / ||g_ref||) of
    ``other`` ("bf16": autocast with channels-last; "float64") against fp32, from the same states."""
    from methods import create_method

    m = create_method(method, "nb201", 10, 3, seed=0, device=device, channels_last=other == "bf16", amp=False, **TINY)
    data = batches(steps)
    out = []
    for k in range(steps):
        train, valid = data[2 * k], data[2 * k + 1]
        ref_loss, ref_g = loss_and_grads(m, valid, draw=k)
        if other == "bf16":
            m.amp = True
            loss, g = loss_and_grads(m, valid, draw=k)
            m.amp = False
        else:
            loss, g = loss_and_grads(as_float64(m), valid, draw=k)
        scale = float(ref_g.norm()) or 1.0
        out.append({"step": k, "loss": ref_loss, "loss_rel": abs(loss - ref_loss) / abs(ref_loss),
                    "grad_rel": float((g - ref_g).norm()) / scale})
        m.step((train[0].to(device), train[1].to(device)), (valid[0].to(device), valid[1].to(device)))
    return out
