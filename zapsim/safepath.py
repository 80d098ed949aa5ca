"""Closed-world file access: names checked against a safe pattern, files opened only inside their directory.

A trace names its mask files in its manifest; a results directory gets file
names built from operating-point ids and layer names.  Both come from files a
user may have been handed, so neither may reach outside the directory it
belongs to.  This module is the one place that decides:

- :func:`check_id` / :data:`SAFE_ID`: an id used as a file or directory name
  (operating-point ids): ``[A-Za-z0-9_.+-]{1,64}``, not ``.`` or ``..``;
- :func:`check_rel_path`: a relative path inside a directory (a manifest's
  ``files`` keys): ``/``-separated components of ``[A-Za-z0-9_.+-]``, no
  empty, ``.`` or ``..`` component, no absolute path, at most
  :data:`MAX_PATH_DEPTH` deep;
- :func:`open_inside`: opens such a path component by component from a
  directory file descriptor with ``O_NOFOLLOW``, so a symlink anywhere below
  the root (to a file, a directory or outside) is refused rather than
  followed, and the result must be a regular file (a FIFO, a device or a
  directory is refused without blocking on it);
- :func:`safe_file_name`: a file name derived from free text (a layer name),
  reduced to the safe characters.

The root directory itself is the user's choice and may be a symlink.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from .errors import ZapsimError, short

SAFE_ID = re.compile(r"^(?!\.+$)[A-Za-z0-9_.+-]{1,64}$")
SAFE_FILE = re.compile(r"^(?!\.)[A-Za-z0-9_.+-]{1,200}$")
_SAFE_COMPONENT = re.compile(r"^(?!\.+$)[A-Za-z0-9_.+-]{1,128}$")
MAX_PATH_DEPTH = 8
MAX_PATH_CHARS = 512

_HAS_DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")


def check_id(value: object, where: str, what: str = "id", error: type[ZapsimError] = ZapsimError) -> str:
    """``value`` if it is a safe id (:data:`SAFE_ID`), else ``error`` naming ``where`` and the value."""
    if not isinstance(value, str) or not SAFE_ID.match(value):
        raise error(f"{where}: {what} {short(value)} is not allowed; allowed: 1 to 64 of A-Z a-z 0-9 _ . + - "
                    "(not '.' or '..'), as it is used in file names")
    return value


def check_rel_path(rel: object, where: str, error: type[ZapsimError] = ZapsimError) -> str:
    """``rel`` if it is a safe relative path inside a directory, else ``error`` naming the problem."""
    if not isinstance(rel, str):
        raise error(f"{where}: a file path must be a string, got {short(rel)}")
    if not rel or len(rel) > MAX_PATH_CHARS:
        raise error(f"{where}: file path {short(rel)} must have 1 to {MAX_PATH_CHARS} characters")
    if rel.startswith("/") or "\\" in rel or (len(rel) > 1 and rel[1] == ":"):
        raise error(f"{where}: file path {short(rel)} is absolute; paths must be relative to the trace directory")
    parts = rel.split("/")
    if len(parts) > MAX_PATH_DEPTH:
        raise error(f"{where}: file path {short(rel)} is more than {MAX_PATH_DEPTH} directories deep")
    for part in parts:
        if part in ("", ".", "..") or not _SAFE_COMPONENT.match(part):
            why = "leaves the directory" if part == ".." else "has an empty, '.' or unsafe component"
            raise error(f"{where}: file path {short(rel)} {why} ({short(part)}); allowed: components of "
                        "A-Z a-z 0-9 _ . + - separated by '/', inside the directory")
    return rel


def check_file_name(name: object, where: str, error: type[ZapsimError] = ZapsimError) -> str:
    """``name`` if it is a plain file name to write (:data:`SAFE_FILE`: no '/', no leading '.'), else ``error``."""
    if not isinstance(name, str) or not SAFE_FILE.match(name):
        raise error(f"{where}: output file name {short(name)} is not allowed; allowed: 1 to 200 of "
                    "A-Z a-z 0-9 _ . + -, not starting with '.'")
    return name


def safe_file_name(text: str, limit: int = 100) -> str:
    """A file-name fragment from free text: unsafe characters become '_', cut to ``limit`` characters."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-+") else "_" for ch in str(text)[:limit])
    out = out.lstrip(".") or "_"
    return out


def open_inside(root: str | Path, rel: str, where: str | None = None,
                error: type[ZapsimError] = ZapsimError) -> int:
    """Open ``root/rel`` for reading without following any symlink below ``root``; return the file descriptor.

    ``rel`` must already pass :func:`check_rel_path`.  Refuses, with ``error``
    naming the path: a missing file, a symlink (anywhere below the root), a
    component that is not a directory, and anything but a regular file.
    """
    root = Path(root)
    full = root / rel
    where = where or str(full)
    parts = rel.split("/")
    if not _HAS_DIR_FD:  # no dir_fd/O_NOFOLLOW (not Linux/BSD/macOS): lstat each step instead
        p = root
        for part in parts:
            p = p / part
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                raise error(f"{where} is missing") from None
            if stat.S_ISLNK(st.st_mode):
                raise error(f"{where}: {p} is a symlink; files must lie inside the directory itself")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{where} is not a regular file")
        return os.open(p, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{root}: cannot open the directory ({exc.strerror})") from None
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                nfd = os.open(part, flags_dir, dir_fd=dfd)
            except OSError as exc:
                sub = "/".join(parts[: i + 1])
                if exc.errno == errno.ENOENT:
                    raise error(f"{where} is missing (no directory {sub})") from None
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    kind = "a symlink" if _is_link(root / sub) else "not a directory"
                    raise error(f"{where}: {sub} is {kind}; files must lie inside the directory itself, "
                                "symlinks are refused") from None
                raise error(f"{where}: cannot open {sub} ({exc.strerror})") from None
            os.close(dfd)
            dfd = nfd
        try:
            # O_NONBLOCK: opening a FIFO must not hang; the fstat below refuses it anyway.
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise error(f"{where} is missing") from None
            if exc.errno == errno.ELOOP or _is_link(full):
                raise error(f"{where} is a symlink; files must lie inside the directory itself, symlinks are "
                            "refused") from None
            raise error(f"{where} cannot be opened ({exc.strerror})") from None
    finally:
        os.close(dfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a special file (FIFO, socket or device)"
        raise error(f"{where} is {kind}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def _is_link(p: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(p).st_mode)
    except OSError:
        return False


def read_inside(root: str | Path, rel: str, *, max_bytes: int, where: str | None = None,
                error: type[ZapsimError] = ZapsimError) -> bytes:
    """The bytes of ``root/rel`` (see :func:`open_inside`), refusing a file larger than ``max_bytes``."""
    fd = open_inside(root, rel, where, error)
    where = where or str(Path(root) / rel)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise error(f"{where} has {size:,} bytes, more than the {max_bytes:,} allowed here")
        chunks = []
        left = max_bytes + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 24))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # grew while we read it
            raise error(f"{where} has more than the {max_bytes:,} bytes allowed here")
        return data
    finally:
        os.close(fd)


def file_size_inside(root: str | Path, rel: str, where: str | None = None,
                     error: type[ZapsimError] = ZapsimError) -> int:
    """Size of the regular file ``root/rel`` (see :func:`open_inside`) without reading it."""
    fd = open_inside(root, rel, where, error)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)
