"""Atomic output: nothing lost, nothing mixed, nothing half-written that looks complete.

Single files (a figure, a cache entry) are written under a temporary name
beside the target and renamed over it (:func:`write_bytes_atomic`).

A directory of outputs (a run's ``--out``, a trace) is built whole in a
temporary directory beside the target, ``.NAME.tmp-XXXXXXXX``, and published
by :func:`publish_dir`:

- a new target: one rename;
- ``overwrite`` of an existing one: the new directory and the old one are
  exchanged in one step (Linux ``renameat2(RENAME_EXCHANGE)``), then the old
  one (now under the temporary name) is removed.  At every instant the target
  is either the old output or the new one, whole; stale files of the old one
  go with it.  Where the exchange is not available (another OS, a file system
  without it) the old directory is first renamed aside to ``.NAME.old-*`` and
  the new one renamed in; a process killed between the two leaves the old one
  there, and the next writer (or :func:`recover`) renames it back;
- publishing holds an exclusive lock on the parent directory, so two runs
  publishing to the same target one after the other leave the second one's
  output, whole; neither mixes files with the other.

A temporary directory is locked (``flock``) by its writer for as long as the
writer lives.  :func:`clean_stale` removes the ``.NAME.tmp-*`` and
``.NAME.old-*`` leftovers whose writer is gone (killed), so a killed run
never makes the next one fail; a live writer's directory is left alone.

Fault injection for tests: with ``ZAPSIM_FAULT=POINT`` in the environment
the process kills itself (SIGKILL, no clean-up) when it reaches ``POINT``
(see :func:`fault_point`); ``ZAPSIM_NO_EXCHANGE=1`` forces the fallback
without ``renameat2``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ZapsimError, short

FAULT_ENV = "ZAPSIM_FAULT"
NO_EXCHANGE_ENV = "ZAPSIM_NO_EXCHANGE"
# Output locations refused outright: pseudo file systems and devices.
_SYSTEM_ROOTS = ("/proc", "/sys", "/dev")


def fault_point(name: str) -> None:
    """Kill this process at once (SIGKILL) when ``$ZAPSIM_FAULT`` names this point; a no-op otherwise."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- checks before any work


def check_target(path: Path, overwrite: bool, what: str = "output") -> None:
    """Refuse to replace an existing ``path`` unless ``overwrite`` is set."""
    if os.path.lexists(path) and not overwrite:
        raise ZapsimError(f"{what} {path} already exists; pass --overwrite to replace it or choose another path")


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p):
        if p.parent == p:
            break
        p = p.parent
    return p


def check_writable_parent(path: Path, what: str = "--out") -> None:
    """Refuse a ``path`` that could not be created: an empty path, one under a file, under /proc, /sys or
    /dev, or in a directory this process cannot write.  Probes by creating (and removing) a directory."""
    if str(path) == "" or str(path).strip() == "":
        raise ZapsimError(f"{what} '': an empty path; give a directory name")
    real = os.path.realpath(path)
    for root in _SYSTEM_ROOTS:
        if real == root or real.startswith(root + "/"):
            raise ZapsimError(f"{what} {short(str(path))}: lies under {root}, which holds no ordinary files; "
                              "choose a directory on a disk")
    base = _nearest_existing(Path(os.path.abspath(path)).parent)
    if not base.is_dir():
        raise ZapsimError(f"{what} {short(str(path))}: {base} is a file, not a directory, so nothing can be "
                          "created under it")
    try:
        probe = tempfile.mkdtemp(prefix=".zapsim-probe-", dir=base)
        os.rmdir(probe)
    except OSError as exc:
        raise ZapsimError(f"{what} {short(str(path))}: cannot create anything in {base} ({exc.strerror}); "
                          "choose a writable directory") from None


def check_output_dir(path: str | Path, overwrite: bool, what: str = "--out",
                     looks_ours: Callable[[Path], bool] | None = None, kind: str = "zapsim output") -> Path:
    """Check, before any work, that the directory ``path`` can be (re)placed; return it as a Path.

    Refuses: an empty path; one under a file, /proc, /sys or /dev or in an
    unwritable directory; an existing non-directory; an existing non-empty
    directory without ``overwrite``; and with ``overwrite`` one that
    ``looks_ours`` does not recognise as an earlier output (so
    ``--out ~ --overwrite`` never replaces a home directory).
    """
    if path is None or str(path).strip() == "":
        raise ZapsimError(f"{what} '': an empty path; give a directory name")
    p = Path(path)
    check_writable_parent(p, what)
    if os.path.lexists(p):
        if p.is_symlink():
            raise ZapsimError(f"{what} {p} is a symlink; give the directory itself")
        if not p.is_dir():
            raise ZapsimError(f"{what} {p} exists and is not a directory")
        if any(p.iterdir()):
            if not overwrite:
                raise ZapsimError(f"{what} {p} already exists and is not empty; pass --overwrite to replace it "
                                  "or choose another directory")
            if looks_ours is not None and not looks_ours(p):
                raise ZapsimError(f"{what} {p} is not empty and does not hold a {kind}; --overwrite replaces the "
                                  "whole directory, so it only replaces an earlier one: choose a new or empty "
                                  "directory")
    return p


# --------------------------------------------------------------------------- locks and leftovers


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


@contextmanager
def parent_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``'s parent directory (publishers to one directory take turns)."""
    import fcntl

    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _leftovers(path: Path) -> list[Path]:
    parent = path.parent
    if not parent.is_dir():
        return []
    prefixes = (f".{path.name}.tmp-", f".{path.name}.old-")
    try:
        return sorted(q for q in parent.iterdir() if q.name.startswith(prefixes))
    except OSError:
        return []


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def clean_stale(path: Path, keep: Path | None = None) -> list[Path]:
    """Remove the leftovers of killed writers of ``path`` (unlocked ``.NAME.tmp-*`` / ``.NAME.old-*``),
    except ``keep``."""
    removed = []
    for q in _leftovers(path):
        if keep is not None and q == keep:
            continue
        try:
            fd = os.open(q, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue  # a live writer holds it
            _remove(q)
            removed.append(q)
        finally:
            os.close(fd)
    return removed


def recover(path: Path) -> bool:
    """If ``path`` is missing but a fallback swap left its old version at ``.NAME.old-*``, move it back."""
    if os.path.lexists(path):
        return False
    olds = [q for q in _leftovers(path) if q.name.startswith(f".{path.name}.old-") and q.is_dir()]
    if not olds:
        return False
    newest = max(olds, key=lambda q: q.stat().st_mtime_ns)
    fd = os.open(newest, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if not _try_lock(fd):
            return False
        os.rename(newest, path)
        return True
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class TempDir:
    """A locked temporary directory beside ``target`` (``.NAME.tmp-XXXXXXXX``), for building an output whole.

    The lock (held until :meth:`release`, or until the process dies) tells
    :func:`clean_stale` that the directory is in use.
    """

    def __init__(self, target: Path):
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
        os.chmod(self.path, 0o777 & ~_umask())  # mkdtemp makes it 0700; the output gets the usual permissions
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        _try_lock(self._fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Remove the directory and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()


# --------------------------------------------------------------------------- publishing


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Callable[..., int] | None = None
_renameat2_probed = False


def _get_renameat2() -> Callable[..., int] | None:
    global _renameat2, _renameat2_probed
    if not _renameat2_probed:
        _renameat2_probed = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fn = libc.renameat2  # glibc >= 2.28
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):
            _renameat2 = None
    return _renameat2


def exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where not supported."""
    if os.environ.get(NO_EXCHANGE_ENV, "") not in ("", "0"):
        return False
    fn = _get_renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish_dir(tmp: TempDir | Path, path: Path, overwrite: bool, what: str = "output",
                looks_ours: Callable[[Path], bool] | None = None) -> Path:
    """Move the finished temporary directory ``tmp`` to ``path`` (see the module docstring); return ``path``.

    An existing ``path`` is replaced only with ``overwrite`` (or when it is an
    empty directory) and, given ``looks_ours``, only when it is an earlier
    output.  On refusal ``tmp`` is removed.
    """
    tdir = tmp if isinstance(tmp, TempDir) else None
    tpath = tmp.path if isinstance(tmp, TempDir) else Path(tmp)
    path = Path(path)
    old: Path | None = None
    try:
        with parent_lock(path):
            recover(path)
            clean_stale(path, keep=tpath)
            if os.path.lexists(path):
                empty = path.is_dir() and not path.is_symlink() and not any(path.iterdir())
                if not empty:
                    if not overwrite:
                        raise ZapsimError(f"{what} {path} already exists; pass --overwrite to replace it")
                    if path.is_symlink() or not path.is_dir():
                        raise ZapsimError(f"{what} {path} exists and is not a directory; not replaced")
                    if looks_ours is not None and not looks_ours(path):
                        raise ZapsimError(f"{what} {path} does not hold an earlier output; not replaced")
                fault_point("publish:before")
                if exchange(tpath, path):
                    old = tpath  # the temporary name now holds the old output
                    fault_point("publish:exchanged")
                else:
                    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                    os.rmdir(aside)
                    os.rename(path, aside)
                    try:
                        fault_point("publish:moved-old")
                        os.rename(tpath, path)
                    except BaseException:
                        os.rename(aside, path)  # put the old output back
                        raise
                    old = aside
                    fault_point("publish:moved-new")
            else:
                os.rename(tpath, path)
    except BaseException:
        shutil.rmtree(tpath, ignore_errors=True)  # the unpublished new output, or (after the swap) the old one
        if old is not None and old != tpath:
            _remove(old)
        if tdir is not None:
            tdir.release()
        raise
    if tdir is not None:
        tdir.release()
    if old is not None:
        _remove(old)
    return path


def replace_into(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` (a file or a directory) to ``path``; an old ``path`` only with ``overwrite``.

    A file replaces a file in one rename; a directory goes through :func:`publish_dir`.
    """
    if Path(tmp).is_dir():
        publish_dir(Path(tmp), Path(path), overwrite)
        return
    if os.path.lexists(path) and not overwrite:
        Path(tmp).unlink(missing_ok=True)
        raise ZapsimError(f"{path} already exists; pass --overwrite to replace it")
    if Path(path).is_dir() and not Path(path).is_symlink():
        Path(tmp).unlink(missing_ok=True)
        raise ZapsimError(f"{path} is a directory; a file cannot replace it")
    os.replace(tmp, path)


def temp_sibling(path: Path, is_dir: bool) -> Path:
    """A fresh temporary name next to ``path`` (same file system, so rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    return Path(name)


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (the file is whole or absent)."""
    path = Path(path)
    tmp = temp_sibling(path, is_dir=False)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        replace_into(tmp, path, overwrite=overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def write_dir_atomic(path: str | Path, files: dict[str, str | bytes], *, overwrite: bool, what: str = "--out",
                     looks_ours: Callable[[Path], bool] | None = None,
                     finish: Callable[[Path], None] | None = None) -> list[Path]:
    """Write ``files`` (name -> content) as the whole directory ``path``, atomically; return the final paths.

    Each name must be a plain, safe file name.  ``finish(tmp_dir)`` may add
    more files (figures) before publishing.  The directory appears with all
    of them or not at all; an old ``path`` is replaced only with
    ``overwrite`` and then completely (no stale file of it survives).
    """
    from .safepath import check_file_name

    path = Path(path)
    for name in files:
        check_file_name(name, what)
    tmp = TempDir(path)
    try:
        for name, data in files.items():
            with open(tmp.path / name, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            fault_point(f"write:{name}")
        if finish is not None:
            finish(tmp.path)
        names = sorted(p.name for p in tmp.path.iterdir())
        fault_point("write:done")
    except BaseException:
        tmp.discard()
        raise
    try:
        publish_dir(tmp, path, overwrite, what, looks_ours)
    except BaseException:
        tmp.discard()
        raise
    return [path / n for n in names]
