"""The studies' own arithmetic (experiments/common.py, exp2's attribution), on hand-made results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402
import exp2_input_sparsity as exp2  # noqa: E402
from test_plot import fake_results  # noqa: E402

from zapsim import plot  # noqa: E402


def test_best_within_picks_lowest_energy_inside_the_budget():
    # skips 0.2 / 0.4 / 0.6 at top-1 91.5 / 90.0 / 85.0 against dense 91.64
    rows = C.summary(plot.validate_results(fake_results()))
    assert C.best_within(rows, 0.5, "uniform")["id"] == "u1"  # -0.14 points
    assert C.best_within(rows, 1.7, "uniform")["id"] == "u2"  # -1.64 points
    assert C.best_within(rows, 10, "uniform")["id"] == "u3"
    assert C.best_within(rows, 0.5, "per_layer") is None
    u1 = C.best_within(rows, 0.5)
    assert u1["dtop1"] == pytest.approx(91.5 - 91.64)
    assert u1["cycle_saving"] == pytest.approx(1 - 440 / 500)  # three ZAP layers at 80 of 100 cycles


def test_exp2_attribution_adds_up():
    def res(scale_dense, scale_zap):
        r = plot.validate_results(fake_results(points=((0.5, 0.91),)))
        for op, k in zip(r["operating_points"], (scale_dense, scale_zap)):
            op["total"]["energy_pj"]["total"] *= k
            op["total"]["cycles"] *= k
        return r

    runs = {"ignore": res(1.0, 1.0), "gate": res(0.8, 0.8), "skip": res(0.7, 0.7)}
    ref = plot.baseline_op(runs["ignore"])["total"]
    rows = exp2.decompose(runs, "u0", ref)
    by = {(r["with_zap"], r["mode"]): r for r in rows}
    zap_alone = by[(True, "ignore")]["energy_saving"]
    assert by[(False, "ignore")]["energy_saving"] == 0.0
    assert by[(False, "gate")]["energy_saving"] == pytest.approx(0.2)
    # ZAP under gating: 0.8 x the ZAP run's energy
    assert by[(True, "gate")]["energy_saving"] == pytest.approx(1 - 0.8 * (1 - zap_alone))
    text = exp2.attribution(rows)
    # interaction = combined - ZAP alone - gate alone = -0.2 * zap_alone
    assert C.pct(-0.2 * zap_alone) in text
