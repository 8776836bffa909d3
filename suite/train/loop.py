"""The training loop: a network of one architecture trained under a protocol, one epoch at a time.

``Trainer`` owns the model, the SGD optimiser and the random stream (drop-path, cutout); the
evaluation run around it (``suite.runs.evaluate``) decides when to stop, record and checkpoint.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.spaces.cost import count_flops, count_params

from .augment import centred_cutout
from .batches import TrainData
from .distributed import Dist, all_gather, all_sum, wrap_ddp
from .networks import build_network
from .protocols import Protocol
from .schedules import learning_rate


def _logits(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return out if isinstance(out, tuple) else (out, None)


class Trainer:
    """Train ``arch`` under ``protocol`` on ``data`` (this rank's part of a ``torchrun`` job).

    The network is built under a forked RNG seeded with ``seed``, so building it draws nothing from
    the global stream; its params and FLOPs are counted before it moves to the device."""

    def __init__(self, protocol: Protocol, arch: Any, data: TrainData, device: str, seed: int, d: Dist = Dist()) -> None:
        hp = self.hp = protocol.hp
        self.data, self.device, self.d = data, device, d
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_network(protocol, arch, data.num_classes, data.in_channels)
        self.params, self.flops = count_params(model), count_flops(model, data.shape)
        model = model.to(device)
        if hp["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.generator = torch.Generator().manual_seed(seed + 7 + 1000 * d.rank)  # drop-path and cutout, per rank
        if hasattr(model, "generator"):
            model.generator = self.generator
        self.opt = torch.optim.SGD(model.parameters(), hp["lr"], momentum=hp["momentum"],
                                   nesterov=hp["nesterov"] and hp["momentum"] > 0, weight_decay=hp["weight_decay"])
        self._forward: nn.Module | None = None
        self.amp = torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                                  enabled=hp["amp"])

    # ---- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Model, optimiser and every rank's random stream (a collective: every rank calls it)."""
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "generator": all_gather(self.generator.get_state(), self.d)}

    def load_state(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        states = ckpt["generator"]  # one state per rank (a single state from runs before DDP support)
        self.generator.set_state(states[self.d.rank] if isinstance(states, list) else states)

    # ---- the loop -------------------------------------------------------------------------------
    @property
    def forward(self) -> nn.Module:
        """The model as the train step calls it: under DDP in a multi-process job, compiled if asked."""
        if self._forward is None:
            fwd = wrap_ddp(self.model, self.device, self.d)
            self._forward = torch.compile(fwd) if self.hp["compile"] else fwd
        return self._forward

    def train_epoch(self, epoch: int, on_step: Callable[[], None] = lambda: None) -> dict[str, float]:
        """One pass over this rank's train batches; loss and accuracy summed over every rank."""
        hp, model, forward, device = self.hp, self.model, self.forward, self.device
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = hp["drop_path"] * epoch / hp["epochs"]
        model.train()
        steps = self.data.train_steps()
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        for i, (x, y) in enumerate(self.data.train_batches(epoch)):
            for g in self.opt.param_groups:
                g["lr"] = learning_rate(hp, epoch + (i / steps if steps else 0.0))
            if hp["cutout"]:
                x = centred_cutout(x, hp["cutout"], self.generator)
            with self.amp:
                logits, aux = _logits(forward(x))
                loss = F.cross_entropy(logits, y, label_smoothing=hp["label_smoothing"])
                if aux is not None:
                    loss = loss + hp["auxiliary"] * F.cross_entropy(aux, y, label_smoothing=hp["label_smoothing"])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if hp["grad_clip"]:
                nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
            self.opt.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(-1) == y).sum()
            seen += len(y)
            on_step()
        totals = all_sum(torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(seen), device=device)]),
                         self.d)
        n = float(totals[2])
        return {"train-loss": float(totals[0]) / n, "train-accuracy": 100.0 * float(totals[1]) / n,
                "lr": self.opt.param_groups[0]["lr"]}

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.data, self.amp)


@torch.no_grad()
def evaluate(model: nn.Module, data: TrainData, amp: Any) -> dict[str, float]:
    """Loss and accuracy on every evaluation set, under the set's name."""
    model.eval()
    out: dict[str, float] = {}
    for name in data.evals:
        loss, correct, n = 0.0, 0, 0
        for x, y in data.eval_batches(name):
            with amp:
                logits, _ = _logits(model(x))
            loss += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
            n += len(y)
        out[f"{name}-loss"], out[f"{name}-accuracy"] = loss / n, 100.0 * correct / n
    return out
