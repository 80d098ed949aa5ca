"""The ZAP module: parameter count, patterns on large and small maps, masks, loss (no real data needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zapsim.errors import ZapsimError
from zapsim.trace.zap import ZAP


@pytest.mark.parametrize("c", [1, 16, 64])
def test_parameter_count_is_24c(c):
    # two depthwise 3x3 convs with bias (10 per channel each) + two BatchNorms (2 affine per channel each)
    assert sum(p.numel() for p in ZAP(c).parameters()) == 24 * c


@pytest.mark.parametrize(
    "pattern,h,w,computed",
    [
        ("checkerboard", 32, 32, 512),  # exactly half
        ("checkerboard", 7, 7, 25),  # odd map: (0,0) anchored, the corners are computed
        ("p33", 30, 30, 300),  # exactly a third
        ("p33", 8, 8, 21),  # rows 0,3,6 give 2 each, rows 1,4,7 and 2,5 give 3 each: 6 + 9 + 6
        ("p60", 30, 30, 540),
        ("p60", 8, 8, 38),  # 64 - 26 predicted (row/col residues 0..2 occur twice, 3..4 once)
        ("p40", 30, 30, 360),
        ("p40", 8, 8, 26),  # the complement of p60
    ],
)
def test_pattern_fractions_large_and_small_maps(pattern, h, w, computed):
    m = ZAP(4, pattern).computed_first(h, w)
    assert m.dtype == torch.bool and tuple(m.shape) == (h, w)
    assert int(m.sum()) == computed
    # (0,0) is computed first in checkerboard and p60, predicted in p40 and p33 (anti-diagonal only)
    assert bool(m[0, 0]) == (pattern in ("checkerboard", "p60"))


def test_user_pattern_and_bad_pattern():
    z = ZAP(2, [[1, 1, 0]], pattern_name="custom:110")
    assert z.computed_first(2, 6).int().tolist() == [[1, 1, 0, 1, 1, 0]] * 2
    with pytest.raises(ZapsimError):
        ZAP(2, [[1, 1], [1, 1]])
    with pytest.raises(ZapsimError):
        ZAP(2, "p50")


def test_computed_first_always_computed_and_thresholds_nest():
    torch.manual_seed(0)
    z = ZAP(8, "p33").eval()
    ofm = torch.relu(torch.randn(3, 8, 11, 13))
    s = z.score(ofm)
    i_s = z.computed_first(11, 13)
    prev = None
    for t in [float("-inf"), -1.0, -0.2, 0.0, 0.3, 1.0, float("inf")]:
        m = z.computed_mask(ofm, t, s)
        assert m[:, :, i_s].all()
        if prev is not None:
            assert not (m & ~prev).any()  # a higher threshold never computes more
        prev = m
    assert int(prev.sum()) == int(i_s.sum()) * 3 * 8  # +inf: exactly I_s
    assert z.computed_mask(ofm, float("-inf"), s).all()


def test_score_reads_only_computed_first_values():
    torch.manual_seed(1)
    z = ZAP(3, "checkerboard").eval()
    a = torch.relu(torch.randn(2, 3, 6, 6))
    b = a.clone()
    t = ~z.computed_first(6, 6)
    b[:, :, t] = 123.0  # change only the predicted positions
    assert torch.equal(z.score(a), z.score(b))


def test_loss_closed_form():
    """With S forced to a constant s, loss = (fraction of I_t) * mean over I_t of (clamp(s) - T)^2."""
    z = ZAP(1, "checkerboard").eval()
    with torch.no_grad():
        for conv in (z.dw1, z.dw2):
            conv.weight.zero_()
            conv.bias.zero_()
        z.dw2.bias.fill_(0.25)  # bn2 in eval with default stats: S = 0.25 / sqrt(1 + eps)
    ofm = torch.zeros(1, 1, 2, 2)
    ofm[0, 0, 0, 1] = 2.0  # one nonzero at I_t position (0,1); (1,0) is zero
    s = 0.25 / np.sqrt(1 + 1e-5)
    expect = ((s - 1) ** 2 + (s - 0) ** 2) / 4  # I_s elements contribute 0
    assert float(z.loss(ofm).detach()) == pytest.approx(expect, rel=1e-6)

