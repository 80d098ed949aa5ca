"""User-facing errors and the CLI wrapper that turns them into clean exits.

Every mistake a user can make (a bad config key, a corrupt trace, missing
data) raises :class:`ZapsimError` with a message that names the file, the key
or value, and what is allowed.  Command-line entry points run through
:func:`cli_main`, which prints that message to stderr and exits non-zero
without a traceback.  Programming errors (bugs) still show their traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


class ZapsimError(Exception):
    """An error caused by the user's input; its message says what to fix."""


class TraceError(ZapsimError):
    """A trace directory is missing, corrupt, or inconsistent."""


class ConfigError(ZapsimError):
    """An architecture config or workload file is invalid."""


class DataError(ZapsimError):
    """Weights or datasets could not be found or failed their checksum."""


def cli_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)`` and map user errors to ``exit 2`` with a one-line message.

    KeyboardInterrupt exits 130 quietly; outputs are written atomically, so an
    interrupted run leaves nothing that looks complete.
    """
    try:
        rc = main(argv)
    except ZapsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)
