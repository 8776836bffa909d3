"""The DARTS evaluation networks built from a genotype (quark0/darts ``cnn/model.py``).

``NetworkCIFAR``: stem, ``layers`` cells (reductions at 1/3 and 2/3), auxiliary head after the
2/3 cell. ``NetworkImageNet``: the mobile setting's three stride-2 stem convolutions, then the
same. Drop-path draws its masks from a ``torch.Generator`` the trainer owns, so a resumed run
draws the same masks.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .darts import Genotype
from .ops import DARTS_OPS, FactorizedReduce, ReLUConvBN, drop_path


class EvalCell(nn.Module):
    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        kind = "reduce" if reduction else "normal"
        nodes = genotype.nodes(kind)  # (op, input) entries per node: 2 each, or any number (EnTranNAS-DST)
        self.degrees = [len(n) for n in nodes]
        self.indices = [i for node in nodes for _, i in node]
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.ops = nn.ModuleList(DARTS_OPS[name](c, 2 if reduction and i < 2 else 1, True, True)
                                 for node in nodes for name, i in node)
        self.multiplier = len(self.concat)
        self.reduction_stride = 2 if reduction else 1

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float, generator: torch.Generator | None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        k = 0
        for degree in self.degrees:
            total = None
            for _ in range(degree):
                h = self.ops[k](states[self.indices[k]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, drop_prob, generator)
                total = h if total is None else total + h
                k += 1
            if total is None:  # a node without inputs outputs zeros
                ref = states[1]
                total = ref[:, :, :: self.reduction_stride, :: self.reduction_stride] * 0.0
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier (CIFAR: on 8x8 features; ImageNet: on 14x14, without the last BN as published)."""

    def __init__(self, c: int, num_classes: int, imagenet: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReLU(inplace=False),
                                   nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
                                   nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
                                   nn.Conv2d(128, 768, 2, bias=False)]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsEvalNetwork(nn.Module):
    """NetworkCIFAR (``imagenet=False``) or NetworkImageNet. ``forward`` returns (logits, aux_logits or None)."""

    def __init__(self, genotype: Genotype | str, c: int = 36, layers: int = 20, num_classes: int = 10,
                 auxiliary: bool = True, imagenet: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        genotype = Genotype.parse(genotype) if isinstance(genotype, str) else genotype
        self.layers, self.imagenet = layers, imagenet
        self.drop_path_prob = 0.0
        self.generator: torch.Generator | None = None
        if imagenet:
            self.stem0 = nn.Sequential(
                nn.Conv2d(in_channels, c // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True),
                nn.Conv2d(c // 2, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c))
            self.stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c))
            c_pp, c_p, c_cur, reduction_prev = c, c, c, True
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
            c_pp, c_p, c_cur, reduction_prev = 3 * c, 3 * c, c, False
        self.cells = nn.ModuleList()
        c_aux = c_p
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            cell = EvalCell(genotype, c_pp, c_p, c_cur, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_cur
            if i == 2 * layers // 3:
                c_aux = c_p
        self.auxiliary = AuxiliaryHead(c_aux, num_classes, imagenet) if auxiliary else None
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.imagenet:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        else:
            s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob, self.generator)
            if i == 2 * self.layers // 3 and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1)), aux
