"""XAutoDL (PyPI ``xautodl==1.0.0``) supernets as references, and their weights in ours.

XAutoDL pins ``numpy<=1.19.5``, which cannot install beside this project's numpy, so it is an
optional test and benchmark dependency installed without its requirements
(``pip install --no-deps xautodl==1.0.0``; tox does so). The models need only torch.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn

XAUTODL = "xautodl==1.0.0"
DARTS_OPS = {"none": "none", "max_pool_3x3": "max_pool_3x3", "avg_pool_3x3": "avg_pool_3x3",
             "skip_connect": "skip_connect", "sep_conv_3x3": "dua_sepc_3x3", "sep_conv_5x5": "dua_sepc_5x5",
             "dil_conv_3x3": "dil_sepc_3x3", "dil_conv_5x5": "dil_sepc_5x5"}
"""Our DARTS op names -> XAutoDL's names of the same ops."""


def need_xautodl() -> None:
    """Skip without xautodl, with the command that installs it; under CI=true fail instead."""
    try:
        import xautodl  # noqa: F401
    except ImportError:
        msg = f"the XAutoDL reference is not installed: pip install --no-deps {XAUTODL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{msg} (CI=true: tox installs it, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(msg)


def xautodl_darts(c: int = 16, num_classes: int = 10) -> nn.Module:
    """XAutoDL's ``NASNetworkDARTS`` in quark0/darts's search network: 8 cells (reductions at 2 and 5), a
    parameter-free BN after every pooling, no final BN-ReLU. Its forward returns (features, logits).

    XAutoDL builds 3N cells (N per stage); N = 3 with one first-stage normal cell removed is
    quark0's layout (the next cell reads two maps of the same shape either way)."""
    from xautodl.models.cell_operations import POOLING, SearchSpaceNames
    from xautodl.models.cell_searchs.search_model_darts_nasnet import NASNetworkDARTS

    ref = NASNetworkDARTS(c, 3, 4, 4, 3, num_classes, SearchSpaceNames["darts"], False, False)
    del ref.cells[2]
    for cell in ref.cells:
        width = cell.preprocess1.op[1].out_channels
        for mixed in cell.edges.values():
            for op in mixed._ops:
                if isinstance(op, POOLING):
                    op.op = nn.Sequential(op.op, nn.BatchNorm2d(width, affine=False, track_running_stats=False))
    ref.lastact = nn.Identity()
    return ref


def darts_alpha_index() -> tuple[list[int], list[int]]:
    """Rows and columns of XAutoDL's α that are our α: ``ours = ref[rows][:, cols]``."""
    from xautodl.models.cell_operations import SearchSpaceNames

    from suite.spaces.darts import EDGES, OPS

    keys = sorted(f"{t - 2}<-{s}" for s, t in EDGES)  # XAutoDL's edge2index
    rows = [keys.index(f"{t - 2}<-{s}") for s, t in EDGES]
    cols = [SearchSpaceNames["darts"].index(DARTS_OPS[op]) for op in OPS]
    return rows, cols


def load_xautodl_darts(ours: nn.Module, ref: nn.Module) -> None:
    """Copy the weights of ``xautodl_darts`` into our ``DartsSearchNetwork`` (XAutoDL's conv biases,
    which all feed a parameter-free BN, have no counterpart: BN removes them)."""
    from xautodl.models.cell_operations import SearchSpaceNames

    from suite.spaces.darts import EDGES, OPS

    rs, state, names = ref.state_dict(), {}, SearchSpaceNames["darts"]
    for key in ours.state_dict():
        parts = key.split(".")
        if parts[0] != "cells":
            state[key] = rs[key]
            continue
        i, rest = parts[1], parts[2:]
        if rest[0] in ("pre0", "pre1"):
            pre = "preprocess" + rest[0][-1]
            sub = {"conv_1": "convs.0", "conv_2": "convs.1", "bn": "bn"}.get(rest[1], f"op.{rest[1]}")
            state[key] = rs[f"cells.{i}.{pre}.{sub}.{'.'.join(rest[2:])}"]
            continue
        e, k, layer, name = int(rest[1]), int(rest[3]), rest[4], ".".join(rest[5:])  # edges.e.ops.k.layer.name
        s, t = EDGES[e]
        prefix = f"cells.{i}.edges.{t - 2}<-{s}._ops.{names.index(DARTS_OPS[OPS[k]])}"
        if OPS[k].startswith("sep_conv"):  # ours: relu dw pw bn relu dw pw bn; XAutoDL: op_a.op, op_b.op
            j = int(layer)
            sub = f"op_a.op.{j}" if j < 4 else f"op_b.op.{j - 4}"
        elif OPS[k].startswith("dil_conv"):
            sub = f"op.{layer}"
        elif OPS[k] == "skip_connect":  # FactorizedReduce
            sub = {"conv_1": "convs.0", "conv_2": "convs.1", "bn": "bn"}[layer]
        else:
            raise KeyError(f"no XAutoDL counterpart for {key}")
        state[key] = rs[f"{prefix}.{sub}.{name}"]
    ours.load_state_dict(state)


def xautodl_nb201(c: int = 16, n: int = 5, num_classes: int = 10) -> nn.Module:
    """XAutoDL's ``TinyNetworkDarts`` on NAS-Bench-201 (BN without affine or running statistics in the cells,
    as NATS-Bench searches). Its forward returns (features, logits); its α rows and columns are ours."""
    from xautodl.models.cell_operations import SearchSpaceNames
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts

    return TinyNetworkDarts(c, n, 4, num_classes, SearchSpaceNames["nas-bench-201"], False, False)


def load_xautodl_nb201(ours: nn.Module, ref: nn.Module) -> None:
    """Copy ``xautodl_nb201`` weights into our ``NB201Network`` (per-edge convs -> our stacked rows)."""
    from suite.spaces.nb201 import EDGES, OPS

    rs, state = ref.state_dict(), {}
    for k in ours.state_dict():
        parts = k.split(".")
        if parts[0] == "cells" and "convs" in parts:
            cell = ours.cells[int(parts[1])]
            key = parts[3]
            op = key.split("_", 1)[1]
            if parts[4] == "0":  # conv rows, one block per target edge
                state[k] = torch.cat([rs[f"cells.{parts[1]}.edges.{EDGES[e][1]}<-{EDGES[e][0]}."
                                         f"{OPS.index(op)}.op.1.weight"] for e in cell.rows[key]])
            continue
        state[k] = rs[k.replace("conv_a.1", "conv_a.op.1").replace("conv_a.2", "conv_a.op.2")
                      .replace("conv_b.1", "conv_b.op.1").replace("conv_b.2", "conv_b.op.2")]
    ours.load_state_dict(state)
