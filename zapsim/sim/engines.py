"""The simulator's engines by name, and a version for each that changes when its source does.

``simulate(..., engine=NAME)`` and ``python -m zapsim.run --engine NAME``
take a name from :data:`ENGINES`.  :func:`engine_version` is a digest of the
zapsim version and every source file of ``zapsim/sim`` (and of the trace
reader the engines depend on), so caches keyed by it (the sweep's, the
studies') are recomputed when the model changes, never when only a
comment elsewhere does.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from ..errors import ZapsimError

#: name -> one line on what it is (shown by --help and in the docs)
ENGINES: dict[str, str] = {
    "analytical": "pass-level closed forms per layer (fast; docs/simulator.md says what it assumes)",
    "cycle": "cycle-level: PEs, FIFOs, buses, GLB banks, DRAM tiles and the ZAP unit with state in cycles "
             "(zapsim/sim/cycle/)",
}
DEFAULT_ENGINE = "analytical"

_SIM_DIR = Path(__file__).resolve().parent


def check_engine(name: str) -> str:
    """``name`` if it is an engine, else a ZapsimError naming the allowed ones."""
    if name not in ENGINES:
        raise ZapsimError(f"engine '{str(name)[:40]}': no such engine; allowed: {', '.join(ENGINES)}")
    return name


@cache
def engine_version(name: str) -> str:
    """A 16-hex-digit digest of the zapsim version, the engine's name and the simulator's source files."""
    from .. import __version__

    check_engine(name)
    h = hashlib.sha256(f"{__version__}\0{name}\0".encode())
    files = sorted(p for p in _SIM_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    files.append(_SIM_DIR.parent / "trace_format.py")
    for p in files:
        h.update(p.relative_to(_SIM_DIR.parent).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
