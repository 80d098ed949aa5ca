"""torchvision ImageNet models by name (resnet18, vgg16, alexnet), only when torchvision is installed.

torchvision is an optional dependency (``pip install zapsim[vision]``); no
weights are downloaded: pass ``--weights PATH`` to a torchvision state dict.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..data import load_checkpoint_state, sha256_file

TORCHVISION_MODELS = ("resnet18", "vgg16", "alexnet")


def load_torchvision_model(name: str, weights: str | Path | None):
    """A torchvision model with weights loaded strictly from ``weights`` (eval mode) and its description."""
    if name not in TORCHVISION_MODELS:
        raise DataError(f"unknown torchvision model '{name}'; known: {', '.join(TORCHVISION_MODELS)}")
    try:
        import torchvision.models as tvm
    except ImportError:
        raise DataError(f"model '{name}' needs torchvision, which is not installed (pip install 'zapsim[vision]')") from None
    if weights is None:
        raise DataError(f"model '{name}' needs --weights PATH (a torchvision state dict); nothing is downloaded")
    path = Path(weights)
    if not path.is_file():
        raise DataError(f"weights file {path} does not exist")
    model = getattr(tvm, name)(weights=None)
    try:
        model.load_state_dict(load_checkpoint_state(path), strict=True)
    except RuntimeError as exc:
        raise DataError(f"{path}: does not fit {name} ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model, {"name": name, "weights": path.name, "weights_path": str(path), "sha256": sha256_file(path)}
