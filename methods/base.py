"""The ``Method`` base class: a method is its edge plan, its update step and its derivation rule.

Subclasses declare ``PARAMS`` (validated hyperparameters) and ``SPACE_DEFAULTS`` (the
published settings per space) and implement ``plans`` and ``step``; ``derive`` defaults to
the space's argmax / top-2 rule. Randomness comes from the run seed only: the network is
initialised under a forked RNG and the method draws from its own ``torch.Generator``.
"""
from __future__ import annotations

import abc
import copy
from typing import Any, Callable, ClassVar, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.errors import InvalidInput
from suite.params import Param, non_negative, positive, probability, resolve
from suite.spaces.mixing import EdgePlan
from suite.spaces.search import SearchSpace, get_search_space
from suite.train.schedules import cosine

Batch = tuple[torch.Tensor, torch.Tensor]

COMMON_PARAMS: dict[str, Param] = {
    "epochs": positive("search epochs", 50, int),
    "batch_size": positive("images per batch (train and valid each)", 64, int),
    "channels": positive("initial channels C of the supernet", 16, int),
    "depth": positive("cells per stage (nb201, N) or cells in all (darts)", 5, int),
    "lr": positive("weight SGD learning rate at the start of the cosine schedule", 0.025, float),
    "lr_min": non_negative("weight learning rate at the end of the cosine schedule", 0.001, float),
    "momentum": probability("weight SGD momentum", 0.9),
    "nesterov": Param(True, "Nesterov momentum for the weights", bool),
    "weight_decay": non_negative("weight SGD weight decay", 5e-4, float),
    "grad_clip": positive("max global gradient norm of the weights", 5.0, float),
    "arch_lr": positive("architecture Adam learning rate", 3e-4, float),
    "arch_weight_decay": non_negative("architecture Adam weight decay", 1e-3, float),
    "arch_beta1": probability("architecture Adam beta1", 0.5),
    "arch_start_epoch": non_negative("first epoch with architecture updates", 0, int),
    "alpha_init": positive("std of the random initial architecture parameters", 1e-3, float),
    "steps_per_epoch": non_negative("search steps per epoch at most (0: a full pass over the smaller search split); "
                                    "for smoke runs and regression gates", 0, int),
}

NB201_PROTOCOL = {"epochs": 50, "batch_size": 64, "channels": 16, "depth": 5, "lr": 0.025, "lr_min": 0.001,
                  "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
"""AutoDL-Projects configs/nas-benchmark/algos/DARTS.config (NATS-Bench search protocol)."""
DARTS_PROTOCOL = {"epochs": 50, "batch_size": 64, "channels": 16, "depth": 8, "lr": 0.025, "lr_min": 0.001,
                  "momentum": 0.9, "nesterov": False, "weight_decay": 3e-4}
"""quark0/darts cnn/train_search.py."""


def fast_path(device: torch.device) -> tuple[bool, bool]:
    """(channels_last, bf16 autocast) for a search on ``device`` when the run does not say.

    CPU: channels-last, which measured faster for a DARTS-V1 NB201 step and RARTS on the size space
    and makes the DARTS cell's depthwise convolutions fast (README, Performance), and float32. CUDA: channels-last with bf16 autocast, as in training."""
    return True, device.type == "cuda"


def scale_schedule(hp: dict[str, Any], spec: Mapping[str, Param], given: Mapping[str, Any],
                   counts: tuple[str, ...]) -> dict[str, Any]:
    """A shorter run keeps the published schedule's shape: when ``epochs`` is given below the published
    number and an epoch count (``counts``, e.g. the warm-up ``arch_start_epoch``) is not given, that count
    becomes the same fraction of the run (rounded, and below ``epochs``): PC-DARTS's 15 of 50 warm-up
    epochs are 2 of a 5-epoch run, not all of them."""
    published = spec["epochs"].default
    if "epochs" not in given or hp["epochs"] >= published:
        return hp
    out = dict(hp)
    for name in counts:
        if name in spec and name not in given and hp.get(name):
            out[name] = min(round(hp[name] * hp["epochs"] / published), hp["epochs"] - 1)
    return out


class Method(abc.ABC):
    """A NAS method bound to one search space, dataset shape and seed.

    **A method must define** ``step(train, valid)``: one search iteration on a train and a validation batch,
    returning detached 0-d tensors (losses, accuracies). Most methods call ``bilevel_step`` (first-order
    DARTS: an α step on the validation batch, then a weight step on the train batch) or build on
    ``arch_step`` / ``weight_step``.

    **It may override**, each with a working default: ``plans`` (how each cell mixes its edges; default
    softmax(α)), ``arch_weights`` and ``derive`` (what the derivation reads and its rule; default the
    space's argmax / top-2), ``extra_arch_parameters`` with ``ARCH_PARAMETERS`` (architecture parameters
    beyond α), ``build_network``, ``make_optimizers``, ``bind_lookup``, ``epoch_metrics``, ``on_epoch_start``
    and ``state_dict`` / ``load_state_dict``; and declare ``PARAMS``, ``SPACE_DEFAULTS``, ``EPOCH_COUNTS``.
    The run loop reads nothing else (``suite/runs/search.py``).
    """

    PARAMS: ClassVar[dict[str, Param]] = {}
    SPACE_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {"nb201": NB201_PROTOCOL, "darts": DARTS_PROTOCOL}
    partial: int = 1
    op_groups: ClassVar[dict[str, int] | None] = None
    share_sources: ClassVar[bool] = False
    stochastic_plans: ClassVar[bool] = False
    """True when ``plans()`` samples (GDAS): two calls may differ even in the same state."""
    weight_sharing: ClassVar[bool] = True
    """False for a method that trains no supernet (random search): it has no losses and no update to check."""
    ARCH_PARAMETERS: ClassVar[tuple[tuple[str, str], ...]] = (("alpha", "alphas"),)
    """(name prefix, attribute) of each ``ParameterDict`` of architecture parameters, in optimizer order:
    ``arch_parameters``, ``named_arch`` and checkpoints read them from here."""
    EPOCH_COUNTS: ClassVar[tuple[str, ...]] = ("arch_start_epoch",)
    """Hyperparameters that count epochs of the published schedule: ``scale_schedule`` shortens them with it."""

    def __init__(self, name: str, space: str, num_classes: int, in_channels: int = 3, *, seed: int = 0,
                 device: str | torch.device = "cpu", fixed: Mapping[str, Any] | None = None,
                 channels_last: bool | None = None, amp: bool | None = None, **hparams: Any) -> None:
        self.name = name
        self.space: SearchSpace = get_search_space(space)
        if self.space.name not in self.SPACE_DEFAULTS:
            raise InvalidInput(f"{name} does not support the {self.space.name} space; it supports: "
                               f"{', '.join(self.SPACE_DEFAULTS)}")
        clash = sorted(set(hparams) & set(fixed or {}))
        if clash:
            raise InvalidInput(f"{clash[0]!r} is fixed by the method name {name}; choose another registered variant")
        spec = {**COMMON_PARAMS, **self.PARAMS}
        defaults = {**self.SPACE_DEFAULTS.get(self.space.name, {}), **(fixed or {})}
        spec = {k: Param(defaults.get(k, p.default), p.doc, p.kind, p.check, p.rule, p.choices) for k, p in spec.items()}
        self.hp: dict[str, Any] = scale_schedule(resolve(name, spec, hparams), spec, hparams, self.EPOCH_COUNTS)
        self.device = torch.device(device)
        default_cl, default_amp = fast_path(self.device)
        self.channels_last = default_cl if channels_last is None else bool(channels_last)
        """Network and inputs in channels-last memory format (the same function, faster kernels)."""
        self.amp = default_amp if amp is None else bool(amp)
        """Forward passes under bf16 autocast."""
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed + 1)  # the method's own randomness
        self.epoch = 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = self.build_network(num_classes, in_channels).to(self.device)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.alphas = nn.ParameterDict({
            g: nn.Parameter(self.hp["alpha_init"] * torch.randn(self.space.n_edges, len(self.space.ops),
                                                                  generator=self.generator).to(self.device))
            for g in self.space.groups})
        self.extra_arch_parameters()
        self.w_opt, self.a_opt = self.make_optimizers()

    # ---- what a method defines --------------------------------------------------------------
    def build_network(self, num_classes: int, in_channels: int) -> nn.Module:
        return self.space.build(num_classes, in_channels, self.hp["channels"], self.hp["depth"], self.partial,
                                self.op_groups, self.share_sources)

    def extra_arch_parameters(self) -> None:
        """Hook: create architecture parameters beyond α (e.g. PC-DARTS's edge weights)."""

    def arch_parameters(self) -> list[nn.Parameter]:
        """Every architecture parameter, in ``ARCH_PARAMETERS`` order (what the architecture optimizer steps)."""
        return list(self.named_arch().values())

    def make_optimizers(self) -> tuple[Any, Any]:
        """The weight optimizer (SGD) and the architecture optimizer (Adam), as the references build them."""
        w_opt = torch.optim.SGD(self.net.parameters(), self.hp["lr"], momentum=self.hp["momentum"],
                                nesterov=self.hp["nesterov"] and self.hp["momentum"] > 0,
                                weight_decay=self.hp["weight_decay"])
        a_opt = torch.optim.Adam(self.arch_parameters(), self.hp["arch_lr"], betas=(self.hp["arch_beta1"], 0.999),
                                 weight_decay=self.hp["arch_weight_decay"])
        return w_opt, a_opt

    def bind_lookup(self, lookup: Callable[[Any], dict[str, float]] | None) -> None:
        """Hook: the run's per-epoch benchmark lookup (None without a benchmark). Weight-sharing methods
        never read it; random search selects its incumbent by it, as a table stands in for training."""

    def plans(self) -> dict[str, EdgePlan | list[EdgePlan]]:
        """How each cell type mixes its edges this forward pass (default: softmax over all ops).

        A list instead of one plan gives every cell of that type its own plan (in cell order)."""
        return {g: EdgePlan(F.softmax(a, dim=-1)) for g, a in self.alphas.items()}

    @abc.abstractmethod
    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        """One search iteration; returns detached 0-d tensors (losses, accuracies)."""

    def bilevel_step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        """First-order DARTS: an α step on the validation batch (once ``arch_start_epoch`` is reached), then a
        weight step on the train batch."""
        out = {}
        if self.arch_active:
            out["valid_loss"], out["valid_acc"] = self.arch_step(valid)
        out["train_loss"], out["train_acc"] = self.weight_step(train)
        return out

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """The op weights the derivation reads (softmax of α by default), detached, on CPU."""
        return {g: F.softmax(a.detach(), dim=-1).cpu() for g, a in self.alphas.items()}

    def derive(self) -> Any:
        """The discrete architecture now (an ``Arch`` for nb201, a ``Genotype`` for darts)."""
        return self.space.derive_argmax(self.arch_weights())

    # ---- what the run loop reads (and nothing else) ------------------------------------------
    @property
    def epochs(self) -> int:
        """Search epochs."""
        return self.hp["epochs"]

    @property
    def batch_size(self) -> int:
        """Images per train and per validation batch."""
        return self.hp["batch_size"]

    @property
    def steps_per_epoch(self) -> int | None:
        """Search steps per epoch at most (None: a full pass over the smaller search split)."""
        return self.hp.get("steps_per_epoch") or None

    @property
    def network(self) -> nn.Module:
        """The supernet (its parameters are the cost record's params)."""
        return self.net

    def epoch_metrics(self) -> dict[str, float]:
        """Hook: per-epoch values beside the losses in the run's metrics (e.g. GDAS's temperature τ)."""
        return {}

    # ---- shared machinery --------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        """Set the epoch and the cosine learning rate (annealed per epoch, as the references do)."""
        self.epoch = epoch
        lr = cosine(self.hp["lr"], self.hp["lr_min"], epoch, self.hp["epochs"])
        for group in self.w_opt.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        return self.w_opt.param_groups[0]["lr"]

    @property
    def arch_active(self) -> bool:
        return self.epoch >= self.hp["arch_start_epoch"]

    def logits(self, x: torch.Tensor, plans: dict[str, EdgePlan | list[EdgePlan]] | None = None,
               net: nn.Module | None = None) -> torch.Tensor:
        """Logits of ``net`` (default: the supernet) on ``x`` under ``plans`` (default: ``plans()``), float32
        under autocast."""
        with self.autocast():
            out = self.space.forward(self.net if net is None else net, self.prepare(x),
                                     plans if plans is not None else self.plans())
        return out.float() if self.amp else out

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch in the network's memory format."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def autocast(self) -> torch.autocast:
        """bf16 autocast on the method's device when ``amp`` is on (a no-op context otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def loss_acc(self, batch: Batch, plans: dict[str, EdgePlan | list[EdgePlan]] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        out = self.logits(x, plans)
        return F.cross_entropy(out, y), (out.argmax(-1) == y).float().mean()

    def weight_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the network weights (gradient clipped); no architecture gradient is computed."""
        self.w_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            plans = self.plans()
        loss, acc = self.loss_acc(batch, plans)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.hp["grad_clip"])
        self.w_opt.step()
        return loss.detach(), acc.detach()

    def arch_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One first-order Adam step on the architecture parameters.

        Only their gradient is computed: backward skips every weight gradient (a large part of
        a convolution's backward), which the update would discard."""
        self.a_opt.zero_grad(set_to_none=True)
        loss, acc = self.loss_acc(batch)
        params = [p for p in self.arch_parameters() if p.requires_grad]
        for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True) if params else []):
            p.grad = g
        self.a_opt.step()
        return loss.detach(), acc.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "alphas": {k: v.detach().clone() for k, v in self.named_arch().items()},
                "w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(),
                "generator": self.generator.get_state(), "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        with torch.no_grad():
            for k, p in self.named_arch().items():
                p.copy_(state["alphas"][k])
        self.w_opt.load_state_dict(copy.deepcopy(state["w_opt"]))  # never share state with another method
        self.a_opt.load_state_dict(copy.deepcopy(state["a_opt"]))
        self.generator.set_state(state["generator"])
        self.epoch = state["epoch"]

    def named_arch(self) -> dict[str, nn.Parameter]:
        """Every architecture parameter by name (``prefix.key``; for checkpoints and logs)."""
        return {f"{prefix}.{k}": p for prefix, attr in self.ARCH_PARAMETERS for k, p in getattr(self, attr).items()}

    def config(self) -> dict[str, Any]:
        return {"method": self.name, "space": self.space.name, **self.hp}
