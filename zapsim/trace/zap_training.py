"""Label-free training of all ZAPs of a network in one pass, and saving/reusing the trained ZAPs.

The method (Shomron et al., ECCV 2020; see docs/tracer.md): the host network is frozen in
eval mode, every ZAP sees the clean output of its layer (all ZAPs disabled
during the host's forward pass), the loss is the sum over layers of each
ZAP's MSE against 1[ofm > 0] (1 on I_s), Adam lr 0.01, batch 128, 5 epochs,
with the usual CIFAR augmentation (random 32x32 crop of the image zero-padded
by 4, random horizontal flip).  Labels are never used.

Trained ZAPs are saved under a key: the sha256 of everything that determines
them (:func:`zap_key_parts`): the host network's actual parameters and
buffers, the placement (which layers, their shapes), the pattern, the
training images' pixels and labels, the preprocessing and every training
hyperparameter.  :func:`find_saved_zaps` returns a file only when its stored
key equals the key of the run, so a second trace with the same settings does
not retrain and a different network or image set never reuses another's ZAPs.
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
from .data import PREPROCESSING, ImageSet, cache_dir, image_norm, to_tensor
from .placement import ZapNet

BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained_zaps"
DEFAULTS = {"epochs": 5, "batch_size": 128, "lr": 0.01, "augment": True}
# Bump when the training procedure or the ZAP module changes what a given set of
# inputs trains to: old files then stop matching instead of being reused.
KEY_VERSION = 1


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
    mean, std = image_norm(train.info)
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
                x = to_tensor(imgs, mean, std).to(device)
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


def tensors_sha256(named: list[tuple[str, torch.Tensor]]) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of each tensor, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(named, key=lambda kv: kv[0]):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def images_sha256(images: ImageSet) -> str:
    """sha256 of an image set's identity: its pixels (uint8 NHWC) and labels, in order."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(images.images)
    y = np.ascontiguousarray(np.asarray(images.labels, dtype=np.int64))
    h.update(f"{x.dtype}|{list(x.shape)}|".encode())
    h.update(x.tobytes())
    h.update(f"labels|{len(y)}|".encode())
    h.update(y.tobytes())
    return h.hexdigest()


def zap_key_parts(net: ZapNet, train_images: ImageSet, *, pattern_name: str, pattern: np.ndarray, epochs: int,
                  batch_size: int, lr: float, seed: int, augment: bool, max_steps: int | None = None
                  ) -> dict[str, Any]:
    """Everything that determines the trained ZAPs; :func:`zap_key` hashes it.

    The host's weights are hashed whatever ``model_info`` says, the training
    images by content (two sets of the same size differ), and every
    hyperparameter is listed, so a changed setting never reuses old ZAPs.
    """
    mean, std = image_norm(train_images.info)
    return {
        "key_version": KEY_VERSION,
        "host_sha256": net.host_sha256,
        "placement": [{"layer": net.layers[i].name, "in_shape": list(net.shapes[i][0]),
                       "out_shape": list(net.shapes[i][1])} for i in net.zap_layers],
        "pattern": pattern_name,
        "pattern_matrix": np.asarray(pattern).astype(int).tolist(),
        "training_images": {"sha256": images_sha256(train_images), "count": len(train_images),
                            "shape": list(train_images.images.shape[1:])},
        "preprocessing": {"mean": list(mean), "std": list(std), "layout": "RGB uint8 / 255, NCHW float32"},
        "training": {"epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed),
                     "augment": bool(augment), "max_steps": None if max_steps is None else int(max_steps),
                     "optimizer": "Adam", "weight_decay": 0.0,
                     "augmentation": "random crop of the 4-pixel zero-padded image, random horizontal flip"
                     if augment else None},
    }


def zap_key(parts: dict[str, Any]) -> str:
    """The full sha256 (hex) of the key parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def zap_meta(net: ZapNet, model_info: dict[str, Any], train_images: ImageSet, **kw: Any) -> dict[str, Any]:
    """The metadata stored with trained ZAPs: the key, its parts and a readable description."""
    parts = zap_key_parts(net, train_images, **kw)
    info = train_images.info
    return {
        "key": zap_key(parts),
        "key_parts": parts,
        "model": str(model_info.get("name", "model")),
        "pattern": parts["pattern"],
        "epochs": parts["training"]["epochs"],
        "seed": parts["training"]["seed"],
        "zap_layers": [p["layer"] for p in parts["placement"]],
        # descriptive only (a path is machine-specific): the sha256 above is the identity
        "training_images": {"name": info.get("name"), "indices": info.get("indices"), "count": len(train_images),
                            "preprocessing": info.get("preprocessing", PREPROCESSING)},
    }


def zap_filename(meta: dict[str, Any]) -> str:
    slug = str(meta["pattern"]).replace(":", "-").replace("/", "_")
    model = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(meta["model"]))[:40] or "model"
    return f"{model}-{slug}-e{meta['epochs']}-s{meta['seed']}-{meta['key'][:12]}.pt"


def zap_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where trained ZAPs are looked for: ``extra``, the bundled directory, then the cache."""
    dirs = [Path(extra)] if extra else []
    return dirs + [BUNDLED_DIR, cache_dir() / "zaps"]


def portable_zap_file(path: str | Path | None) -> str | None:
    """A ZAP file's name for manifests, without the machine's directories (same inputs, same bytes anywhere).

    ``pretrained_zaps/NAME`` for a bundled file, ``cache:NAME`` for the cache,
    ``zap-dir:NAME`` for any other directory.
    """
    if path is None:
        return None
    p = Path(path).resolve()
    if p.parent == BUNDLED_DIR.resolve():
        return f"pretrained_zaps/{p.name}"
    if p.parent == (cache_dir() / "zaps").resolve():
        return f"cache:{p.name}"
    return f"zap-dir:{p.name}"


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


def _stored_meta(path: Path) -> dict[str, Any] | None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    return obj.get("meta") if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) else None


def find_saved_zaps(meta: dict[str, Any], extra_dir: str | Path | None = None) -> Path | None:
    """A saved ZAP file whose stored key equals ``meta['key']`` (the full sha256), or None.

    Files are found by the key's first 12 hex digits in their name (whatever
    the model is called) and accepted only when the full stored key matches.
    """
    suffix = f"-{meta['key'][:12]}.pt"
    for d in zap_dirs(extra_dir):
        if not d.is_dir():
            continue
        for p in sorted(d.glob(f"*{suffix}")):
            stored = _stored_meta(p)
            if p.is_file() and stored is not None and stored.get("key") == meta["key"]:
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
    if meta is not None and obj["meta"].get("key") != meta["key"]:
        want, got = meta.get("key_parts", {}), obj["meta"].get("key_parts") or {}
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k)) or ["key"]
        raise DataError(f"{path}: saved for different settings (key differs in {', '.join(diff)})")
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
