"""GDAS (Dong & Yang, CVPR 2019): one sampled op per edge, Gumbel-softmax straight-through.

Each forward draws hard one-hot weights from ``softmax((log_softmax(α) + Gumbel) / τ)`` with
straight-through gradients, so only one op per edge runs; τ falls linearly from ``tau_max`` to
``tau_min`` over the epochs. Each step updates w on a train batch, then α on a validation batch,
as in AutoDL-Projects' NATS-Bench search script.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from suite.params import positive
from suite.spaces.mixing import EdgePlan

from . import register_method
from .base import Batch, Method


@register_method("gdas")
class GDAS(Method):
    PARAMS = {"tau_max": positive("Gumbel temperature at the first epoch", 10.0, float),
              "tau_min": positive("Gumbel temperature at the last epoch", 0.1, float)}
    stochastic_plans = True
    SPACE_DEFAULTS = {"nb201": {**Method.SPACE_DEFAULTS["nb201"], "epochs": 250},  # AutoDL GDAS.config
                      "darts": Method.SPACE_DEFAULTS["darts"]}

    @property
    def tau(self) -> float:
        n = max(self.hp["epochs"] - 1, 1)
        return self.hp["tau_max"] - (self.hp["tau_max"] - self.hp["tau_min"]) * self.epoch / n

    def epoch_metrics(self) -> dict[str, float]:
        return {"tau": self.tau}

    def plans(self) -> dict[str, EdgePlan]:
        out = {}
        for g, a in self.alphas.items():
            while True:  # redraw in the (rare) case of an infinite Gumbel sample, as the reference does
                u = torch.rand(a.shape, generator=self.generator).to(a.device)
                gumbel = -torch.log(-torch.log(u))
                probs = F.softmax((F.log_softmax(a, dim=-1) + gumbel) / self.tau, dim=-1)
                if torch.isfinite(gumbel).all() and torch.isfinite(probs).all():
                    break
            index = probs.argmax(-1)
            hard = torch.zeros_like(probs).scatter_(-1, index[:, None], 1.0) - probs.detach() + probs
            out[g] = EdgePlan(hard, active=[[int(k)] for k in index], straight_through=True)
        return out

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        out = {}
        out["train_loss"], out["train_acc"] = self.weight_step(train)
        if self.arch_active:
            out["valid_loss"], out["valid_acc"] = self.arch_step(valid)
        return out
