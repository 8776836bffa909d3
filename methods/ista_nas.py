"""ISTA-NAS (Yang et al., NeurIPS 2020): architecture search as sparse coding.

Each DARTS node (each NB201 edge) has a sparse code x over its (input, op) pairs; the search
optimises a compressed code b = A x (A fixed, random, m x n, m < n). Once per epoch x is
recovered from b by LASSO; in between, the forward pass runs only the support S of x (top-s |x|)
with weights from one ISTA step, z_S = x_S + A_S^T (b - A_S x_S), differentiable in b.

``ista-nas`` searches in two stages (bi-level, first order, as DARTS-V1); ``ista-nas-one-stage``
trains the target-sized network and b with one backward and freezes each node once its code
stops moving. Reference: iboing/ISTA-NAS (``ista_nas`` and ``ista_nas_single``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from suite.errors import InvalidInput
from suite.params import Param, choice, fraction, non_negative, positive, probability
from suite.spaces import darts as darts_space, darts_net
from suite.spaces.mixing import EdgePlan
from suite.spaces.nb201 import Arch
from suite.train.augment import cutout
from suite.train.schedules import cosine

from . import register_method
from ._sparse import LASSO_SOLVERS
from .base import Batch, Method


# ----------------------------------------------------------------------------- codes


@dataclass(frozen=True)
class Unit:
    """One sparse code: a DARTS node (slots = its in-edges × 7 ops) or an NB201 edge (its 5 ops).

    Slot j is op ``ops[j]`` (an index into the space's op list) on edge ``edges[j]``, whose input
    node is ``inputs[j]``. DARTS slots run input-major: input = j div 7, op = j mod 7.
    """

    name: str
    group: str
    edges: tuple[int, ...]
    ops: tuple[int, ...]
    inputs: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.ops)


def _units(space: Any) -> list[Unit]:
    if space.name == "darts":
        op_ids = [k for k, name in enumerate(space.ops) if name != "none"]
        units = []
        for group in space.groups:
            for i, node in enumerate(range(2, 2 + darts_space.STEPS)):
                in_edges = [e for e, (_, t) in enumerate(space.edges) if t == node]  # sources 0..node-1
                slots = [(e, k) for e in in_edges for k in op_ids]
                units.append(Unit(f"{group}_{i}", group, tuple(e for e, _ in slots), tuple(k for _, k in slots),
                                  tuple(space.edges[e][0] for e, _ in slots)))
        return units
    if space.name == "nb201":
        return [Unit(f"cell_{e}", "cell", (e,) * len(space.ops), tuple(range(len(space.ops))), (s,) * len(space.ops))
                for e, (s, _) in enumerate(space.edges)]
    raise InvalidInput(f"ISTA-NAS searches the nb201 and darts spaces, got {space.name!r}")


def pick_slots(x: np.ndarray | torch.Tensor, inputs: tuple[int, ...], s: int, distinct_inputs: bool) -> list[int]:
    """The s slots with the largest |x| (ties: lower slot first); with ``distinct_inputs`` at most one per input."""
    mag = np.abs(np.asarray(x, dtype=np.float64))
    picked: list[int] = []
    used: set[int] = set()
    for j in np.argsort(-mag, kind="stable"):
        if distinct_inputs and inputs[j] in used:
            continue
        picked.append(int(j))
        used.add(inputs[j])
        if len(picked) == s:
            break
    return picked


# ----------------------------------------------------------------------------- two-stage


_PARAMS: dict[str, Param] = {
    "sparsity": positive("s: support size of each code (ops run per DARTS node / NB201 edge)", 2, int),
    "proj_dims": positive("m: length of each compressed code b (rows of A)", 7, int),
    "gamma": positive("γ: L1 weight of the LASSO recovery", 1e-5, float),
    "solver": choice("LASSO solver of the recovery: 'fista' (ours, numpy) or 'sklearn' (coordinate descent)",
                     "fista", "fista", "sklearn"),
    "distinct_inputs": Param(True, "derivation: never pick two ops on the same input of a node", bool),
}
_DARTS_TWO_STAGE = {**Method.SPACE_DEFAULTS["darts"], "batch_size": 256, "lr": 0.1, "lr_min": 0.001, "arch_lr": 6e-4,
                    "sparsity": 2, "proj_dims": 7}
"""The paper's CIFAR-10 search settings (ISTA-NAS §5.1)."""
_NB201 = {**Method.SPACE_DEFAULTS["nb201"], "sparsity": 1, "proj_dims": 3, "alpha_init": 1.0, "gamma": 1e-2,
          "arch_lr": 0.3}
"""[choice] The NATS-Bench DARTS protocol, one op per edge, m = 3 < n = 5, and the paper's recovery
problem scaled by 1e3 (b init 1·N(0, 1), γ = 1e-2; x scales with it): the NB201 cells have no BN between
them, so weights z ≈ 1e-3 shrink the signal ~1e-3 per cell and the network cannot learn (measured on
digits: chance accuracy, all codes recovered as 0, all-``none`` cell). Adam's step does not scale with
its gradients, so the protocol's arch lr scales by the same 1e3 (3e-4 -> 0.3): at 3e-4 b moved 0.03 % of
its scale per step (the paper: 6e-4 on 1e-3, 60 %) and a 5-epoch digits search never changed its cell;
at 0.3 its cell changed at every epoch."""


@register_method("ista-nas")
class ISTANAS(Method):
    """Two-stage ISTA-NAS: per step an Adam step on b (valid batch), then an SGD step on w (train batch)."""

    PARAMS = _PARAMS
    SPACE_DEFAULTS = {"darts": _DARTS_TWO_STAGE, "nb201": _NB201}

    ARCH_PARAMETERS = (("b", "b"),)

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        return self.bilevel_step(train, valid)

    # ---- codes and their state -------------------------------------------------------------
    def extra_arch_parameters(self) -> None:
        self.alphas = nn.ParameterDict()  # no α: b is the architecture parameter
        self.units = _units(self.space)
        m, s = self.hp["proj_dims"], self.hp["sparsity"]
        for u in self.units:
            if not 1 <= s <= u.n or m > u.n:
                raise InvalidInput(f"The 'sparsity' and 'proj_dims' parameters of {self.name} must satisfy "
                                   f"1 <= s <= n and m <= n = {u.n} (code {u.name}). Got s={s}, m={m} instead.")
            if self.space.name == "darts" and self.hp["distinct_inputs"] and s > len(set(u.inputs)):
                raise InvalidInput(f"The 'sparsity' parameter of {self.name} must be <= {len(set(u.inputs))} (the "
                                   f"inputs of node {u.name}) with distinct_inputs. Got {s} instead.")
        a_gen = torch.Generator().manual_seed(self.seed + 2)  # A: fixed per run, from the run seed
        self.A = {u.name: torch.rand(m, u.n, generator=a_gen, dtype=torch.float64) for u in self.units}
        self.b = nn.ParameterDict({
            u.name: nn.Parameter(self.hp["alpha_init"] * torch.randn(m, generator=self.generator).to(self.device))
            for u in self.units})
        self.frozen = {u.name: False for u in self.units}
        self._cache: dict[str, tuple[bytes, np.ndarray]] = {}
        self.x = self.recovered_codes()  # the initial recovery, as the reference does before epoch 1
        self._refresh_support()

    def solve(self, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return LASSO_SOLVERS[self.hp["solver"]](A, b, self.hp["gamma"]).x

    def recovered_codes(self) -> dict[str, torch.Tensor]:
        """x = argmin ½‖A x − b‖² + γ‖x‖₁ per code from the current b (frozen codes keep their x)."""
        out = {}
        for u in self.units:
            if self.frozen[u.name]:
                out[u.name] = self.x[u.name]
                continue
            b = self.b[u.name].detach().cpu().double().numpy()
            key = b.tobytes()
            hit = self._cache.get(u.name)
            if hit is None or hit[0] != key:
                hit = (key, self.solve(self.A[u.name].numpy(), b))
                self._cache[u.name] = hit
            out[u.name] = torch.from_numpy(hit[1].copy())
        return out

    def _refresh_support(self) -> None:
        """S = top-s |x| per code; z_S = x_S + A_S^T (b − A_S x_S) = c + A_S^T b, c fixed until the next recovery."""
        self.support: dict[str, torch.Tensor] = {}
        self._AS: dict[str, torch.Tensor] = {}
        self._c: dict[str, torch.Tensor] = {}
        dtype = next(iter(self.b.values())).dtype
        for u in self.units:
            x, A = self.x[u.name], self.A[u.name]
            S = torch.tensor(pick_slots(x, u.inputs, self.hp["sparsity"], False), dtype=torch.long)
            a_s = A[:, S]
            self.support[u.name] = S
            self._AS[u.name] = a_s.to(self.device, dtype)
            self._c[u.name] = (x[S] - a_s.T @ (a_s @ x[S])).to(self.device, dtype)
        # where each group's z values go in its [edges, ops] plan, and which ops each edge runs
        self._layout: dict[str, tuple[list[str], tuple[torch.Tensor, torch.Tensor], list[list[int]]]] = {}
        for g in self.space.groups:
            names = [u.name for u in self.units if u.group == g]
            slots = [(u.edges[j], u.ops[j]) for u in self.units if u.group == g for j in self.support[u.name].tolist()]
            active: list[list[int]] = [[] for _ in range(self.space.n_edges)]
            for e, k in slots:
                active[e].append(k)
            index = (torch.tensor([e for e, _ in slots], device=self.device),
                     torch.tensor([k for _, k in slots], device=self.device))
            self._layout[g] = (names, index, [sorted(a) for a in active])

    def recover(self) -> None:
        """The once-per-epoch recovery: new x from b, new support."""
        self.x = self.recovered_codes()
        self._refresh_support()

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self.recover()

    # ---- the forward pass ------------------------------------------------------------------
    def codes_z(self) -> dict[str, torch.Tensor]:
        """z_S per code (differentiable in b), in the order of ``support``."""
        return {u.name: self._c[u.name] + self._AS[u.name].T @ self.b[u.name] for u in self.units}

    def plans(self) -> dict[str, EdgePlan]:
        """Per cell type: z on the support's (edge, op) slots, 0 elsewhere; only the support's ops run."""
        z = self.codes_z()
        out = {}
        for g, (names, index, active) in self._layout.items():
            vals = torch.cat([z[n] for n in names])
            weights = torch.zeros(self.space.n_edges, len(self.space.ops), dtype=vals.dtype, device=vals.device)
            out[g] = EdgePlan(weights.index_put(index, vals), active=active)
        return out

    # ---- derivation ------------------------------------------------------------------------
    def arch_weights(self) -> dict[str, torch.Tensor]:
        """|x| of the codes recovered from the current b, laid out as [edges, ops] per cell type."""
        x = self.recovered_codes()
        out = {g: torch.zeros(self.space.n_edges, len(self.space.ops)) for g in self.space.groups}
        for u in self.units:
            out[u.group][list(u.edges), list(u.ops)] = x[u.name].abs().float()
        return out

    def derive(self) -> Any:
        return self.derive_from(self.recovered_codes())

    def derive_from(self, codes: Mapping[str, torch.Tensor | np.ndarray]) -> Any:
        """DARTS: per node the top-s |x| slots, op = slot mod 7, input = slot div 7 (``distinct_inputs``:
        one per input). NB201: the top |x| op of each edge (``none`` included)."""
        if self.space.name == "nb201":
            return Arch.from_ops([u.ops[pick_slots(codes[u.name], u.inputs, 1, False)[0]] for u in self.units])
        genes: dict[str, list[tuple[str, int]]] = {g: [] for g in self.space.groups}
        for u in self.units:
            for j in pick_slots(codes[u.name], u.inputs, self.hp["sparsity"], self.hp["distinct_inputs"]):
                genes[u.group].append((self.space.ops[u.ops[j]], u.inputs[j]))
        concat = tuple(range(2, 2 + darts_space.STEPS))
        return darts_space.Genotype(tuple(genes["normal"]), concat, tuple(genes["reduce"]), concat)

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "ista": {"A": {k: v.clone() for k, v in self.A.items()},
                         "x": {k: v.clone() for k, v in self.x.items()},
                         "frozen": dict(self.frozen)}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        ista = state["ista"]
        self.A = {k: v.clone() for k, v in ista["A"].items()}
        self.x = {k: v.clone() for k, v in ista["x"].items()}
        self.frozen = dict(ista["frozen"])
        self._cache = {}
        self._refresh_support()


# ----------------------------------------------------------------------------- one-stage


_DARTS_ONE_STAGE = {**Method.SPACE_DEFAULTS["darts"], "epochs": 600, "batch_size": 48, "channels": 36, "depth": 20,
                    "lr": 0.025, "lr_min": 0.001, "arch_lr": 3e-4, "sparsity": 2, "proj_dims": 7,
                    "aux_weight": 0.4, "cutout": 0.5}
"""The paper's one-stage settings (ista_nas_single; batch 96 = 48 train + 48 valid images)."""
_NB201_ONE_STAGE = {**_NB201, "batch_size": 32, "aux_weight": 0.0, "cutout": 0.5}
"""[choice] The NATS-Bench protocol's network and lr (batch 64 = 32 + 32), no auxiliary head."""


@register_method("ista-nas-one-stage")
class ISTANASOneStage(ISTANAS):
    """One-stage ISTA-NAS: the target network and b learn together; codes freeze once they settle."""

    PARAMS = {**_PARAMS,
              "aux_weight": non_negative("weight of the auxiliary head's loss (darts space only)", 0.4, float),
              "cutout": fraction("cutout square side as a fraction of the image side (16/32 px = 0.5); 0: off", 0.5),
              "freeze_tol": positive("a code freezes when ‖x_new − x_old‖₂ between recoveries is at most this",
                                     1e-3, float),
              "drop_path": probability("drop-path probability reached at the last epoch, ramped linearly from "
                                       "0 once every code is frozen (darts space only)", 0.2)}
    SPACE_DEFAULTS = {"darts": _DARTS_ONE_STAGE, "nb201": _NB201_ONE_STAGE}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.all_frozen_epoch: int | None = None
        super().__init__(*args, **kwargs)
        if self.space.name != "darts" and self.hp["aux_weight"] > 0:
            raise InvalidInput(f"The 'aux_weight' parameter of {self.name} must be 0 on the {self.space.name} space "
                               f"(its network has no auxiliary head). Got {self.hp['aux_weight']!r} instead.")
        self.bn_params = self._op_bn_params()
        self._apply_freezing()

    def build_network(self, num_classes: int, in_channels: int) -> nn.Module:
        if self.space.name != "darts":
            return super().build_network(num_classes, in_channels)
        return darts_net.DartsSearchNetwork(self.hp["channels"], self.hp["depth"], num_classes, in_channels,
                                              affine=True, identity_bn=True, auxiliary=self.hp["aux_weight"] > 0)

    def _op_bn_params(self) -> dict[str, list[nn.Parameter]]:
        """Per code, the affine BN parameters inside the ops of its edges, in every cell of its type (darts)."""
        out: dict[str, list[nn.Parameter]] = {u.name: [] for u in self.units}
        if self.space.name != "darts":
            return out
        for cell in self.net.cells:
            group = "reduce" if cell.reduction else "normal"
            for u in self.units:
                if u.group != group:
                    continue
                for e in sorted(set(u.edges)):
                    for mod in cell.edges[cell.module_of[e]].modules():
                        if isinstance(mod, nn.BatchNorm2d) and mod.affine:
                            out[u.name] += [mod.weight, mod.bias]
        return out

    def _apply_freezing(self) -> None:
        """Frozen code: b fixed, its ops' BN affine trainable. Active code: b trainable, BN affine fixed (1/0)."""
        for u in self.units:
            frozen = self.frozen[u.name]
            self.b[u.name].requires_grad_(not frozen)
            if frozen:
                self.b[u.name].grad = None
            for p in self.bn_params[u.name]:
                p.requires_grad_(frozen)

    def recover(self) -> None:
        """Recover active codes; once b has trained an epoch, freeze those that moved at most ``freeze_tol``."""
        new = self.recovered_codes()
        if self.epoch > self.hp["arch_start_epoch"]:
            for u in self.units:
                if not self.frozen[u.name]:
                    self.frozen[u.name] = float(torch.linalg.vector_norm(new[u.name] - self.x[u.name])) \
                        <= self.hp["freeze_tol"]
            self._apply_freezing()
        self.x = new
        self._refresh_support()
        if self.all_frozen_epoch is None and all(self.frozen.values()):
            self.all_frozen_epoch = self.epoch

    def on_epoch_start(self, epoch: int) -> None:
        """Recover and freeze, then the lr: constant while any code is active, then cosine to the end."""
        self.epoch = epoch
        self.recover()
        lr, lo = self.hp["lr"], self.hp["lr_min"]
        drop = 0.0
        if self.all_frozen_epoch is not None:  # the evaluation schedule: cosine lr, drop-path 0 -> drop_path
            start = self.all_frozen_epoch
            t = (epoch - start) / max(self.hp["epochs"] - start, 1)
            lr = cosine(lr, lo, t, 1)
            drop = self.hp["drop_path"] * t
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        if self.space.name == "darts":
            self.net.drop_path_prob, self.net.generator = drop, self.generator

    def cutout(self, x: torch.Tensor) -> torch.Tensor:
        """Zero one square per image (side ``cutout`` × image side, centre uniform, clipped at the border)."""
        half = round(self.hp["cutout"] * x.shape[-2]) // 2
        return cutout(x, self.generator, half, half) if half else x

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        """One backward on the train and valid batches together (the full search data), then b and w step."""
        x = torch.cat([train[0], valid[0]])
        y = torch.cat([train[1], valid[1]])
        x = self.cutout(x)
        self.a_opt.zero_grad(set_to_none=True)
        self.w_opt.zero_grad(set_to_none=True)
        plans = self.plans()
        if self.space.name == "darts":
            with self.autocast():
                logits, aux = self.net(self.prepare(x), plans, return_aux=True)
            if self.amp:
                logits, aux = logits.float(), None if aux is None else aux.float()
        else:
            logits, aux = self.logits(x, plans), None
        loss = F.cross_entropy(logits, y)
        total = loss
        out = {}
        if aux is not None:
            out["aux_loss"] = F.cross_entropy(aux, y)
            total = loss + self.hp["aux_weight"] * out["aux_loss"]
        total.backward()
        if self.arch_active:
            self.a_opt.step()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.hp["grad_clip"])
        self.w_opt.step()
        out = {k: v.detach() for k, v in out.items()}
        out["train_loss"] = loss.detach()
        out["train_acc"] = (logits.argmax(-1) == y).float().mean().detach()
        out["frozen_codes"] = torch.tensor(float(sum(self.frozen.values())), device=loss.device)
        return out

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["ista"]["all_frozen_epoch"] = self.all_frozen_epoch
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.all_frozen_epoch = state["ista"]["all_frozen_epoch"]
        self._apply_freezing()
