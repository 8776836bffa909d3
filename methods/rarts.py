"""RARTS (Xue, Qi, Xin, IEEE Access 2022): relaxed single-level search, data and network splitting.

Two networks share one α: w learns on the train half, y on the validation half, and a
coupling term (β/2)‖w − y‖² keeps them related. Each step is one Gauss–Seidel sweep with
first-order gradients only (no unrolling, no second derivatives)::

    w ← w − η_w ∇w[λ L_train(w, α) + (β/2)‖w − y‖²]
    y ← y − η_y ∇y[L_val(y, α) + (β/2)‖y − w‖²]        (with the new w)
    α ← α − η_α ∇α[L_val(y, α) + λ L_train(w, α)]        (with the new w and y)

The objective is reconstructed from the paper's description (no public code); see
docs/methods/rarts.md for what is the paper and what is ours.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.params import non_negative
from suite.spaces.mixing import EdgePlan

from . import register_method
from .base import NB201_PROTOCOL, Batch, Method

SSS_PROTOCOL = {**NB201_PROTOCOL, "epochs": 100, "channels": 64, "depth": 5}
"""AutoDL-Projects configs/nas-benchmark/algos/weight-sharing.config (NATS size-space search);
the SSS supernet's widths (up to 64, 5 layers) are the benchmark's."""


@register_method("rarts")
class RARTS(Method):
    PARAMS = {"lam": non_negative("λ: weight of L_train(w, α) in the w and α updates", 1.0, float),
              "coupling": non_negative("β: strength of the coupling (β/2)‖w − y‖² between the two networks", 1e-2,
                                       float)}
    SPACE_DEFAULTS = {**Method.SPACE_DEFAULTS, "sss": SSS_PROTOCOL}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # [choice] y starts as an exact copy of w: both come from the run seed's one initialisation
        self.net_y = copy.deepcopy(self.net)
        self.y_opt = torch.optim.SGD(self.net_y.parameters(), self.hp["lr"], momentum=self.hp["momentum"],
                                     nesterov=self.hp["nesterov"] and self.hp["momentum"] > 0,
                                     weight_decay=self.hp["weight_decay"])

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        for group in self.y_opt.param_groups:  # y follows w's cosine schedule
            group["lr"] = self.lr

    # ---- the step --------------------------------------------------------------------------
    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        lam, beta = self.hp["lam"], self.hp["coupling"]
        out = {}
        with torch.no_grad():  # the w and y steps see α as a constant
            plans = self.plans()
        out["train_loss"], out["train_acc"] = self._coupled_step(self.net, self.w_opt, self.net_y, train, lam, beta,
                                                                 plans)
        out["valid_loss"], out["valid_acc"] = self._coupled_step(self.net_y, self.y_opt, self.net, valid, 1.0, beta,
                                                                 plans)
        if self.arch_active:
            out["arch_loss"] = self.arch_gradient_step(train, valid)
        with torch.no_grad():
            out["wy_distance"] = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in
                                                zip(self.net.parameters(), self.net_y.parameters())))
        return out

    def _coupled_step(self, net: nn.Module, opt: torch.optim.Optimizer, other: nn.Module, batch: Batch,
                      scale: float, beta: float, plans: dict[str, EdgePlan]) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on ``net``: ∇[scale · L(net, batch) + (β/2)‖net − other‖²], clipped as DARTS clips."""
        params = list(net.parameters())
        loss, acc = self.net_loss(net, batch, plans)
        grads = torch.autograd.grad(scale * loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g, q in zip(params, grads, other.parameters()):
                g = torch.zeros_like(p) if g is None else g
                p.grad = g + beta * (p - q) if beta else g  # ∇ (β/2)‖p − q‖² = β (p − q)
        nn.utils.clip_grad_norm_(params, self.hp["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach(), acc.detach()

    def arch_gradient(self, train: Batch, valid: Batch) -> tuple[list[torch.Tensor], torch.Tensor]:
        """∇α [L_val(y, α) + λ L_train(w, α)] at the current w and y, first order (plain backprop)."""
        plans = self.plans()
        loss_v, _ = self.net_loss(self.net_y, valid, plans)
        loss_t, _ = self.net_loss(self.net, train, plans)
        total = loss_v + self.hp["lam"] * loss_t
        grads = torch.autograd.grad(total, self.arch_parameters(), allow_unused=True)
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(self.arch_parameters(), grads)]
        return grads, total.detach()

    def arch_gradient_step(self, train: Batch, valid: Batch) -> torch.Tensor:
        self.a_opt.zero_grad(set_to_none=True)
        grads, total = self.arch_gradient(train, valid)
        for a, g in zip(self.arch_parameters(), grads):
            a.grad = g
        self.a_opt.step()
        return total

    def net_loss(self, net: nn.Module, batch: Batch, plans: dict[str, EdgePlan]) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = batch
        logits = self.logits(x, plans, net)
        return F.cross_entropy(logits, target), (logits.argmax(-1) == target).float().mean()

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "net_y": self.net_y.state_dict(), "y_opt": self.y_opt.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.net_y.load_state_dict(state["net_y"])
        self.y_opt.load_state_dict(state["y_opt"])
