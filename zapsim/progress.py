"""Progress bars: tqdm with rate and ETA on a terminal, nothing in a log file or a pipe.

Every long loop in zapsim (training, evaluation, simulation, sweeps) takes
its bar from :func:`progress_bar`, so the rule "bars only on terminals" has
one home.  ``ZAPSIM_PROGRESS=1`` forces bars on (for example under a CI
that renders carriage returns), ``ZAPSIM_PROGRESS=0`` forces them off.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def bars_enabled(requested: bool = True, stream: Any = None) -> bool:
    """Whether a bar should be drawn: asked for, and stderr (or ``stream``) is a terminal, unless overridden."""
    if not requested:
        return False
    force = os.environ.get("ZAPSIM_PROGRESS", "").strip()
    if force in ("0", "1"):
        return force == "1"
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def progress_bar(total: int | None, desc: str, unit: str, *, enabled: bool = True, leave: bool = False, **kw: Any):
    """A tqdm bar on stderr (rate and ETA) that is disabled off a terminal; use as a context manager or call close()."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not bars_enabled(enabled), leave=leave,
                dynamic_ncols=True, **kw)
