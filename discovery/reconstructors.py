"""Reconstructors: from the image pair (G(z), G(z + shift)) predict the direction index and eps.

`resnet18` is the paper's (torchvision ResNet-18 from scratch, 6 input channels); `lenet` is a
light 4-conv network, ~10x cheaper, for CPU runs and tests.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class Reconstructor(nn.Module):
    def __init__(self, trunk: nn.Module, features: int, num_directions: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.direction_head = nn.Linear(features, num_directions)
        self.shift_head = nn.Linear(features, 1)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(torch.cat([x0, x1], dim=1))
        return self.direction_head(h), self.shift_head(h).squeeze(1)


def _resnet18_trunk() -> tuple[nn.Module, int]:
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(6, 64, kernel_size=7, stride=2, padding=3, bias=False)
    features = net.fc.in_features
    net.fc = nn.Identity()
    return net, features


def _lenet_trunk(width: int = 32) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    c_in = 6
    for c_out in (width, width * 2, width * 4, width * 4):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
    return nn.Sequential(*layers), c_in * 4


RECONSTRUCTORS = {"resnet18": _resnet18_trunk, "lenet": _lenet_trunk}


def build_reconstructor(kind: str, num_directions: int) -> Reconstructor:
    if kind not in RECONSTRUCTORS:
        raise ValueError(f"unknown reconstructor {kind!r}; choose one of {sorted(RECONSTRUCTORS)}")
    trunk, features = RECONSTRUCTORS[kind]()
    return Reconstructor(trunk, features, num_directions)
