"""Shared fixtures: real data from ZAPSIM_DATA (skip with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def zapsim_data() -> Path:
    """The real-data directory (``$ZAPSIM_DATA``), or skip the test saying how to provide it."""
    root = os.environ.get("ZAPSIM_DATA")
    if not root:
        pytest.skip("needs real weights/images: set ZAPSIM_DATA to the shared data directory (README, 'Data')")
    path = Path(root)
    needed = [path / "weights" / "resnet20-12fca82f.th", path / "cifar10" / "cifar10_test_first1017.npz"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"ZAPSIM_DATA={root} lacks {', '.join(missing)}")
    return path
