"""Synthetic traces: masks of a chosen density and spatial correlation, no PyTorch.

For tests and benchmarks of the simulator on shapes no real model here has
(an ImageNet-sized ResNet-18, say).  The result is an ordinary trace,
marked ``"synthetic": true`` in its manifest with the parameters used.

How the masks are made, per image and layer (documented in
``docs/trace-format.md``):

* A Gaussian random field F over (C, H, W): white noise smoothed in space
  (not across channels) by a Gaussian of standard deviation ``correlation``
  pixels, normalised per channel.  ``out`` = F > c, with c chosen so that a
  fraction ``density`` of the elements is nonzero; larger ``correlation``
  gives larger zero clusters, as post-ReLU maps have.
* The ZAP's score at a predicted position is ``F - c + noise * N(0, 1)``; an
  operating point with threshold t computes the positions with score > t,
  plus every computed-first position.  Threshold 0 with ``noise`` 0 is a
  perfect predictor.
* ``in`` of the first layer has density ``input_density`` (1.0: a dense
  image).  A later layer whose input shape equals the previous layer's
  output shape receives exactly what that layer produced (``out & computed``
  of the same operating point), so ZAP skips propagate; any other layer gets
  its own field of density ``density``.  ``out`` fields do not depend on the
  operating point (a synthetic trace has no network to recompute them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from .errors import ZapsimError
from .trace_format import OperatingPoint, TraceLayer, TraceWriter


def correlated_field(rng: np.random.Generator, shape: tuple[int, int, int], correlation: float) -> np.ndarray:
    """Standard-normal-per-channel noise of ``shape`` (C, H, W), smoothed over H and W."""
    f = rng.standard_normal(shape, dtype=np.float32)
    if correlation > 0 and shape[1] * shape[2] > 1:
        f = gaussian_filter(f, sigma=(0, correlation, correlation), mode="wrap")
        std = f.std(axis=(1, 2), keepdims=True)
        f /= np.where(std > 0, std, 1)
    return f


def _density_cut(field: np.ndarray, density: float) -> float:
    if density >= 1.0:
        return -np.inf
    if density <= 0.0:
        return np.inf
    return float(np.quantile(field, 1.0 - density))


def op_id_for_threshold(t: float) -> str:
    """The operating-point id used for a uniform threshold ``t`` (e.g. 't0.10', 't-0.50')."""
    return f"t{t:.2f}"


def build_synthetic_trace(
    path: str | Path,
    layers: Sequence[TraceLayer],
    *,
    num_images: int = 1,
    density: float = 0.5,
    correlation: float = 2.0,
    noise: float = 0.3,
    thresholds: Sequence[float] = (0.0,),
    input_density: float = 1.0,
    seed: int = 0,
    overwrite: bool = False,
    compress: bool = True,
) -> Path:
    """Write a synthetic trace to ``path`` and return it.

    Operating points: ``dense`` (no ZAP), then one uniform op per threshold
    (ids from :func:`op_id_for_threshold`).  ZAP layers are the layers whose
    ``zap`` is set.  The same arguments give the same trace, bit for bit.
    """
    if not layers:
        raise ZapsimError("build_synthetic_trace needs at least one layer")
    for name, v in (("density", density), ("input_density", input_density)):
        if not 0.0 <= v <= 1.0:
            raise ZapsimError(f"{name} must be within [0, 1], got {v}")
    if correlation < 0 or noise < 0:
        raise ZapsimError(f"correlation and noise must be >= 0, got {correlation} and {noise}")
    thresholds = [float(t) for t in thresholds]
    ops = [OperatingPoint("dense", "dense", label="dense baseline")]
    zap_names = [l.name for l in layers if l.zap is not None]
    for t in thresholds:
        ops.append(
            OperatingPoint(op_id_for_threshold(t), "uniform", thresholds={n: t for n in zap_names}, label=f"uniform {t:g}")
        )
    params = {
        "density": density,
        "correlation": correlation,
        "noise": noise,
        "thresholds": thresholds,
        "input_density": input_density,
        "seed": seed,
    }
    with TraceWriter(
        path,
        layers=layers,
        num_images=num_images,
        model={"name": "synthetic"},
        dataset={"name": "synthetic", "images": list(range(num_images))},
        synthetic=True,
        overwrite=overwrite,
        compress=compress,
        extra={"synthetic_params": params},
    ) as tw:
        for op in ops:
            tw.add_operating_point(op)
        for img in range(num_images):
            _write_image(tw, layers, ops, img, density, correlation, noise, input_density, seed)
    return Path(path)


def _write_image(
    tw: TraceWriter,
    layers: Sequence[TraceLayer],
    ops: Sequence[OperatingPoint],
    img: int,
    density: float,
    correlation: float,
    noise: float,
    input_density: float,
    seed: int,
) -> None:
    produced: dict[str, np.ndarray] = {}  # op id -> what the previous layer produced
    for li, layer in enumerate(layers):
        # One generator per (seed, image, layer): the trace does not depend on
        # how many operating points or images are asked for.
        rng = np.random.default_rng([seed, img, li])
        out_field = correlated_field(rng, layer.out_shape, correlation)
        cut = _density_cut(out_field, density)
        out = out_field > cut
        chained = li > 0 and layers[li - 1].out_shape == layer.in_shape
        if not chained:
            in_d = input_density if li == 0 else density
            in_field = correlated_field(rng, layer.in_shape, correlation)
            fresh_in = in_field > _density_cut(in_field, in_d)
        score = None
        if layer.zap is not None:
            margin = out_field - (cut if np.isfinite(cut) else out_field.min() - 1.0)
            score = margin + noise * rng.standard_normal(layer.out_shape, dtype=np.float32)
            first = layer.zap.computed_first(layer.h_out, layer.w_out)[None]
        for op in ops:
            inp = produced[op.id] if chained else fresh_in
            tw.append(op.id, li, "in", inp[None])
            tw.append(op.id, li, "out", out[None])
            computed = None
            if score is not None and op.thresholds is not None:
                computed = first | (score > op.thresholds[layer.name])
                tw.append(op.id, li, "computed", computed[None])
            produced[op.id] = out if computed is None else out & computed
