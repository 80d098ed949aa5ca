"""An architecture named on a command line: a YAML file, a bundled config by name, or a SCALE-Sim ``.cfg``.

Shared by ``python -m zapsim.run``, the Timeloop export and the ``zapsim``
command, so every command takes the same forms.  Imports only the config
readers (no Numba, no torch).
"""

from __future__ import annotations

from pathlib import Path

from ..bundled import resolve_config
from ..errors import ZapsimError


def load_arch_arg(config: str | None, scalesim_cfg: str | None = None):
    """The architecture named on the command line and the notes about it (a SCALE-Sim .cfg's unused keys)."""
    from .arch import load_arch

    if config is not None and scalesim_cfg is not None:
        raise ZapsimError("give either CONFIG or --scalesim-cfg FILE, not both")
    if scalesim_cfg is not None or (config is not None and Path(config).suffix.lower() == ".cfg"):
        from .scalesim import load_scalesim_cfg

        return load_scalesim_cfg(scalesim_cfg or config)
    if config is None:
        raise ZapsimError("give an architecture: CONFIG (a YAML file, a bundled name such as eyeriss_like, or a "
                          "SCALE-Sim .cfg) or --scalesim-cfg FILE (see python -m zapsim.run --help)")
    return load_arch(resolve_config(config)), []
