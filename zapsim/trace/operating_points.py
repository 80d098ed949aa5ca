"""Operating points: uniform thresholds, and per-layer thresholds for an error budget.

Per-layer thresholds follow the method (``../shared/docs/zap-method.md``):
measure, for each ZAP layer in isolation (clean inputs, other ZAPs off), the
fraction of the layer's outputs computed, MAC_l(theta), and the activation
mass lost, Err_l(theta) = 1 - sum(ofm*M)/sum(ofm), on a grid of thresholds;
fit each curve with a 4-parameter logistic; then minimise sum_l MACs_l *
MAC_l(theta_l) subject to sum_l Err_l(theta_l) <= E with SLSQP, theta in
[-1, 1].  The calibration images are the training split, never the images
accuracy is measured on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, curve_fit, minimize

from ..errors import ZapsimError
from ..progress import progress_bar
from .data import ImageSet, image_norm, to_tensor
from .placement import ZapNet

THETA_BOUNDS = (-1.0, 1.0)
GRID = np.round(np.linspace(-1.0, 1.0, 81), 6)


def parse_float_list(text: str, what: str) -> list[float]:
    """'0,0.1,0.2' -> [0.0, 0.1, 0.2]; a clear error naming the bad item otherwise."""
    items = [t.strip() for t in str(text).split(",")]
    if not text.strip() or any(t == "" for t in items):
        raise ZapsimError(f"{what} {text!r}: expected a comma-separated list of numbers, e.g. 0,0.1,0.2")
    out = []
    for t in items:
        try:
            v = float(t)
        except ValueError:
            raise ZapsimError(f"{what} {text!r}: {t!r} is not a number (expected e.g. 0,0.1,0.2)") from None
        if not math.isfinite(v):
            raise ZapsimError(f"{what} {text!r}: {t!r} is not finite")
        out.append(v)
    if len(set(out)) != len(out):
        raise ZapsimError(f"{what} {text!r}: values repeat")
    return out


def uniform_op_id(t: float) -> str:
    return f"t{t:.2f}" if t >= 0 else f"t-{abs(t):.2f}"


def budget_op_id(e: float) -> str:
    return f"budget{e:g}" if e >= 0.01 else f"budget{e:.4f}".rstrip("0")


# --------------------------------------------------------------------------- calibration


class _Collector:
    def __init__(self, wanted):
        self.wanted = set(wanted)
        self.ofm: dict[int, torch.Tensor] = {}

    def inp(self, i, x):
        pass

    def out(self, i, x):
        if i in self.wanted:
            self.ofm[i] = x

    def computed(self, i, x, m):
        pass


def calibrate(net: ZapNet, images: ImageSet, grid: np.ndarray = GRID, batch_size: int = 200, device: str = "cpu",
              progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Per ZAP layer, in isolation: fraction of outputs computed and Err at each threshold of ``grid``."""
    grid = np.asarray(grid, dtype=np.float64)
    g = torch.tensor(grid, dtype=torch.float32)
    layers = net.zap_layers
    counts = {i: np.zeros(len(grid) + 1) for i in layers}
    masses = {i: np.zeros(len(grid) + 1) for i in layers}
    total_mass = dict.fromkeys(layers, 0.0)
    elements = dict.fromkeys(layers, 0)
    always = dict.fromkeys(layers, 0)
    col = _Collector(layers)
    net.set_thresholds(None)
    net.set_recorder(col)
    bar = progress_bar(len(images), "calibrate thresholds", "img", enabled=progress)
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                x = to_tensor(images.images[start:start + batch_size], *image_norm(images.info)).to(device)
                net.gm(x)
                for i in layers:
                    ofm = col.ofm[i]
                    z = net.zap(i)
                    s = z.score(ofm)
                    t = ~z.computed_first(ofm.shape[2], ofm.shape[3], ofm.device)
                    st, vt = s[:, :, t].flatten(), ofm[:, :, t].flatten()
                    # bin k holds scores in (grid[k-1], grid[k]]: S > grid[k] <=> bin > k
                    idx = torch.bucketize(st, g, right=False).cpu().numpy()
                    counts[i] += np.bincount(idx, minlength=len(grid) + 1)
                    masses[i] += np.bincount(idx, weights=vt.double().cpu().numpy(), minlength=len(grid) + 1)
                    total_mass[i] += float(ofm.double().sum())
                    elements[i] += ofm.numel()
                    always[i] += ofm.numel() - st.numel()
                bar.update(x.shape[0])
    finally:
        net.set_recorder(None)
        bar.close()
    out = {}
    for i in layers:
        above_count = counts[i][::-1].cumsum()[::-1][1:]  # count with bin > k, k = 0..len(grid)-1
        below_mass = masses[i].cumsum()[:-1]  # mass with bin <= k, i.e. S <= grid[k]: skipped
        out[net.layers[i].name] = {
            "theta": grid,
            "computed_fraction": (always[i] + above_count) / elements[i],
            "err": below_mass / total_mass[i] if total_mass[i] > 0 else np.zeros(len(grid)),
        }
    return out


# --------------------------------------------------------------------------- fits


def logistic4(theta, a, b, c, d):
    """4-parameter logistic: d + (a - d) / (1 + exp(b * (theta - c)))."""
    return d + (a - d) / (1.0 + np.exp(np.clip(b * (theta - c), -60, 60)))


@dataclass
class Curve:
    params: tuple[float, float, float, float]
    rmse: float

    def __call__(self, theta):
        return logistic4(np.asarray(theta, dtype=np.float64), *self.params)

    def grad(self, theta):
        a, b, c, d = self.params
        e = np.exp(np.clip(b * (np.asarray(theta, dtype=np.float64) - c), -60, 60))
        return -(a - d) * b * e / (1.0 + e) ** 2


def fit_logistic(theta: np.ndarray, y: np.ndarray) -> Curve:
    """Least-squares 4-parameter logistic fit of a monotone curve y(theta)."""
    theta = np.asarray(theta, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a0, d0 = y[0], y[-1]
    mid = (a0 + d0) / 2
    c0 = float(theta[np.argmin(np.abs(y - mid))])
    best = None
    for b0 in (2.0, 5.0, 15.0, 40.0):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                p, _ = curve_fit(logistic4, theta, y, p0=(a0, b0, c0, d0), maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        rmse = float(np.sqrt(np.mean((logistic4(theta, *p) - y) ** 2)))
        if best is None or rmse < best.rmse:
            best = Curve(tuple(float(v) for v in p), rmse)
    if best is None:  # flat curve: constant
        best = Curve((float(y.mean()), 0.0, 0.0, float(y.mean())), float(np.std(y)))
    return best


def per_layer_thresholds(calib: dict[str, dict[str, np.ndarray]], layer_macs: dict[str, int], budget: float
                         ) -> tuple[dict[str, float], dict[str, Any]]:
    """Thresholds minimising the fitted MACs subject to sum of fitted Err_l <= ``budget`` (SLSQP)."""
    names = list(calib)
    mac_fits = [fit_logistic(calib[n]["theta"], calib[n]["computed_fraction"]) for n in names]
    err_fits = [fit_logistic(calib[n]["theta"], calib[n]["err"]) for n in names]
    w = np.array([layer_macs[n] for n in names], dtype=np.float64)
    w = w / w.sum()

    def cost(th):
        return float(sum(wi * f(t) for wi, f, t in zip(w, mac_fits, th)))

    def cost_grad(th):
        return np.array([wi * f.grad(t) for wi, f, t in zip(w, mac_fits, th)])

    def slack(th):
        return budget - float(sum(f(t) for f, t in zip(err_fits, th)))

    def slack_grad(th):
        return -np.array([f.grad(t) for f, t in zip(err_fits, th)])

    x0 = np.full(len(names), THETA_BOUNDS[0])
    res = minimize(cost, x0, jac=cost_grad, method="SLSQP", bounds=[THETA_BOUNDS] * len(names),
                   constraints=[{"type": "ineq", "fun": slack, "jac": slack_grad}],
                   options={"maxiter": 3000, "ftol": 1e-10})
    theta = np.clip(res.x, *THETA_BOUNDS)
    # the least sum of fitted Err reachable (every layer at the lowest threshold): a smaller budget is infeasible
    min_err = float(sum(f(THETA_BOUNDS[0]) for f in err_fits))
    info = {
        # a relative tolerance: SLSQP meets an active constraint only to about 1e-5
        "feasible": bool(budget - slack(theta) <= budget * (1 + 1e-3) + 1e-9),
        "min_reachable_sum_err": min_err,
        "budget": budget,
        "solver": "scipy SLSQP",
        "success": bool(res.success),
        "message": str(res.message),
        "fitted_sum_err": budget - slack(theta),
        "fitted_computed_fraction_zap_layers": cost(theta),
        "fit_rmse_max": {"computed_fraction": max(f.rmse for f in mac_fits), "err": max(f.rmse for f in err_fits)},
    }
    return {n: round(float(t), 6) for n, t in zip(names, theta)}, info
