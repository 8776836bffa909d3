"""The stand-alone network a training protocol trains, and the architecture string it reads."""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from .protocols import Protocol


def parse_arch(protocol: Protocol, arch: str) -> Any:
    """``arch`` as the protocol's space writes it: an NB201 ``Arch`` or a DARTS ``Genotype``."""
    if protocol.space == "nb201":
        from suite.spaces.nb201 import Arch

        return Arch.parse(arch)
    from suite.spaces.darts import Genotype

    return Genotype.parse(arch)


def build_network(protocol: Protocol, arch: Any, num_classes: int, in_channels: int) -> nn.Module:
    """The stand-alone network of ``arch`` for ``protocol`` (NB201 network or DARTS evaluation network)."""
    hp = protocol.hp
    if protocol.space == "nb201":
        from suite.spaces.nb201_net import NB201Network

        return NB201Network(hp["channels"], hp["depth"], num_classes, arch=arch, in_channels=in_channels)
    from suite.spaces.darts_eval import DartsEvalNetwork

    return DartsEvalNetwork(arch, hp["channels"], hp["depth"], num_classes, auxiliary=hp["auxiliary"] > 0,
                            imagenet=protocol.name == "darts-imagenet", in_channels=in_channels)
