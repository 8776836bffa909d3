"""DARTS (Liu et al., ICLR 2019): softmax-relaxed ops, bi-level, first or second order.

Each step: one Adam step on α from a validation batch, then one SGD step on w from a train
batch (quark0/darts ``train_search.py``). Second order (``darts-v2``) unrolls one weight step
and corrects with a finite-difference Hessian-vector product (``architect.py``).
"""
from __future__ import annotations

import torch

from suite.params import choice, positive

from . import register_method
from .base import Batch, Method


@register_method("darts-v1", order=1)
@register_method("darts-v2", order=2)
class DARTS(Method):
    PARAMS = {"order": choice("1: first-order α gradient; 2: unrolled second order", 1, 1, 2),
              "unroll_eps": positive("finite-difference step of the Hessian-vector product, over ‖∇w' L_val‖", 0.01)}

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        out = {}
        if self.arch_active:
            if self.hp["order"] == 1:
                out["valid_loss"], out["valid_acc"] = self.arch_step(valid)
            else:
                out["valid_loss"], out["valid_acc"] = self.unrolled_arch_step(train, valid)
        out["train_loss"], out["train_acc"] = self.weight_step(train)
        return out

    def unrolled_arch_step(self, train: Batch, valid: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """α ← Adam(∇α L_val(w', α) − ξ [∇α L_train(w⁺) − ∇α L_train(w⁻)] / 2ε)."""
        self.a_opt.zero_grad(set_to_none=True)
        grads, loss, acc = self.unrolled_gradient(train, valid)
        for p, g in zip(self.arch_parameters(), grads):
            p.grad = g
        self.a_opt.step()
        return loss, acc

    def unrolled_gradient(self, train: Batch, valid: Batch) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        weights = [p for p in self.net.parameters()]
        alphas = self.arch_parameters()
        xi = self.lr
        backup = [w.detach().clone() for w in weights]
        # w' = w - ξ (∇w L_train + momentum · buffer + wd · w)
        loss_t, _ = self.loss_acc(train)
        g_train = torch.autograd.grad(loss_t, weights)
        mom, wd = self.hp["momentum"], self.hp["weight_decay"]
        with torch.no_grad():
            for w, g in zip(weights, g_train):
                buf = self.w_opt.state.get(w, {}).get("momentum_buffer")
                step = g + wd * w + (mom * buf if buf is not None else 0.0)
                w.sub_(xi * step)
        loss_v, acc_v = self.loss_acc(valid)
        g_all = torch.autograd.grad(loss_v, alphas + weights)
        d_alpha, d_w = list(g_all[: len(alphas)]), g_all[len(alphas):]
        # finite-difference Hessian-vector product around the original w
        eps = self.hp["unroll_eps"] / torch.sqrt(sum((g * g).sum() for g in d_w))
        hess = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, b, g in zip(weights, backup, d_w):
                    w.copy_(b + sign * eps * g)
            loss, _ = self.loss_acc(train)
            hess.append(torch.autograd.grad(loss, alphas))
        with torch.no_grad():
            for w, b in zip(weights, backup):
                w.copy_(b)
        grads = [da - xi * (hp - hm) / (2 * eps) for da, hp, hm in zip(d_alpha, hess[0], hess[1])]
        return [g.detach() for g in grads], loss_v.detach(), acc_v.detach()
