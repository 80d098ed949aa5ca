"""Evaluate one operating point with every ZAP on at once, so skips propagate as in a deployed network.

For each image batch the network runs with its thresholds set; a recorder
sees every layer's actual input, the full output its ZAP covers (given the
real, already-skipped upstream inputs) and the ZAP's computed mask.  From
those it accumulates top-1/top-5, per-layer statistics on the predicted set
I_t (the four prediction categories, skipped fraction, activation mass lost
Err_l, a histogram of wrongly skipped values) and MAC counts, and streams
the masks of the first ``trace_images`` images into a :class:`TraceWriter`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..progress import progress_bar
from ..trace_format import TraceLayer, TraceWriter
from .data import ImageSet, image_norm, to_tensor
from .placement import ZapNet

# Bin edges of the histogram of wrongly skipped activation values (nonzero predicted zero).
WRONG_SKIP_EDGES = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, float("inf")]
MAC_DENOMINATOR = "dense MACs of all conv and FC layers (per image, summed over the evaluation images)"


class _LayerAcc:
    """Per-layer sums over the evaluation images."""

    def __init__(self):
        self.n = 0
        self.elements = 0  # C*H*W summed over images
        self.predicted = 0  # |I_t| * C summed over images
        self.cat = {"nonzero_pred_zero": 0, "zero_pred_zero": 0, "zero_pred_nonzero": 0, "nonzero_pred_nonzero": 0}
        self.skipped = 0
        self.mass = 0.0
        self.mass_lost = 0.0
        self.hist = np.zeros(len(WRONG_SKIP_EDGES) - 1, dtype=np.int64)
        self.zap_actual = 0  # the ZAP's MACs as the simulator counts them (zero inputs skipped), summed over images


class _EvalRecorder:
    def __init__(self, net: ZapNet, layers: list[TraceLayer], writer: TraceWriter | None, op_id: str,
                 write_first: int):
        self.net = net
        self.layers = layers
        self.writer = writer
        self.op_id = op_id
        self.write_first = write_first
        self.offset = 0  # index of the first image of the current batch
        self.acc = {i: _LayerAcc() for i in net.zap_layers}
        self.edges = torch.tensor(WRONG_SKIP_EDGES[1:-1], dtype=torch.float32)

    def _rows(self, batch: int) -> int:
        """How many images of the current batch go into the trace."""
        return max(0, min(batch, self.write_first - self.offset))

    def _write(self, i: int, kind: str, mask: torch.Tensor) -> None:
        rows = self._rows(mask.shape[0])
        if self.writer is None or rows == 0:
            return
        shape = self.layers[i].shape(kind)
        self.writer.append(self.op_id, i, kind, mask[:rows].reshape(rows, *shape).cpu().numpy())

    def inp(self, i, x):
        self._write(i, "in", x != 0)

    def out(self, i, x):
        self._write(i, "out", x != 0)

    def computed(self, i, x, m):
        self._write(i, "computed", m)
        a = self.acc[i]
        z = self.net.zap(i)
        t = ~z.computed_first(x.shape[2], x.shape[3], x.device)  # I_t
        nz = x != 0
        skip = ~m  # m contains I_s, so every skip is in I_t
        # Three reductions give all four categories (skip is a subset of I_t);
        # this runs for every layer, batch and operating point, so it matters.
        predicted = int(t.sum()) * x.shape[0] * x.shape[1]
        skipped = int(torch.count_nonzero(skip))
        nz_skip = int(torch.count_nonzero(nz & skip))
        nz_t = int(torch.count_nonzero(nz & t))
        a.n += x.shape[0]
        a.elements += x.numel()
        a.predicted += predicted
        a.cat["nonzero_pred_zero"] += nz_skip
        a.cat["zero_pred_zero"] += skipped - nz_skip
        a.cat["zero_pred_nonzero"] += predicted - nz_t - (skipped - nz_skip)
        a.cat["nonzero_pred_nonzero"] += nz_t - nz_skip
        a.skipped += skipped
        a.zap_actual += _zap_actual_macs(nz, t, predicted)
        a.mass += float(x.sum(dtype=torch.float64))
        a.mass_lost += float(x.masked_fill(m, 0).sum(dtype=torch.float64))
        wrong = x[nz & skip].float().cpu()
        if wrong.numel():
            a.hist += np.bincount(torch.bucketize(wrong, self.edges, right=True).numpy(), minlength=len(a.hist))


def _taps(n: int, device) -> torch.Tensor:
    """Output positions a value at each index feeds along one axis of a 3-tap, stride-1, pad-1 conv (3, 2 at an
    edge, 1 on a one-wide axis): the simulator's ``engine._taps_3x3``."""
    i = torch.arange(n, device=device)
    return 3 - (i == 0).to(torch.int64) - (i == n - 1).to(torch.int64)


def _zap_actual_macs(nz: torch.Tensor, t: torch.Tensor, predicted: int) -> int:
    """The ZAP's MACs for a batch as the simulator counts them with ``zap_unit.skip_zero_inputs`` (the shipped
    configs): conv 1 multiplies each nonzero of Z0 = ofm * P (nonzero outputs at the computed-first positions
    I_s) into the in-map positions of its 3x3 neighbourhood; conv 2 costs 9 per predicted position (I_t).  The
    tracer's other count, ``ZapSpec.macs``, is the dense upper bound 18 per position (``docs/results.md``)."""
    H, W = nz.shape[2], nz.shape[3]
    taps = _taps(H, nz.device)[:, None] * _taps(W, nz.device)[None, :]
    z0 = nz & ~t
    return int((z0.to(torch.int64) * taps).sum()) + 9 * predicted


def evaluate_op(net: ZapNet, layers: list[TraceLayer], images: ImageSet, thresholds: dict[str, float] | None, *,
                writer: TraceWriter | None = None, op_id: str = "op", trace_images: int = 0, batch_size: int = 100,
                device: str = "cpu", baseline_pred: np.ndarray | None = None, progress: bool = True
                ) -> dict[str, Any]:
    """Run the evaluation images through ``net`` at one operating point; returns accuracy, stats and predictions.

    ``thresholds=None`` is the dense network (no ZAP active).  The masks of the
    first ``trace_images`` images are appended to ``writer`` under ``op_id``.
    """
    net.set_thresholds(thresholds)
    rec = _EvalRecorder(net, layers, writer, op_id, trace_images if writer is not None else 0)
    net.set_recorder(rec)
    n = len(images)
    top1 = top5 = 0
    preds = np.empty(n, dtype=np.int64)
    bar = progress_bar(n, f"evaluate {op_id}", "img", enabled=progress)
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                rec.offset = start
                x = to_tensor(images.images[start:start + batch_size], *image_norm(images.info)).to(device)
                y = torch.from_numpy(images.labels[start:start + batch_size]).to(device)
                logits = net.gm(x)
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices
                top1 += int((top[:, 0] == y).sum())
                top5 += int((top == y[:, None]).any(dim=1).sum())
                preds[start:start + len(y)] = top[:, 0].cpu().numpy()
                bar.update(len(y))
    finally:
        net.set_recorder(None)
        net.set_thresholds(None)
        bar.close()
    acc: dict[str, Any] = {"top1": top1 / n, "top5": top5 / n, "num_images": n}
    if baseline_pred is not None:
        acc["agreement_with_dense"] = float((preds == baseline_pred).mean())
    return {"accuracy": acc, "stats": _stats(rec, layers, n) if thresholds is not None else {}, "pred": preds}


def _stats(rec: _EvalRecorder, layers: list[TraceLayer], n: int) -> dict[str, Any]:
    total_macs = sum(l.macs for l in layers) * n
    zap_layer_macs = 0
    skipped_macs = zap_cost = zap_actual = 0
    per_layer = {}
    for i, a in rec.acc.items():
        l = layers[i]
        assert l.zap is not None
        s_macs = a.skipped * l.macs_per_output
        z_macs = l.zap.macs * a.n
        skipped_macs += s_macs
        zap_cost += z_macs
        zap_actual += a.zap_actual
        zap_layer_macs += l.macs * a.n
        per_layer[l.name] = {
            "categories_on_predicted_set": {k: v / a.predicted for k, v in a.cat.items()},
            "category_counts": dict(a.cat),
            "predicted_elements": a.predicted,
            "skipped_fraction": a.skipped / a.elements,
            "err": a.mass_lost / a.mass if a.mass > 0 else 0.0,
            "mac_reduction": s_macs / (l.macs * a.n),
            "mac_reduction_net_of_zap": (s_macs - z_macs) / (l.macs * a.n),
            "zap_macs_fraction": z_macs / (l.macs * a.n),
            "zap_macs_actual_fraction": a.zap_actual / (l.macs * a.n),
            "wrong_skip_histogram": {"edges": WRONG_SKIP_EDGES[:-1] + ["inf"], "counts": a.hist.tolist()},
        }
    return {
        "mac_reduction": skipped_macs / total_macs,
        # two definitions of "net of ZAP" (docs/results.md): minus the ZAPs' dense upper bound (18 MACs per
        # position, ZapSpec.macs), and minus the ZAPs' actual MACs as the simulator counts them
        "mac_reduction_net_of_zap": (skipped_macs - zap_cost) / total_macs,
        "mac_reduction_net_of_zap_actual": (skipped_macs - zap_actual) / total_macs,
        "mac_denominator": MAC_DENOMINATOR,
        "mac_reduction_zap_layers": skipped_macs / zap_layer_macs if zap_layer_macs else 0.0,
        "mac_reduction_zap_layers_denominator": "dense MACs of the layers that carry a ZAP",
        "skipped_macs_per_image": skipped_macs / n,
        "zap_macs_per_image": zap_cost / n,
        "zap_macs_actual_per_image": zap_actual / n,
        "dense_macs_per_image": total_macs / n,
        "sum_err": sum(v["err"] for v in per_layer.values()),
        "layers": per_layer,
    }
