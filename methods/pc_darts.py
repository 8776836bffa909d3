"""PC-DARTS (Xu et al., ICLR 2020): partial channels and edge normalisation on top of DARTS-V1.

Ops see 1/K of the channels (the rest bypass, then a channel shuffle); each node weighs its
in-edges by softmax(β) over them. Architecture updates start after a warm-up.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.params import positive
from suite.spaces.mixing import EdgePlan

from . import register_method
from .base import Batch, Method


@register_method("pc-darts")
class PCDARTS(Method):
    PARAMS = {"k": positive("partial-channel factor K: ops see C/K channels", 4, int)}
    SPACE_DEFAULTS = {
        # [choice] NB201: the NATS-Bench DARTS protocol plus PC-DARTS's K and warm-up
        "nb201": {**Method.SPACE_DEFAULTS["nb201"], "arch_start_epoch": 15},
        # the paper's CIFAR-10 search settings
        "darts": {**Method.SPACE_DEFAULTS["darts"], "batch_size": 256, "lr": 0.1, "lr_min": 0.0,
                  "arch_lr": 6e-4, "arch_start_epoch": 15},
    }
    ARCH_PARAMETERS = (("alpha", "alphas"), ("beta", "betas"))

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        return self.bilevel_step(train, valid)

    def __init__(self, *args, **kwargs) -> None:
        self.partial = int(kwargs.get("k", 4))
        super().__init__(*args, **kwargs)

    def extra_arch_parameters(self) -> None:
        self.betas = nn.ParameterDict({
            g: nn.Parameter(self.hp["alpha_init"] * torch.randn(self.space.n_edges, generator=self.generator)
                            .to(self.device)) for g in self.space.groups})

    def edge_scale(self, beta: torch.Tensor) -> torch.Tensor:
        """softmax of β over the in-edges of each node."""
        scale = torch.empty_like(beta)
        for edges in self.space.in_edges():
            scale[edges] = F.softmax(beta[edges], dim=0)
        return scale

    def plans(self) -> dict[str, EdgePlan]:
        return {g: EdgePlan(F.softmax(a, dim=-1), edge_scale=self.edge_scale(self.betas[g]))
                for g, a in self.alphas.items()}

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """Op weights scaled by the edge weights, which the top-2 rule compares across edges."""
        with torch.no_grad():
            return {g: (F.softmax(a, dim=-1) * self.edge_scale(self.betas[g])[:, None]).cpu()
                    for g, a in self.alphas.items()}

