"""Computed-first patterns of the ZAP method (NumPy only, shared by tracer and simulator).

A pattern is a periodic binary matrix P anchored at (0, 0): P = 1 marks an
output computed first (set I_s), P = 0 one whose value is predicted (I_t).
The four patterns of the reference work (Shomron et al., ECCV 2020) are
built in; a user may give any 0/1 matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import ZapsimError

# Predicted positions (row mod p, col mod p) of the 5x5 pattern that computes 60% first.
_P60_PREDICTED = [(0, 2), (0, 4), (1, 1), (1, 3), (2, 0), (2, 2), (3, 1), (3, 4), (4, 0), (4, 3)]


def _build() -> dict[str, np.ndarray]:
    cb = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    p60 = np.ones((5, 5), dtype=np.uint8)
    for r, c in _P60_PREDICTED:
        p60[r, c] = 0
    p40 = 1 - p60
    p33 = np.zeros((3, 3), dtype=np.uint8)
    for r, c in [(0, 2), (1, 1), (2, 0)]:
        p33[r, c] = 1
    return {"checkerboard": cb, "p60": p60, "p40": p40, "p33": p33}


PATTERNS: dict[str, np.ndarray] = _build()


def pattern_matrix(name_or_matrix: str | Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """The 0/1 period matrix of a named pattern, or a validated copy of a user matrix."""
    if isinstance(name_or_matrix, str):
        if name_or_matrix not in PATTERNS:
            raise ZapsimError(
                f"unknown pattern '{name_or_matrix}'; built in: {', '.join(PATTERNS)} "
                "(or give a small 0/1 matrix such as [[1,0],[0,1]])"
            )
        return PATTERNS[name_or_matrix].copy()
    m = np.asarray(name_or_matrix)
    if m.ndim != 2 or m.size == 0 or not np.isin(m, (0, 1)).all():
        raise ZapsimError(f"a pattern must be a non-empty 2-D matrix of 0s and 1s, got {name_or_matrix!r}")
    if m.sum() == 0:
        raise ZapsimError("a pattern must compute at least one position first (all zeros given)")
    if m.all():
        raise ZapsimError("a pattern must leave at least one position to predict (all ones given)")
    return m.astype(np.uint8)


def computed_first_mask(pattern: str | Sequence[Sequence[int]] | np.ndarray, height: int, width: int) -> np.ndarray:
    """The (height, width) boolean map of I_s: ``P[y mod p_h, x mod p_w]``."""
    p = pattern_matrix(pattern).astype(bool)
    reps = (math.ceil(height / p.shape[0]), math.ceil(width / p.shape[1]))
    return np.tile(p, reps)[:height, :width]


def parse_pattern_arg(text: str) -> tuple[str, np.ndarray]:
    """Parse a CLI pattern: a built-in name, or rows of 0/1 separated by '/' (e.g. '10/01')."""
    if text in PATTERNS:
        return text, pattern_matrix(text)
    rows = text.split("/")
    if all(r and set(r) <= {"0", "1"} for r in rows) and len({len(r) for r in rows}) == 1:
        return "custom:" + text, pattern_matrix([[int(ch) for ch in r] for r in rows])
    raise ZapsimError(
        f"pattern '{text}' is neither a built-in ({', '.join(PATTERNS)}) nor rows of 0/1 separated by '/' (e.g. 10/01)"
    )
