"""The four computed-first patterns of the method, and user patterns."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.errors import ZapsimError
from zapsim.patterns import PATTERNS, computed_first_mask, parse_pattern_arg, pattern_matrix


@pytest.mark.parametrize(
    "name, computed", [("checkerboard", 0.5), ("p60", 0.6), ("p40", 0.4), ("p33", 1 / 3)]
)
def test_computed_fraction_on_whole_periods(name, computed):
    # 30x30 holds whole periods of 2, 3 and 5, so the fraction is exact.
    assert computed_first_mask(name, 30, 30).mean() == pytest.approx(computed)


def test_p60_predicted_positions_and_p40_complement():
    predicted = {(0, 2), (0, 4), (1, 1), (1, 3), (2, 0), (2, 2), (3, 1), (3, 4), (4, 0), (4, 3)}
    p60 = PATTERNS["p60"]
    assert {(r, c) for r in range(5) for c in range(5) if p60[r, c] == 0} == predicted
    assert np.array_equal(PATTERNS["p40"], 1 - p60)
    # Each row and column of the 5x5 period predicts exactly two positions.
    assert (p60 == 0).sum(axis=0).tolist() == [2] * 5 and (p60 == 0).sum(axis=1).tolist() == [2] * 5


def test_anchored_at_origin_and_small_maps():
    m = computed_first_mask("checkerboard", 3, 3)
    assert m.tolist() == [[True, False, True], [False, True, False], [True, False, True]]
    assert computed_first_mask("checkerboard", 1, 1).tolist() == [[True]]  # a 1x1 map is all computed first
    assert computed_first_mask("p33", 3, 3).tolist() == [[False, False, True], [False, True, False], [True, False, False]]


def test_user_patterns():
    name, m = parse_pattern_arg("100/010/001")
    assert name == "custom:100/010/001" and m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert parse_pattern_arg("p40")[0] == "p40"
    with pytest.raises(ZapsimError, match="neither a built-in"):
        parse_pattern_arg("10/1")
    with pytest.raises(ZapsimError, match="at least one position to predict"):
        pattern_matrix([[1, 1]])
    with pytest.raises(ZapsimError, match="unknown pattern 'diag'"):
        pattern_matrix("diag")
