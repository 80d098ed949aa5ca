"""User-facing errors and the CLI wrapper that turns them into clean exits.

Every mistake a user can make (a bad config key, a corrupt trace, missing
data) raises :class:`ZapsimError` with a message that names the file, the key
or value, and what is allowed.  Command-line entry points run through
:func:`cli_main`, which prints that message to stderr as one line and exits
2 without a traceback.  Anything else (a bug) is reported as one line too,
``internal error: ...``, asking for an issue; ``ZAPSIM_DEBUG=1`` shows the
full traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

# A message never quotes more of a bad value than this (a crafted file once gave a 312 MB error line).
MAX_QUOTE = 80
# ... and no message line is longer than this, whatever it quotes.
MAX_MESSAGE = 2000
DEBUG_ENV = "ZAPSIM_DEBUG"


class ZapsimError(Exception):
    """An error caused by the user's input; its message says what to fix."""


class TraceError(ZapsimError):
    """A trace directory is missing, corrupt, or inconsistent."""


class ConfigError(ZapsimError):
    """An architecture config or workload file is invalid."""


class DataError(ZapsimError):
    """Weights or datasets could not be found or failed their checksum."""


def short(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)``, cut to ``limit`` characters with a note of the full length.

    For quoting a bad value in a message: the user sees which value it was
    without a huge one flooding the terminal.  Only a bounded prefix of a
    long string or list is rendered, so this is cheap on any input.
    """
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    if isinstance(value, (bytes, bytearray)) and len(value) > limit:
        return repr(bytes(value[:limit])) + f"... ({len(value):,} bytes)"
    if isinstance(value, (list, tuple, dict)) and len(value) > 8:
        kind = type(value).__name__
        head = list(value.items())[:3] if isinstance(value, dict) else list(value[:3])
        return f"{repr(head)[:limit]}... ({kind} of {len(value):,})"
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails is still reported
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        return text[:limit] + f"... ({len(text):,} characters)"
    return text


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """A message as one line of at most ``limit`` characters (newlines shown as ' | ')."""
    text = " | ".join(part for part in str(message).splitlines() if part.strip()) or str(message)
    if len(text) > limit:
        text = text[:limit] + f"... (message cut at {limit} of {len(text):,} characters)"
    return text


def cli_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; user errors exit 2 with a one-line message, bugs exit 1 with a one-line report.

    KeyboardInterrupt exits 130 quietly; outputs are written atomically, so an
    interrupted run leaves nothing that looks complete.  ``SystemExit`` (from
    ``--help``) passes through.  With ``ZAPSIM_DEBUG=1`` in the environment
    an unexpected exception shows its full traceback.
    """
    try:
        rc = main(argv)
    except ZapsimError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try fewer images (--images), a smaller --batch or a smaller workload",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`: the reader left, nothing to report
        return 1
    except Exception as exc:  # noqa: BLE001 (the last line of defence: no traceback reaches the user)
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exc()
        else:
            detail = one_line(str(exc), 300)
            print(f"internal error: {type(exc).__name__}: {detail}; please file an issue with this command "
                  f"(set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 1
    return int(rc or 0)
