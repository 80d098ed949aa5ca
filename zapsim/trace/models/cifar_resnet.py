"""The CIFAR-10 ResNets of He et al. 2016 with the "option A" shortcut.

Written from the architecture description in ``../shared/data/README.md`` so
that the published akamaster checkpoints load into it with a strict
``load_state_dict``.  Functional ReLUs and a parameter-free shortcut module
keep the graph traceable by ``torch.fx`` (ZAP placement reads it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import DataError
from ..data import find_weights, load_checkpoint_state

CIFAR_DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad ``pad`` channels on each side (no weights)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(planes // 4) if (stride != 1 or in_planes != planes) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs, widths 16/32/64, 10 classes."""

    def __init__(self, n: int, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for k, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{k}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def cifar_resnet(name: str) -> CifarResNet:
    """An untrained CIFAR ResNet by name (resnet20/32/44/56)."""
    if name not in CIFAR_DEPTHS:
        raise DataError(f"unknown CIFAR ResNet '{name}'; known: {', '.join(CIFAR_DEPTHS)}")
    return CifarResNet(CIFAR_DEPTHS[name])


def load_cifar_resnet(name: str, weights: str | Path | None = None, data: str | Path | None = None
                      ) -> tuple[CifarResNet, dict]:
    """The pretrained model (eval mode) and its ``{'name', 'weights', 'sha256'}`` description."""
    model = cifar_resnet(name)
    path, digest = find_weights(name, weights, data)
    state = load_checkpoint_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{path}: does not fit {name} ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model, {"name": name, "weights": path.name, "weights_path": str(path), "sha256": digest}
