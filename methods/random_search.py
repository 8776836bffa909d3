"""Random search: one uniformly random architecture per epoch, the best so far kept.

The baseline a reviewer asks for first (Li & Talwalkar, UAI 2019; Yang et al., ICLR 2020). Each
epoch draws iid normal logits per edge and op from the run's own generator and derives a cell from
them with the space's rule: the argmax of iid draws is uniform over the ops of each edge (NB201:
uniform over all 15,625 cells). No supernet is trained. With a benchmark, a candidate is kept when it
beats the incumbent on ``select``: the table stands in for training the candidate, as NATS-Bench's
own random-search baseline reads the 12-epoch ``cifar10-valid`` accuracy (``simulate_train_eval``
with ``hp='12'``). Without one, the derived cell is the latest draw (random sampling).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from suite.errors import DnasError
from suite.params import Param

from . import register_method
from .base import Batch, Method

AUTO_SELECT = ("cifar10-valid@12/valid-accuracy",)
"""What ``select: auto`` reads first: NATS-Bench's random-search rule; else the first valid accuracy."""


@register_method("random")
class RandomSearch(Method):
    PARAMS = {"select": Param("auto", "lookup column a candidate must beat the incumbent on (auto: "
                                      "cifar10-valid@12/valid-accuracy, else the first valid accuracy)", str)}
    SPACE_DEFAULTS = {**Method.SPACE_DEFAULTS, "sss": {}}
    weight_sharing = False

    def build_network(self, num_classes: int, in_channels: int) -> nn.Module:
        return nn.Module()  # nothing is trained

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lookup: Callable[[Any], dict[str, float]] | None = None  # bind_lookup sets the run's
        self.best = -math.inf  # the incumbent's select value
        super().__init__(*args, **kwargs)

    def make_optimizers(self) -> tuple[Any, Any]:
        return None, None  # nothing is trained

    def bind_lookup(self, lookup: Callable[[Any], dict[str, float]] | None) -> None:
        self.lookup = lookup

    @property
    def steps_per_epoch(self) -> int:
        return 1  # one candidate per epoch

    @property
    def lr(self) -> float:
        return 0.0

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def _select_key(self, row: Mapping[str, float]) -> str:
        want = self.hp["select"]
        if want != "auto":
            if want not in row:
                raise DnasError(f"random: select={want!r} is not a lookup column of this benchmark; "
                                f"choose one of {', '.join(sorted(row))}")
            return want
        valid = [k for k in AUTO_SELECT if k in row] + sorted(k for k in row if k.endswith("/valid-accuracy"))
        if not valid:
            raise DnasError("random: the benchmark holds no valid accuracy to select by; set select to a column of "
                            + ", ".join(sorted(row)))
        return valid[0]

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        """Draw a candidate; keep it if it beats the incumbent (always, without a benchmark)."""
        draw = {g: torch.randn(a.shape, generator=self.generator) for g, a in self.alphas.items()}
        score = math.inf
        if self.lookup is not None:
            row = self.lookup(self.space.derive_argmax(draw))
            score = row[self._select_key(row)]
        if self.lookup is None or (math.isfinite(score) and score > self.best):
            self.best = score
            with torch.no_grad():
                for g, a in self.alphas.items():
                    a.copy_(draw[g].to(a.device))
        return {}

    def epoch_metrics(self) -> dict[str, float]:
        """``candidates``: the cells looked up so far (one per epoch), the search's cost in lookups."""
        return {"candidates": float(self.epoch + 1)}

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """The incumbent's draw as weights: the derivation's argmax reads the incumbent back."""
        return {g: torch.softmax(a.detach(), dim=-1).cpu() for g, a in self.alphas.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"alphas": {k: v.detach().clone() for k, v in self.named_arch().items()}, "best": self.best,
                "generator": self.generator.get_state(), "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for k, p in self.named_arch().items():
                p.copy_(state["alphas"][k])
        self.best = state["best"]
        self.generator.set_state(state["generator"])
        self.epoch = state["epoch"]
