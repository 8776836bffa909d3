"""Parameter and FLOP counts, counted the way NATS-Bench and the DARTS papers count them.

Params in millions (NATS-Bench calls them "MB"). FLOPs are multiply-adds in millions of the
convolutions and linear layers for one image (plus their biases), as XAutoDL's
``get_model_infos`` counts them; pooling, BN and activations are not counted. An auxiliary
head, used only in training, is left out of both.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn


def _aux_modules(model: nn.Module) -> set[int]:
    aux = getattr(model, "auxiliary", None)
    return {id(m) for m in aux.modules()} if isinstance(aux, nn.Module) else set()


def count_params(model: nn.Module) -> float:
    """Trainable parameters in millions, without an auxiliary head."""
    skip = {id(p) for m in model.modules() if id(m) in _aux_modules(model) for p in m.parameters(recurse=False)}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip) / 1e6


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: Sequence[int], *forward_args: object) -> float:
    """Million multiply-adds of one forward pass on a single ``input_shape`` (C, H, W) image."""
    total = [0.0]
    hooks = []
    fused: set[int] = set()
    aux = _aux_modules(model)

    def conv_hook(m: nn.Conv2d, _i: tuple, out: torch.Tensor) -> None:
        h, w = out.shape[2:]
        total[0] += h * w * m.kernel_size[0] * m.kernel_size[1] * m.in_channels * m.out_channels / m.groups
        if m.bias is not None:
            total[0] += out.shape[1] * h * w

    def linear_hook(m: nn.Linear, _i: tuple, _o: torch.Tensor) -> None:
        total[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)

    def fused_hook(m: nn.Module, inputs: tuple) -> None:  # cells that call their convs functionally
        total[0] += m.conv_flops(*inputs[0].shape[2:])

    for m in model.modules():
        if hasattr(m, "conv_flops") and id(m) not in aux:
            hooks.append(m.register_forward_pre_hook(fused_hook))
            fused |= {id(c) for c in m.modules() if isinstance(c, nn.Conv2d)}
    for m in model.modules():
        if id(m) in fused or id(m) in aux:
            continue
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, *input_shape, device=device), *forward_args)  # values do not matter; no RNG use
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total[0] / 1e6
