"""Strict, bounded JSON: what zapsim reads (manifests, results, timelines) and writes (results).

Reading (:func:`loads_strict`) refuses, with the file named:

- text larger than the caller's limit, or nested deeper than
  :data:`MAX_DEPTH` (a 100,000-deep list is a message, not a RecursionError
  in whatever walks the result);
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON; Python writes them
  unless told not to);
- a key given twice in one object (JSON parsers silently keep the last).

Writing (:func:`dumps_finite`) refuses a non-finite number anywhere in the
data, naming its key path, so ``results.json`` never holds ``Infinity``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ZapsimError, short

MAX_DEPTH = 64


def nesting_depth(obj: Any) -> int:
    """How deeply lists and objects nest in parsed JSON ``obj`` (a scalar is 0; iterative, no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            d += 1
            stack.extend((x, d) for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            d += 1
            stack.extend((x, d) for x in v if isinstance(x, (dict, list)))
        deepest = max(deepest, d)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {short(text)} is out of range (not a finite double)")
    return v


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {short(k)} appears twice in one object")
        out[k] = v
    return out


def loads_strict(text: str | bytes, source: str, *, max_bytes: int, max_depth: int = MAX_DEPTH,
                 error: type[ZapsimError] = ZapsimError) -> Any:
    """Parse JSON ``text`` from ``source`` with the bounds above; problems raise ``error`` naming ``source``."""
    if len(text) > max_bytes:
        raise error(f"{source}: {len(text):,} bytes, more than the {max_bytes:,} allowed")
    if isinstance(text, (bytes, bytearray)):
        if text[:3] == b"\xef\xbb\xbf":  # a byte-order mark from another writer is not an error
            text = text[3:]
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    elif text.startswith("\ufeff"):
        text = text[1:]
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                         object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise error(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise error(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:  # the C parser stops at the interpreter's recursion limit
        raise error(f"{source}: nested too deeply; at most {max_depth} levels allowed") from None
    depth = nesting_depth(obj)
    if depth > max_depth:
        raise error(f"{source}: nested {depth} levels deep; at most {max_depth} allowed")
    return obj


def find_non_finite(obj: Any, path: str = "") -> tuple[str, float] | None:
    """The key path and value of the first non-finite number in ``obj`` (dicts, lists, NumPy), or None."""
    stack: list[tuple[Any, str]] = [(obj, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, Mapping):
            stack.extend((x, f"{p}.{k}" if p else str(k)) for k, x in reversed(list(v.items())))
        elif isinstance(v, (list, tuple)):
            stack.extend((x, f"{p}[{i}]") for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, np.ndarray):
            if v.dtype.kind in "fc" and not np.isfinite(v).all():
                bad = np.argwhere(~np.isfinite(v))[0]
                return f"{p}[{', '.join(map(str, bad))}]", float(v[tuple(bad)])
        elif isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
            return p, float(v)
    return None


def check_finite(obj: Any, what: str) -> None:
    """Raise :class:`ZapsimError` naming the key path when ``obj`` holds a NaN or an infinity."""
    bad = find_non_finite(obj)
    if bad is not None:
        raise ZapsimError(f"{what}: {bad[0]} is {bad[1]}, not a finite number; the inputs drive the model outside "
                          "what it can represent (check the architecture's bandwidths, clock and sizes)")


def dumps_finite(obj: Any, what: str, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)`` after :func:`check_finite` (and never writing NaN or Infinity)."""
    check_finite(obj, what)
    return json.dumps(obj, allow_nan=False, **kwargs)
