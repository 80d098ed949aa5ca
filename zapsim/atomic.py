"""Atomic output: write under a temporary name, then rename into place.

An interrupted run must never leave something that looks like a finished
result, and an existing result is only replaced when the caller asks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import ZapsimError


def check_target(path: Path, overwrite: bool, what: str = "output") -> None:
    """Refuse to replace an existing ``path`` unless ``overwrite`` is set."""
    if path.exists() and not overwrite:
        raise ZapsimError(f"{what} {path} already exists; pass --overwrite to replace it or choose another path")


def temp_sibling(path: Path, is_dir: bool) -> Path:
    """A fresh temporary name next to ``path`` (same filesystem, so rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    return Path(name)


def replace_into(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``path``; an old ``path`` is removed only after the move."""
    if path.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            raise ZapsimError(f"{path} already exists; pass --overwrite to replace it")
        trash = temp_sibling(path, is_dir=False)
        trash.unlink()
        os.replace(path, trash)
        os.replace(tmp, path)
        shutil.rmtree(trash, ignore_errors=True) if trash.is_dir() else trash.unlink(missing_ok=True)
    else:
        os.replace(tmp, path)


def write_text_atomic(path: Path, text: str, overwrite: bool = True) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    path = Path(path)
    tmp = temp_sibling(path, is_dir=False)
    try:
        tmp.write_text(text)
        replace_into(tmp, path, overwrite=overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    path = Path(path)
    tmp = temp_sibling(path, is_dir=False)
    try:
        tmp.write_bytes(data)
        replace_into(tmp, path, overwrite=overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
