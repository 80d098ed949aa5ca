"""Find and load the real data the tracer needs: pretrained weights and labelled images.

Where things are looked for, in order:

1. an explicit path (``--data DIR`` / ``--weights FILE``);
2. ``$ZAPSIM_DATA`` (the layout of the shared data directory: ``weights/``,
   ``cifar10/``, ``imagenet_sample/``);
3. ``../shared/data`` next to the repository, and the cache ``~/.cache/zapsim``
   (``$ZAPSIM_CACHE`` overrides it);
4. for the CIFAR ResNet weights only, and only when online: the canonical public
   file, downloaded into the cache and accepted only if its sha256 matches.

Every failure raises :class:`~zapsim.errors.DataError` saying where it looked and
how to set ``ZAPSIM_DATA``.  Images are returned as uint8 NHWC RGB arrays;
:func:`to_tensor` applies the models' preprocessing.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes_atomic
from ..errors import DataError

# ImageNet statistics: the CIFAR ResNet checkpoints were trained with these (see the data README).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

WEIGHTS_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/{file}"
CIFAR_WEIGHTS: dict[str, tuple[str, str]] = {
    "resnet20": ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    "resnet32": ("resnet32-d509ac18.th", "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850"),
    "resnet44": ("resnet44-014dd654.th", "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4"),
    "resnet56": ("resnet56-4bfd9763.th", "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367"),
}
CIFAR_EXACT = "cifar10/cifar10_test_first1017.npz"
CIFAR_JPEG = "cifar10/cifar10_test_jpeg_q75.npz"
CIFAR_BATCH = "cifar-10-batches-py/test_batch"
SET_HINT = "set ZAPSIM_DATA to the shared data directory (e.g. export ZAPSIM_DATA=/work/shared/data) or pass --data DIR"


def cache_dir() -> Path:
    """The download/ZAP cache: ``$ZAPSIM_CACHE`` or ``~/.cache/zapsim``."""
    return Path(os.environ.get("ZAPSIM_CACHE") or Path.home() / ".cache" / "zapsim")


def _fallback_roots() -> list[Path]:
    """Local places tried after ZAPSIM_DATA: ../shared/data beside the repository, then the cache."""
    repo = Path(__file__).resolve().parent.parent
    return [repo.parent / "shared" / "data", cache_dir()]


def data_roots(explicit: str | Path | None = None) -> list[Path]:
    """Candidate data directories in search order (they need not exist)."""
    roots: list[Path] = []
    # A directory the user named must exist: silently searching elsewhere
    # would hide a typo and load data they did not ask for.
    if explicit:
        if not Path(explicit).is_dir():
            raise DataError(f"--data {explicit}: no such directory")
        if not any(Path(explicit).iterdir()):  # an empty directory is a mistake, not a reason to look elsewhere
            raise DataError(f"--data {explicit}: the directory is empty")
        roots.append(Path(explicit))
    env = os.environ.get("ZAPSIM_DATA")
    if env:
        if not Path(env).is_dir():
            raise DataError(f"ZAPSIM_DATA={env}: no such directory; {SET_HINT}")
        if not any(Path(env).iterdir()):
            raise DataError(f"ZAPSIM_DATA={env}: the directory is empty; {SET_HINT}")
        roots.append(Path(env))
    roots += _fallback_roots()
    out: list[Path] = []
    for r in roots:
        if r not in out:
            out.append(r)
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find(rel: str, data: str | Path | None) -> tuple[Path | None, list[Path]]:
    looked = [r / rel for r in data_roots(data)]
    for p in looked:
        if p.is_file():
            return p, looked
    return None, looked


def _looked(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


# --------------------------------------------------------------------------- weights


def find_weights(model: str, weights: str | Path | None = None, data: str | Path | None = None,
                 allow_download: bool = True) -> tuple[Path, str]:
    """Path and sha256 of a CIFAR ResNet checkpoint, checked against the canonical sha256.

    An explicit ``weights`` file is used as given (its sha256 is reported, and
    must match the canonical one when the file has the canonical name).
    """
    if weights is not None:
        p = Path(weights)
        if not p.is_file():
            raise DataError(f"weights file {p} does not exist")
        digest = sha256_file(p)
        if model in CIFAR_WEIGHTS and p.name == CIFAR_WEIGHTS[model][0] and digest != CIFAR_WEIGHTS[model][1]:
            raise DataError(f"{p}: sha256 {digest} does not match the published {CIFAR_WEIGHTS[model][1]}")
        return p, digest
    if model not in CIFAR_WEIGHTS:
        raise DataError(f"no built-in weights for '{model}'; pass --weights FILE")
    fname, want = CIFAR_WEIGHTS[model]
    p, looked = _find(f"weights/{fname}", data)
    if p is not None:
        digest = sha256_file(p)
        if digest != want:
            raise DataError(f"{p}: sha256 {digest} does not match the published {want} (corrupt or different file)")
        return p, digest
    url = WEIGHTS_URL.format(file=fname)
    target = cache_dir() / "weights" / fname
    if allow_download:
        try:
            with urllib.request.urlopen(url, timeout=20) as r:  # noqa: S310 (fixed https URL)
                blob = r.read()
        except Exception as exc:  # offline, DNS failure, HTTP error: all mean "not available"
            raise DataError(
                f"weights {fname} not found (looked in {_looked(looked)}) and the download of {url} failed "
                f"({type(exc).__name__}: {exc}); {SET_HINT}, or pass --weights FILE"
            ) from None
        digest = hashlib.sha256(blob).hexdigest()
        if digest != want:
            raise DataError(f"downloaded {url} has sha256 {digest}, expected {want}; not used")
        write_bytes_atomic(target, blob)
        return target, digest
    raise DataError(f"weights {fname} not found (looked in {_looked(looked)}); {SET_HINT}, or pass --weights FILE")


def load_checkpoint_state(path: Path) -> dict[str, Any]:
    """A state dict from a checkpoint file (``{'state_dict': ...}`` or a bare dict), 'module.' prefixes stripped."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path}: cannot be loaded as a PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


# --------------------------------------------------------------------------- images


@dataclass
class ImageSet:
    """Labelled images (uint8 NHWC RGB) with a description of where they came from."""

    images: np.ndarray
    labels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int | None) -> ImageSet:
        """The first ``count`` images (all when None)."""
        if count is None or count >= len(self):
            return self
        if count < 1:
            raise DataError(f"image count must be >= 1, got {count}")
        info = {**self.info, "indices": _shrink_indices(self.info.get("indices"), count)}
        return ImageSet(self.images[:count], self.labels[:count], info)


def _shrink_indices(desc: Any, count: int) -> Any:
    if isinstance(desc, list) and len(desc) == 2:
        return [desc[0], desc[0] + count - 1]
    return desc


def load_cifar10_eval(data: str | Path | None = None) -> ImageSet:
    """The exact (lossless) CIFAR-10 test images used for accuracy.

    Prefers the official python ``test_batch`` (all 10,000 images) when found,
    else ``cifar10_test_first1017.npz`` (official test images 0..1016).
    """
    batch, looked_b = _find(CIFAR_BATCH, data)
    if batch is not None:
        try:
            with open(batch, "rb") as f:
                d = pickle.load(f, encoding="bytes")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except Exception as exc:
            raise DataError(f"{batch}: not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
        if len(x) != len(y):
            raise DataError(f"{batch}: {len(x)} images but {len(y)} labels (truncated file?)")
        return ImageSet(np.ascontiguousarray(x), y, {
            "name": "cifar10-test", "origin": "cifar10-test", "source": str(batch), "indices": [0, len(y) - 1],
            "exact": True})
    p, looked = _find(CIFAR_EXACT, data)
    if p is None:
        raise DataError(f"CIFAR-10 test images not found (looked in {_looked(looked + looked_b)}); {SET_HINT}")
    z = np.load(p)
    try:
        images, labels, index = z["images"], z["labels"], z["test_index"]
    except KeyError as exc:
        raise DataError(f"{p}: missing key {exc}; expected images, labels, test_index") from None
    if images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8 or len(labels) != len(images):
        raise DataError(f"{p}: 'images' must be uint8 (N, 32, 32, 3) with N labels, got {images.shape} {images.dtype}")
    if not np.array_equal(index, np.arange(len(index))):
        raise DataError(f"{p}: 'test_index' must be 0..N-1 (the first N official test images)")
    return ImageSet(images, labels.astype(np.int64), {
        "name": "cifar10-test", "origin": "cifar10-test", "source": str(p), "indices": [0, len(labels) - 1],
        "exact": True})


def load_cifar10_train_split(data: str | Path | None = None, first: int = 1017) -> ImageSet:
    """Images for label-free ZAP training: the JPEG-q75 copy's test images ``first``..9999.

    They are disjoint from the exact first-1017 evaluation images (labels are
    returned but never used for training).
    """
    p, looked = _find(CIFAR_JPEG, data)
    if p is None:
        raise DataError(f"CIFAR-10 JPEG copy not found (looked in {_looked(looked)}); {SET_HINT}")
    z = np.load(p)
    images, labels = z["images"], z["labels"]
    if images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
        raise DataError(f"{p}: 'images' must be uint8 (N, 32, 32, 3), got {images.shape} {images.dtype}")
    if len(images) <= first:
        raise DataError(f"{p}: has {len(images)} images, need more than {first} for a disjoint training split")
    return ImageSet(np.ascontiguousarray(images[first:]), labels[first:].astype(np.int64), {
        "name": "cifar10-test-jpeg-q75", "origin": "cifar10-test", "source": str(p), "indices": [first, len(images) - 1],
        "exact": False})


def load_image_folder(folder: str | Path, size: int = 224, resize: int = 256) -> ImageSet:
    """An ImageNet-style folder: JPEGs plus ``labels.csv`` (columns ``file,class_index,...``).

    Each image is converted to RGB (greyscale files exist), its short side
    resized to ``resize`` (bilinear) and centre-cropped to ``size``.
    """
    from PIL import Image

    folder = Path(folder)
    csv_path = folder / "labels.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path} not found; an image folder needs labels.csv with columns file,class_index")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or "class_index" not in rows[0]:
        raise DataError(f"{csv_path}: needs the columns 'file' and 'class_index'")
    images, labels = [], []
    for i, row in enumerate(rows):
        p = folder / row["file"]
        try:
            label = int(row["class_index"])
        except ValueError:
            raise DataError(f"{csv_path}: row {i + 2}: class_index {row['class_index']!r} is not an integer") from None
        if not p.is_file():
            raise DataError(f"{csv_path}: row {i + 2}: image {p} does not exist")
        with Image.open(p) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = resize / min(w, h)
            im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
            w, h = im.size
            left, top = (w - size) // 2, (h - size) // 2
            images.append(np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8))
        labels.append(label)
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int64), {
        "name": folder.name, "source": str(csv_path), "indices": [0, len(labels) - 1], "exact": True,
        "preprocessing": f"RGB, short side {resize} bilinear, centre crop {size}, ImageNet mean/std"})


def image_norm(info: dict[str, Any] | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) an image set is normalised with: ``info['mean']``/``info['std']``, else ImageNet's."""
    info = info or {}
    mean = tuple(float(v) for v in info.get("mean", MEAN))
    std = tuple(float(v) for v in info.get("std", STD))
    if len(mean) != 3 or len(std) != 3 or any(not v > 0 for v in std):
        raise DataError(f"image preprocessing: mean {list(mean)} and std {list(std)} must be 3 values each, std > 0")
    return mean, std


def to_tensor(images: np.ndarray, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD):
    """uint8 NHWC RGB -> contiguous float32 NCHW tensor, ``(x / 255 - mean) / std``.

    Contiguous, not a permuted view: models that flatten with
    ``x.view(x.size(0), -1)`` need it (issue 11.2).
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


PREPROCESSING = "x = (uint8/255 - mean)/std, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), RGB NCHW 32x32"
