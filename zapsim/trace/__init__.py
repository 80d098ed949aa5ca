"""The tracer: run a CNN with trained ZAPs at several operating points and write a zapsim trace.

Public API::

    from zapsim.trace import trace_model
    result = trace_model(model, eval_images, train_images=train, out="traces/mynet", model_info={"name": "mynet"})

``model`` is any ``torch.nn.Module`` that ``torch.fx`` can trace; ZAPs are
placed by the method's rules (:mod:`zapsim.trace.placement`).  ``eval_images`` and
``train_images`` are :class:`zapsim.trace.data.ImageSet` objects (uint8 NHWC RGB and
labels); they must be disjoint.  The command line is ``python -m zapsim.trace``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import check_target
from ..errors import ZapsimError
from ..patterns import parse_pattern_arg, pattern_matrix
from ..trace_format import OperatingPoint, TraceWriter
from .checks import image_overlap, overlap_text
from .data import PREPROCESSING, ImageSet, image_norm, to_tensor
from .evaluate import evaluate_op
from .operating_points import budget_op_id, calibrate, per_layer_thresholds, uniform_op_id
from .placement import MAX_ZAP_MAC_SHARE, ZapNet
from .zap_training import (
    DEFAULTS,
    find_saved_zaps,
    load_zaps,
    portable_zap_file,
    save_zaps,
    train_zaps,
    zap_meta,
)

__all__ = ["trace_model", "prepare_zaps", "DEFAULT_THRESHOLDS", "DEFAULT_BUDGETS"]

DEFAULT_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
DEFAULT_BUDGETS = (0.05, 0.1, 0.2, 0.4)


def _log(msg: str, progress: bool) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def _pattern(pattern: Any) -> tuple[str, np.ndarray]:
    if isinstance(pattern, str):
        return parse_pattern_arg(pattern)
    m = pattern_matrix(pattern)
    return "custom:" + "/".join("".join(str(int(v)) for v in r) for r in m), m


def prepare_zaps(net: ZapNet, model_info: dict[str, Any], train_images: ImageSet, *, pattern: Any = "checkerboard",
                 epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
                 seed: int = 0, augment: bool = True, max_steps: int | None = None, device: str = "cpu",
                 zap_dir: str | Path | None = None, retrain: bool = False, save: bool = True,
                 progress: bool = True) -> dict[str, Any]:
    """Attach ZAPs to ``net`` and load trained ones saved under the same key, or train (and save) them.

    The key (:func:`zapsim.trace.zap_training.zap_key_parts`) hashes the host's
    parameters and buffers, the placement, the pattern, the training images'
    pixels and labels, the preprocessing and every hyperparameter.
    """
    pname, pmat = _pattern(pattern)
    torch.manual_seed(seed)
    net.attach_zaps(pmat, pname)
    meta = zap_meta(net, model_info, train_images, pattern_name=pname, pattern=pmat, epochs=epochs,
                    batch_size=batch_size, lr=lr, seed=seed, augment=augment, max_steps=max_steps)
    found = None if retrain else find_saved_zaps(meta, zap_dir)
    if found is not None:
        loaded = load_zaps(net, found, meta)
        _log(f"using trained ZAPs from {found} (key {meta['key'][:12]})", progress)
        return {"file": str(found), "reused": True, "key": meta["key"], "meta": meta,
                "loss_per_epoch": loaded["history"]}
    _log(f"training {len(net.zap_layers)} ZAPs ({pname}) on {len(train_images)} images, {epochs} epochs", progress)
    t0 = time.perf_counter()
    history = train_zaps(net, train_images, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, augment=augment,
                         device=device, max_steps=max_steps, progress=progress)
    seconds = time.perf_counter() - t0
    path = save_zaps(net, meta, zap_dir, history) if save else None
    if path:
        _log(f"saved trained ZAPs to {path}", progress)
    return {"file": str(path) if path else None, "reused": False, "key": meta["key"], "meta": meta,
            "loss_per_epoch": history, "train_seconds": round(seconds, 1)}


def trace_model(model: torch.nn.Module, eval_images: ImageSet, *, train_images: ImageSet, out: str | Path,
                model_info: dict[str, Any] | None = None, pattern: Any = "checkerboard",
                thresholds: Sequence[float] = DEFAULT_THRESHOLDS, budgets: Sequence[float] = DEFAULT_BUDGETS,
                epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"], seed: int = 0,
                trace_images: int | None = 100, calib_images: int = 2000, eval_batch_size: int = 100,
                device: str = "cpu", zap_dir: str | Path | None = None, retrain: bool = False,
                overwrite: bool = False, progress: bool = True, allow_overlap: bool = False,
                max_zap_mac_share: float | None = MAX_ZAP_MAC_SHARE) -> dict[str, Any]:
    """Attach and train ZAPs, evaluate every operating point on ``eval_images`` and write a trace to ``out``.

    Operating points: 'dense' (no ZAP), one uniform threshold per entry of
    ``thresholds`` ('t0.10'), and per-layer thresholds for each error budget
    in ``budgets`` ('budget0.05').  Accuracy is measured on all evaluation
    images; masks are written for the first ``trace_images`` (None = all).
    Returns ``{"path", "rows", "zaps", "seconds"}``.

    Everything that can be refused is refused before any training: the
    network's layers (:class:`ZapNet`), and evaluation images that also occur
    among the training images (unless ``allow_overlap``; the manifest's
    ``dataset.overlap`` then records it).  ``max_zap_mac_share``: a ZAP costing
    more than this share of its layer's MACs is not placed (None: no limit).
    """
    t_start = time.perf_counter()
    out = Path(out)
    check_target(out, overwrite, "trace directory")  # fail before any work
    model_info = dict(model_info or {"name": type(model).__name__})
    n_eval = len(eval_images)
    n_trace = n_eval if trace_images is None else int(trace_images)
    if not 1 <= n_trace <= n_eval:
        raise ZapsimError(f"trace images must be between 1 and the {n_eval} evaluation images, got {trace_images}")
    if any(b <= 0 for b in budgets):
        raise ZapsimError(f"error budgets must be > 0, got {list(budgets)}")
    # --- refusals, all before any training (issue 11.4, 11.5)
    overlap = image_overlap(eval_images, train_images)
    if overlap_text(overlap) and not allow_overlap:
        raise ZapsimError(f"evaluation and ZAP-training images overlap: {overlap_text(overlap)}; use disjoint sets, "
                          "or allow_overlap=True (--allow-overlap) to trace anyway (the manifest then says so)")
    overlap["allowed"] = bool(allow_overlap)
    example = to_tensor(eval_images.images[:1], *image_norm(eval_images.info)).to(device)
    model = model.to(device).eval()
    net = ZapNet(model, example, max_zap_mac_share=max_zap_mac_share).to(device)
    if not net.zap_layers:
        why = "; ".join(f"{l.name}: {l.reason}" for l in net.layers if l.kind == "conv")
        raise ZapsimError(f"{model_info.get('name')}: no layer qualifies for a ZAP ({why})")
    for l in net.layers:
        if l.kind == "conv" and not l.zap_eligible:
            _log(f"placement: {l.name}: {l.reason}", progress)
    zinfo = prepare_zaps(net, model_info, train_images, pattern=pattern, epochs=epochs, batch_size=batch_size,
                         seed=seed, device=device, zap_dir=zap_dir, retrain=retrain, progress=progress)
    layers = net.trace_layers()
    zap_names = [net.layers[i].name for i in net.zap_layers]

    ops: list[tuple[OperatingPoint, dict[str, float] | None]] = [(OperatingPoint("dense", "dense", None,
                                                                               label="no ZAP"), None)]
    for t in thresholds:
        thr = dict.fromkeys(zap_names, float(t))
        ops.append((OperatingPoint(uniform_op_id(t), "uniform", thr, label=f"uniform threshold {t:g}"), thr))
    calib_info: dict[str, Any] = {}
    if budgets:
        calib_set = train_images.subset(calib_images)
        _log(f"calibrating per-layer curves on {len(calib_set)} training images", progress)
        calib = calibrate(net, calib_set, device=device, progress=progress)
        calib_info = {"images": {k: calib_set.info.get(k) for k in ("name", "source", "indices")},
                      "grid": [float(calib[zap_names[0]]["theta"][0]), float(calib[zap_names[0]]["theta"][-1]),
                               len(calib[zap_names[0]]["theta"])]}
        macs = {l.name: l.macs for l in layers if l.name in calib}
        for e in budgets:
            thr, info = per_layer_thresholds(calib, macs, float(e))
            op = OperatingPoint(budget_op_id(e), "per_layer", thr, label=f"per-layer thresholds, sum Err_l <= {e:g}")
            op.stats["optimisation"] = info
            if not info["feasible"]:
                why = (f"below the least reachable sum of Err_l ({info['min_reachable_sum_err']:.3f}, every "
                       "threshold at -1)" if info["min_reachable_sum_err"] > e else f"not met ({info['message']})")
                _log(f"warning: budget {e:g} is {why}; '{op.id}' uses the closest point SLSQP found", progress)
            ops.append((op, thr))
    ids = [o.id for o, _ in ops]
    if len(set(ids)) != len(ids):
        raise ZapsimError(f"operating point ids repeat: {ids} (thresholds or budgets too close)")

    images_desc = _images_desc(eval_images)
    dataset = {
        "name": eval_images.info.get("name"),
        "source": eval_images.info.get("source"),
        "trace_images": f"the first {n_trace} evaluation images ({_range_text(eval_images, n_trace)})",
        "trace_indices": _indices(eval_images, n_trace),
        "accuracy_images": images_desc,
        "accuracy_indices": _indices(eval_images, n_eval),
        "zap_training_images": _images_desc(train_images),
        "zap_training_source": train_images.info.get("source"),
        "zap_training_indices": train_images.info.get("indices"),
        "calibration": calib_info or None,
        "preprocessing": eval_images.info.get("preprocessing", PREPROCESSING),
        "disjoint": ("ZAP training and threshold calibration images are disjoint from the evaluation images"
                     if not overlap_text(overlap) else
                     f"NOT disjoint (allowed by the user): {overlap_text(overlap)}"),
        "overlap": overlap,
    }
    model_json = {k: v for k, v in model_info.items() if k != "weights_path"}
    share = None if max_zap_mac_share is None or max_zap_mac_share == float("inf") else float(max_zap_mac_share)
    extra = {"zaps": {k: v for k, v in zinfo.items() if k != "meta"} | {"settings": zinfo["meta"]}
             | {"file": portable_zap_file(zinfo["file"])}
             | {"placement": {l.name: l.reason for l in net.layers}, "max_zap_mac_share": share},
             "tracer": {"seed": seed, "device": device, "eval_batch_size": eval_batch_size}}
    rows = []
    with TraceWriter(out, layers=layers, num_images=n_trace, model=model_json, dataset=dataset,
                     overwrite=overwrite, extra=extra) as tw:
        base_pred = None
        base: dict[str, Any] = {}
        for op, thr in ops:
            tw.add_operating_point(op)
            r = evaluate_op(net, layers, eval_images, thr, writer=tw, op_id=op.id, trace_images=n_trace,
                            batch_size=eval_batch_size, device=device, baseline_pred=base_pred, progress=progress)
            acc = r["accuracy"]
            if op.kind == "dense":
                base_pred, base = r["pred"], acc
            acc["top1_change"] = acc["top1"] - base["top1"]
            acc["top5_change"] = acc["top5"] - base["top5"]
            acc["images"] = images_desc
            op.accuracy = acc
            op.stats.update(r["stats"])
            rows.append(_row(op))
            _log(f"{op.id:>12}: top-1 {100 * acc['top1']:.2f}% ({100 * acc['top1_change']:+.2f}), "
                 f"MAC reduction {100 * op.stats.get('mac_reduction', 0):.1f}% "
                 f"(net of ZAP {100 * op.stats.get('mac_reduction_net_of_zap', 0):.1f}%)", progress)
        # the writer holds this same dict and serialises it at commit
        extra["tracer"]["seconds"] = round(time.perf_counter() - t_start, 1)
    return {"path": out, "rows": rows, "zaps": zinfo, "seconds": time.perf_counter() - t_start}


def _indices(images: ImageSet, count: int) -> Any:
    ind = images.info.get("indices")
    if isinstance(ind, list) and len(ind) == 2:
        return [ind[0], ind[0] + count - 1]
    return [0, count - 1]


def _range_text(images: ImageSet, count: int) -> str:
    a, b = _indices(images, count)
    return f"indices {a}..{b} of {images.info.get('source', 'the evaluation set')}"


def _images_desc(images: ImageSet) -> str:
    exact = "exact pixels" if images.info.get("exact") else "lossy copy"
    return f"{len(images)} images of {images.info.get('name')} ({_range_text(images, len(images))}; {exact})"


def _row(op: OperatingPoint) -> dict[str, Any]:
    thr = op.thresholds
    if thr is None:
        ttext = "-"
    else:
        vals = sorted(set(thr.values()))
        ttext = f"{vals[0]:g}" if len(vals) == 1 else f"{min(vals):.2f}..{max(vals):.2f}"
    return {
        "op": op.id,
        "thresholds": ttext,
        "top1": op.accuracy["top1"],
        "top1_change": op.accuracy["top1_change"],
        "top5": op.accuracy["top5"],
        "mac_reduction": op.stats.get("mac_reduction", 0.0),
        "mac_reduction_net_of_zap": op.stats.get("mac_reduction_net_of_zap", 0.0),
    }
