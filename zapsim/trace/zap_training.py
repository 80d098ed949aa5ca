"""Label-free training of all ZAPs of a network in one pass, and saving/reusing the trained ZAPs.

The method (``../shared/docs/zap-method.md``): the host network is frozen in
eval mode, every ZAP sees the clean output of its layer (all ZAPs disabled
during the host's forward pass), the loss is the sum over layers of each
ZAP's MSE against 1[ofm > 0] (1 on I_s), Adam lr 0.01, batch 128, 5 epochs,
with the usual CIFAR augmentation (random 32x32 crop of the image zero-padded
by 4, random horizontal flip).  Labels are never used.

Trained ZAPs are saved with metadata that names everything they depend on
(model, weights sha256, pattern, epochs, seed, batch size, lr, training
images); :func:`find_saved_zaps` returns a file only when all of it matches,
so a second trace with the same settings does not retrain.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_bytes_atomic
from ..errors import DataError
from ..progress import progress_bar
from .data import ImageSet, cache_dir, to_tensor
from .placement import ZapNet

BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained_zaps"
DEFAULTS = {"epochs": 5, "batch_size": 128, "lr": 0.01, "augment": True}


class _OfmCollector:
    """Recorder that keeps each ZAP layer's clean output of the current batch."""

    def __init__(self, wanted: set[int]):
        self.wanted = wanted
        self.ofm: dict[int, torch.Tensor] = {}

    def inp(self, i, x):
        pass

    def out(self, i, x):
        if i in self.wanted:
            self.ofm[i] = x.detach()

    def computed(self, i, x, m):
        pass


def augment_batch(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop of the zero-padded image and random horizontal flip (uint8 NHWC in and out)."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    out = np.empty_like(images)
    for k in range(n):
        crop = padded[k, dy[k]:dy[k] + h, dx[k]:dx[k] + w]
        out[k] = crop[:, ::-1] if flip[k] else crop
    return out


def zap_loss(net: ZapNet, x: torch.Tensor) -> torch.Tensor:
    """Sum over ZAP layers of the method's loss on this batch (host forward without grad, ZAPs dense)."""
    layers = net.zap_layers
    col = _OfmCollector(set(layers))
    saved = [net.sites[i].threshold for i in layers]
    net.set_thresholds(None)  # every ZAP sees the clean output
    net.set_recorder(col)
    try:
        with torch.no_grad():
            net.gm(x)
    finally:
        net.set_recorder(None)
        for i, t in zip(layers, saved):
            net.sites[i].threshold = t
    return sum(net.zap(i).loss(col.ofm[i]) for i in layers)


def train_zaps(net: ZapNet, train: ImageSet, *, epochs: int = 5, batch_size: int = 128, lr: float = 0.01,
               seed: int = 0, augment: bool = True, device: str = "cpu", max_steps: int | None = None,
               progress: bool = True) -> list[float]:
    """Train every attached ZAP together; returns the mean loss of each epoch (or of the steps run)."""
    if not net.zap_layers or any(net.sites[i].zap is None for i in net.zap_layers):
        raise DataError("attach ZAPs (ZapNet.attach_zaps) before training them")
    if epochs < 1 or batch_size < 1:
        raise DataError(f"epochs and batch size must be >= 1, got {epochs} and {batch_size}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net.to(device)
    net.gm.eval()
    for p in net.gm.parameters():
        p.requires_grad_(False)
    zaps = [net.zap(i) for i in net.zap_layers]
    params = []
    for z in zaps:
        z.train()
        for p in z.parameters():
            p.requires_grad_(True)
            params.append(p)
    opt = torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    n = len(train)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    bar = progress_bar(total, "train ZAPs", "batch", enabled=progress, leave=True)
    history: list[float] = []
    step = 0
    try:
        for _epoch in range(epochs):
            order = rng.permutation(n)
            losses = []
            for b in range(steps_per_epoch):
                if step >= total:
                    break
                idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
                imgs = train.images[idx]
                if augment:
                    imgs = augment_batch(imgs, rng)
                x = to_tensor(imgs).to(device)
                loss = zap_loss(net, x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if losses:
                history.append(float(np.mean(losses)))
            if step >= total:
                break
    finally:
        bar.close()
        for z in zaps:
            z.eval()
            for p in z.parameters():
                p.requires_grad_(False)
    return history


# --------------------------------------------------------------------------- saving and reuse


def zap_key(meta: dict[str, Any]) -> str:
    """A short hash of the metadata that determines the trained ZAPs."""
    blob = json.dumps(meta, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def zap_filename(meta: dict[str, Any]) -> str:
    slug = str(meta["pattern"]).replace(":", "-").replace("/", "_")
    return f"{meta['model']}-{slug}-e{meta['epochs']}-s{meta['seed']}-{zap_key(meta)}.pt"


def zap_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where trained ZAPs are looked for: ``extra``, the bundled directory, then the cache."""
    dirs = [Path(extra)] if extra else []
    return dirs + [BUNDLED_DIR, cache_dir() / "zaps"]


def save_zaps(net: ZapNet, meta: dict[str, Any], directory: str | Path | None = None, history: list[float] | None = None
              ) -> Path:
    """Save every attached ZAP's state with ``meta``; returns the file written (atomically)."""
    directory = Path(directory) if directory else cache_dir() / "zaps"
    state = {net.layers[i].name: {k: v.detach().cpu().clone() for k, v in net.zap(i).state_dict().items()}
             for i in net.zap_layers}
    buf = io.BytesIO()
    torch.save({"meta": meta, "history": list(history or []), "zaps": state}, buf)
    path = directory / zap_filename(meta)
    write_bytes_atomic(path, buf.getvalue())
    return path


def find_saved_zaps(meta: dict[str, Any], extra_dir: str | Path | None = None) -> Path | None:
    """A saved ZAP file whose metadata equals ``meta``, or None."""
    name = zap_filename(meta)
    for d in zap_dirs(extra_dir):
        p = d / name
        if p.is_file():
            return p
    return None


def load_zaps(net: ZapNet, path: str | Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load saved ZAP states into ``net``'s attached ZAPs (strictly); returns the file's metadata."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path}: not a readable ZAP file ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict) or "zaps" not in obj or "meta" not in obj:
        raise DataError(f"{path}: not a zapsim ZAP file (keys 'meta' and 'zaps' expected)")
    if meta is not None and obj["meta"] != meta:
        diff = sorted(k for k in set(meta) | set(obj["meta"]) if meta.get(k) != obj["meta"].get(k))
        raise DataError(f"{path}: saved for different settings (differs in {', '.join(diff)})")
    names = {net.layers[i].name for i in net.zap_layers}
    if set(obj["zaps"]) != names:
        raise DataError(f"{path}: holds ZAPs for {sorted(obj['zaps'])}, the network has {sorted(names)}")
    for i in net.zap_layers:
        try:
            net.zap(i).load_state_dict(obj["zaps"][net.layers[i].name], strict=True)
        except RuntimeError as exc:
            raise DataError(f"{path}: ZAP of '{net.layers[i].name}' does not fit ({str(exc).splitlines()[0]})") from None
        net.zap(i).eval()
    return {"meta": obj["meta"], "history": obj.get("history", [])}
