"""Training throughput on CPU of the NB201 and DARTS evaluation networks (images/s).

NB201: the best cifar10 cell (index 6111), C=16, N=5, batch 256 (nats protocols). DARTS:
DARTS_V2's genotype, 36 channels, 20 cells, auxiliary head, batch 96 (darts-cifar). One
training step = forward, loss (with auxiliary), backward, SGD step; 2 threads.
Run: ``python -m pytest -m perf --benchmark-enable tests/perf/test_training_perf.py -s``.
"""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from suite.train.protocols import get_protocol
from suite.train.networks import build_network

pytestmark = pytest.mark.perf
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


@pytest.mark.parametrize("protocol, arch, batch", [("nats-200", BEST, 256), ("darts-cifar", DARTS_V2, 96)])
def test_training_images_per_second(benchmark, protocol, arch, batch):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = build_network(get_protocol(protocol), arch, 10, 3)
    opt = torch.optim.SGD(net.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def step():
        out = net(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y) + (0.4 * F.cross_entropy(aux, y) if aux is not None else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    benchmark.pedantic(step, rounds=3, iterations=1)
    seconds = benchmark.stats.stats.mean if benchmark.stats else (time.perf_counter() - t) / 3
    ips = batch / seconds
    benchmark.extra_info["images_per_s"] = ips
    print(f"\n[perf] {protocol} training, batch {batch}, 2 CPU threads: {ips:.1f} images/s "
          f"({seconds:.2f} s per step)")
    assert ips > 0
