"""Files that ship with zapsim: the architecture configs and the default trace, in a checkout or a wheel.

In a checkout they are the top-level ``arch_configs/`` and ``traces/default``;
an installed wheel carries the same files as package data under
``zapsim/bundled/`` (``setup.py`` maps the two folders there, so the checkout
keeps its layout).  :func:`bundled_dir` finds whichever is present, so
``python -m zapsim.run eyeriss_like`` works from any directory.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import ConfigError

_PKG = Path(__file__).resolve().parent
_CHECKOUT = _PKG.parent
BUNDLED = ("arch_configs", "traces")


def bundled_dir(name: str) -> Path:
    """The folder ``name`` (``arch_configs`` or ``traces``): the checkout's if zapsim runs from one, else the wheel's."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled folder {name!r}; bundled: {', '.join(BUNDLED)}")
    here = _CHECKOUT / name
    if (_CHECKOUT / "pyproject.toml").is_file() and here.is_dir():
        return here
    return _PKG / "bundled" / name


def bundled_configs() -> dict[str, Path]:
    """Bundled architecture configs by name (file stem), sorted."""
    d = bundled_dir("arch_configs")
    return {p.stem: p for p in sorted(d.glob("*.yaml"))} if d.is_dir() else {}


def default_trace() -> Path:
    """The bundled default trace (``traces/default``)."""
    return bundled_dir("traces") / "default"


def resolve_config(arg: str) -> Path:
    """A config argument as a path: an existing file, else the bundled config of that name (``eyeriss_like``)."""
    p = Path(arg)
    if p.is_file():
        return p
    configs = bundled_configs()
    if p.parent == Path(".") and (p.suffix in ("", ".yaml")) and p.stem in configs:
        return configs[p.stem]
    if p.parent != Path(".") or p.suffix not in ("", ".yaml"):
        hint = ""
        parent = p.parent if str(p.parent) else Path(".")
        if parent.is_dir():
            names = [q.name for q in parent.iterdir() if q.suffix in (".yaml", ".cfg")]
            close = difflib.get_close_matches(p.name, names, n=1, cutoff=0.5)
            if close:
                hint = f"; did you mean {parent / close[0]}?"
        raise ConfigError(f"{p}: no such architecture config file{hint}")
    close = difflib.get_close_matches(p.stem, list(configs), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"{arg}: neither a file nor a bundled config{hint} (bundled: {', '.join(configs) or 'none'})")
