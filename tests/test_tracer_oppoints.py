"""Operating points: list parsing, logistic fits and the SLSQP per-layer thresholds (closed forms)."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.errors import ZapsimError
from zapsim.trace.operating_points import (
    GRID,
    budget_op_id,
    fit_logistic,
    logistic4,
    parse_float_list,
    per_layer_thresholds,
    uniform_op_id,
)


def test_parse_float_list():
    assert parse_float_list("0,0.1, 0.25", "--thresholds") == [0.0, 0.1, 0.25]
    assert parse_float_list("-0.5", "--thresholds") == [-0.5]
    for bad, frag in [("0,,1", "comma-separated"), ("0,x", "'x' is not a number"), ("0,nan", "not finite"),
                      ("0.1,0.1", "repeat"), ("", "comma-separated")]:
        with pytest.raises(ZapsimError, match=frag):
            parse_float_list(bad, "--thresholds")


def test_op_ids():
    assert [uniform_op_id(t) for t in (0, 0.1, 0.25, -0.2)] == ["t0.00", "t0.10", "t0.25", "t-0.20"]
    assert [budget_op_id(e) for e in (0.05, 0.1, 0.2)] == ["budget0.05", "budget0.1", "budget0.2"]


def test_fit_recovers_a_logistic():
    p = (0.9, 6.0, 0.1, 0.45)
    y = logistic4(GRID, *p)
    f = fit_logistic(GRID, y)
    assert f.rmse < 1e-6
    assert np.allclose(f(GRID), y, atol=1e-5)
    # analytic derivative against a finite difference
    h = 1e-6
    assert f.grad(0.2) == pytest.approx((f(0.2 + h) - f(0.2 - h)) / (2 * h), rel=1e-4)


def _curves(mac_p, err_p):
    return {"computed_fraction": logistic4(GRID, *mac_p), "err": logistic4(GRID, *err_p), "theta": GRID}


def test_identical_layers_split_the_budget_equally():
    """Two identical layers of equal MACs: by symmetry each gets Err = E/2, so theta = Err^-1(E/2)."""
    mac_p, err_p = (1.0, 5.0, 0.0, 0.5), (0.0, 5.0, 0.3, 0.4)  # computed falls 1 -> 0.5, Err rises 0 -> 0.4
    calib = {"a": _curves(mac_p, err_p), "b": _curves(mac_p, err_p)}
    budget = 0.1
    thr, info = per_layer_thresholds(calib, {"a": 100, "b": 100}, budget)
    # invert Err(theta) = d + (a - d) / (1 + exp(b (theta - c))) at E/2
    a, b, c, d = err_p
    theta = c + np.log((a - d) / (budget / 2 - d) - 1) / b
    assert thr["a"] == pytest.approx(theta, abs=2e-3) and thr["b"] == pytest.approx(theta, abs=2e-3)
    assert info["fitted_sum_err"] == pytest.approx(budget, abs=1e-4)


def test_bigger_layer_gets_more_of_the_budget_and_budgets_are_monotone():
    mac_p, err_p = (1.0, 5.0, 0.0, 0.5), (0.0, 5.0, 0.3, 0.4)
    calib = {"big": _curves(mac_p, err_p), "small": _curves(mac_p, err_p)}
    macs = {"big": 1000, "small": 10}
    thr, _ = per_layer_thresholds(calib, macs, 0.1)
    assert thr["big"] > thr["small"]
    costs = []
    for e in (0.02, 0.1, 0.3):
        _, info = per_layer_thresholds(calib, macs, e)
        assert info["fitted_sum_err"] <= e + 1e-6
        costs.append(info["fitted_computed_fraction_zap_layers"])
    assert costs[0] > costs[1] > costs[2]


def test_budget_below_reachable_is_flagged():
    """Err(-1) = 0.4 - 0.4 / (1 + exp(-6.5)) per layer (about 6e-4): no budget below twice that is reachable."""
    mac_p, err_p = (1.0, 5.0, 0.0, 0.5), (0.0, 5.0, 0.3, 0.4)
    calib = {"a": _curves(mac_p, err_p), "b": _curves(mac_p, err_p)}
    err_min = 2 * logistic4(-1.0, *err_p)
    _, ok = per_layer_thresholds(calib, {"a": 1, "b": 1}, err_min * 1.5)
    assert ok["feasible"] and ok["min_reachable_sum_err"] == pytest.approx(err_min, rel=1e-3)
    thr, bad = per_layer_thresholds(calib, {"a": 1, "b": 1}, err_min * 0.5)
    assert not bad["feasible"]
