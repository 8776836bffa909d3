"""A search step under fp32 agrees with float64, and under bf16 autocast with channels-last with fp32, at
the same states along a real trajectory (on CPU here; every method on CUDA in ``tests/gpu``)."""
from __future__ import annotations

import pytest

from numerics_agreement import GRAD_RTOL, LOSS_RTOL, agreement


@pytest.mark.parametrize("method", ["darts-v1", "pc-darts"])
@pytest.mark.parametrize("other", ["float64", "bf16"])
def test_a_cpu_step_agrees(method, other):
    steps = agreement(method, "cpu", 5, other=other)
    assert len(steps) == 5 and all(s["loss"] == s["loss"] for s in steps)  # no NaN
    assert max(s["loss_rel"] for s in steps) <= LOSS_RTOL[other], steps
    assert max(s["grad_rel"] for s in steps) <= GRAD_RTOL[other], steps
