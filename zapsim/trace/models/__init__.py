"""Built-in models: the CIFAR-10 ResNets, and torchvision ImageNet models by name when installed."""

from __future__ import annotations

from .cifar_resnet import CIFAR_DEPTHS, cifar_resnet, load_cifar_resnet

__all__ = ["CIFAR_DEPTHS", "cifar_resnet", "load_cifar_resnet"]
