"""The supernet's own ranking: architectures evaluated inside a search run's final supernet.

Each architecture runs with one-hot op weights (exactly one op per edge, weight 1; for
partial-channel supernets the channel group of that op is the open path) on the run's own
validation split.

Batch-norm statistics. The NB201 search cells use BN without affine parameters or running
statistics, so during the search they always normalise with the statistics of the current
batch, and the stem, the residual blocks and the last BN hold running averages accumulated
under the mixed (not one-hot) network. ``bn="reestimate"`` (the default, as one-shot papers do)
recomputes, for every sampled architecture, population statistics of *every* BN layer from
``bn_batches`` train batches under that architecture: each layer's running mean and variance
are reset and set to the exact average over those batches (momentum 1/k at batch k), cell BNs
included (they get running buffers for the evaluation only), and the validation pass then
normalises with them (eval mode). ``bn="batch"`` instead evaluates with per-batch statistics,
the search's own behaviour, so results depend on the batch size. The run's checkpoint is not
modified.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from suite.errors import DnasError, InvalidInput
from suite.spaces.mixing import EdgePlan

BN_MODES = ("reestimate", "batch")


def one_hot_plans(net: nn.Module, space: Any, op_indices: Sequence[int]) -> dict[str, EdgePlan]:
    """Plans that run exactly one op per edge with weight 1 (its channel group's path open)."""
    if space.name != "nb201":
        raise DnasError(f"one-hot evaluation of the supernet is implemented for the nb201 space; a {space.name} "
                        f"search's supernet cannot rank benchmark architectures here")
    cell = next(m for m in net.modules() if hasattr(m, "op_group") and hasattr(m, "partial"))
    w = torch.zeros(len(op_indices), len(space.ops), device=next(net.parameters()).device)
    w[torch.arange(len(op_indices)), torch.tensor(list(op_indices))] = 1.0
    gates = None
    if cell.partial > 1:
        groups = [cell.op_group[space.ops[k]] for k in op_indices]
        gates = [tuple(1.0 if g == grp else 0.0 for g in range(cell.partial)) for grp in groups]
    return {"cell": EdgePlan(w, active=[[k] for k in op_indices], gates=gates)}


def _bn_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _track_all(net: nn.Module) -> None:
    """Give every BN running buffers (cell BNs have none during the search) and reset them."""
    for bn in _bn_layers(net):
        if bn.running_mean is None:
            bn.register_buffer("running_mean", torch.zeros(bn.num_features, device=next(net.parameters()).device))
            bn.register_buffer("running_var", torch.ones(bn.num_features, device=next(net.parameters()).device))
            bn.register_buffer("num_batches_tracked", torch.tensor(0, device=next(net.parameters()).device))
        bn.track_running_stats = True


@torch.no_grad()
def evaluate_archs(method: Any, archs: Sequence[Any], train: Any, valid: Any, *, bn: str = "reestimate",
                   bn_batches: int = 10, batch_size: int = 256, seed: int = 0, progress: bool = True) -> np.ndarray:
    """Validation accuracy (%) of each arch inside ``method``'s supernet, with one-hot op weights."""
    from tqdm.auto import tqdm

    from suite.data import DeviceLoader

    if bn not in BN_MODES:
        raise InvalidInput(f"bn must be one of {BN_MODES}, got {bn!r}")
    if bn_batches < 1:
        raise InvalidInput(f"bn_batches must be >= 1, got {bn_batches}")
    device = method.device
    net = copy.deepcopy(method.network)  # the method (and its checkpoint) stay as they were
    if bn == "reestimate":
        _track_all(net)
    space = method.space
    bs_train = min(method.batch_size, len(train))
    tl = DeviceLoader(train, bs_train, device, augment=True, seed=seed)
    vl = DeviceLoader(valid, min(batch_size, len(valid)), device, augment=False, seed=seed, drop_last=False,
                      shuffle=False)
    out = np.empty(len(archs))
    for i, arch in enumerate(tqdm(archs, desc="supernet one-hot", unit="arch", disable=not progress or None,
                                  leave=False)):
        plans = one_hot_plans(net, space, list(arch.op_indices))
        if bn == "reestimate":
            net.train()
            tl.set_epoch(0)  # the same train batches for every architecture
            layers = _bn_layers(net)
            for layer in layers:
                layer.reset_running_stats()
            for k, (x, _) in enumerate(tl, start=1):
                if k > bn_batches:
                    break
                for layer in layers:
                    layer.momentum = 1.0 / k  # exact running average of the k batches so far
                space.forward(net, x, plans)
            net.eval()
        else:
            net.train()  # per-batch statistics, as in the search (no running stats are updated in cells)
        correct, total = 0, 0
        for x, y in vl:
            logits = space.forward(net, x, plans)
            correct += int((logits.argmax(-1) == y).sum())
            total += len(y)
        out[i] = 100.0 * correct / total
    return out


def sample_indices(n_archs: int, n: int, seed: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """``n`` official indices drawn uniformly without replacement (from ``candidates`` when given), sorted."""
    pool = np.arange(n_archs) if candidates is None else np.asarray(candidates)
    if not 1 <= n <= len(pool):
        raise DnasError(f"--sample must be in [1, {len(pool)}], got {n}")
    return np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))


__all__ = ["BN_MODES", "evaluate_archs", "one_hot_plans", "sample_indices"]
