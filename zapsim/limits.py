"""Bounds on what zapsim accepts: layer shapes, trace sizes, and the memory and work of one run.

Every number here is far beyond any real network, and low enough that the
simulator's int64/float64 arithmetic cannot overflow on an accepted input
and a typo (an extra three zeros) is caught before it eats the machine.
``docs/security.md`` lists them.

Two limits depend on the machine rather than on arithmetic and can be
raised by the user: the estimated peak memory of a run
(:data:`DEFAULT_MAX_MEMORY_GIB`, ``--max-memory-gib`` or
``ZAPSIM_MAX_MEMORY_GIB``) and the work of a run in algorithmic MACs
simulated (:data:`DEFAULT_MAX_MACS`, ``--max-macs`` or ``ZAPSIM_MAX_MACS``).
:func:`check_run_budget` refuses a run above either before it starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from .errors import ZapsimError, short

# --------------------------------------------------------------------------- shapes (arithmetic limits)

MAX_CHANNELS = 1 << 16  # channels of one tensor
MAX_SPATIAL = 1 << 15  # rows or columns of one feature map
MAX_KERNEL = 1 << 10  # rows or columns of one filter
MAX_STRIDE = 1 << 10
MAX_PADDING = 1 << 10
MAX_TENSOR_ELEMENTS = 1 << 36  # C * H * W of one layer's input or output, per image
MAX_LAYER_MACS = 1 << 50  # per image; every count derived from it stays exact in a float64
MAX_LAYERS = 10_000
MAX_IMAGES = 1 << 20  # images in one trace
MAX_OPERATING_POINTS = 1_000
MAX_NAME_CHARS = 256  # a layer name

# --------------------------------------------------------------------------- machine limits (the user may raise them)

DEFAULT_MAX_MEMORY_GIB = 16.0
DEFAULT_MAX_MACS = 1e14
MEMORY_ENV = "ZAPSIM_MAX_MEMORY_GIB"
MACS_ENV = "ZAPSIM_MAX_MACS"
# Peak bytes per element of one layer's input plus output, per image of a batch, in the analytical engine
# (measured: a 256x1024x1024 -> 256x1024x1024 dense layer peaks at 3.8 GB, about 7 bytes per element;
# rounded up). A decoded trace mask costs one byte per element (bool) plus its packed form.
ENGINE_BYTES_PER_ELEMENT = 8.0
MASK_BYTES_PER_ELEMENT = 1.25
BASE_BYTES = 400 * 2**20  # Python, NumPy, Numba and the compiled kernels
# Algorithmic MACs the analytical engine simulates per second on one core (for the message only).
ANALYTICAL_MACS_PER_S = 1e10


def layer_problem(layer: Any) -> str | None:
    """What makes a layer's shape unrepresentable, or None.

    ``layer`` is a :class:`zapsim.trace_format.TraceLayer` (or anything with
    its attributes).  Checked: each size against its maximum above, then the
    products (elements per tensor, MACs per image).
    """
    name = getattr(layer, "name", "")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"name {short(name)} must have 1 to {MAX_NAME_CHARS} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"name {short(name)} holds control characters"
    for key, hi in (("c_in", MAX_CHANNELS), ("c_out", MAX_CHANNELS), ("h_in", MAX_SPATIAL), ("w_in", MAX_SPATIAL),
                    ("h_out", MAX_SPATIAL), ("w_out", MAX_SPATIAL), ("groups", MAX_CHANNELS)):
        v = getattr(layer, key)
        if v > hi:
            return f"{key} = {short(v)} is more than {hi:,}, the most zapsim represents"
    for key, hi in (("kernel", MAX_KERNEL), ("stride", MAX_STRIDE), ("padding", MAX_PADDING)):
        for v in getattr(layer, key):
            if v > hi:
                return f"{key} = {short(v)} is more than {hi:,}, the most zapsim represents"
    for what, shape in (("input", (layer.c_in, layer.h_in, layer.w_in)), ("output", (layer.c_out, layer.h_out, layer.w_out))):
        n = math.prod(shape)
        if n > MAX_TENSOR_ELEMENTS:
            return f"its {what} {shape[0]}x{shape[1]}x{shape[2]} has {n:,} elements, more than {MAX_TENSOR_ELEMENTS:,}"
    macs = layer.kernel[0] * layer.kernel[1] * (layer.c_in // max(1, layer.groups)) * layer.c_out * layer.h_out * layer.w_out
    if macs > MAX_LAYER_MACS:
        return f"it has {macs:,} MACs per image, more than {MAX_LAYER_MACS:,}"
    return None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise ZapsimError(f"{name}={short(raw)}: not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise ZapsimError(f"{name}={short(raw)}: must be a number > 0")
    return v


def _given(flag: str, v: float) -> float:
    if not (math.isfinite(v) and v > 0):
        raise ZapsimError(f"{flag} {short(v)}: must be a number > 0")
    return float(v)


def max_memory_bytes(gib: float | None = None) -> float:
    """The memory limit in bytes: ``gib`` if given, else ``$ZAPSIM_MAX_MEMORY_GIB``, else the default."""
    g = _given("--max-memory-gib", gib) if gib is not None else _env_float(MEMORY_ENV, DEFAULT_MAX_MEMORY_GIB)
    return g * 2**30


def max_macs(macs: float | None = None) -> float:
    """The work limit in algorithmic MACs: ``macs`` if given, else ``$ZAPSIM_MAX_MACS``, else the default."""
    return _given("--max-macs", macs) if macs is not None else _env_float(MACS_ENV, DEFAULT_MAX_MACS)


def estimate_run(layers: Sequence[Any], *, num_ops: int, images: int, trace_images: int | None,
                 batch: int) -> dict[str, float]:
    """Estimated peak memory (bytes) and work (algorithmic MACs simulated) of one run.

    Memory: the largest layer's engine working set for a batch (input plus
    output elements times :data:`ENGINE_BYTES_PER_ELEMENT` per image), plus,
    when replaying a trace, its decoded masks of that layer for every image of
    the trace (in, out and computed).  Work: operating points x images x the
    MACs of all layers.
    """
    peak = 0.0
    for layer in layers:
        in_el = layer.c_in * layer.h_in * layer.w_in
        out_el = layer.c_out * layer.h_out * layer.w_out
        b = float(batch) * ENGINE_BYTES_PER_ELEMENT * (in_el + out_el)
        if trace_images:
            b += float(trace_images) * MASK_BYTES_PER_ELEMENT * (in_el + 2 * out_el)
        peak = max(peak, b)
    work = float(num_ops) * float(images) * float(sum(layer.macs for layer in layers))
    return {"memory_bytes": BASE_BYTES + peak, "macs": work}


def check_run_budget(layers: Sequence[Any], *, num_ops: int, images: int, trace_images: int | None = None,
                     batch: int = 1, max_memory_gib: float | None = None, max_work_macs: float | None = None,
                     source: str = "the workload") -> dict[str, float]:
    """Refuse a run whose estimate (:func:`estimate_run`) exceeds the memory or work limit; return the estimate."""
    est = estimate_run(layers, num_ops=num_ops, images=images, trace_images=trace_images, batch=batch)
    mem_lim = max_memory_bytes(max_memory_gib)
    if est["memory_bytes"] > mem_lim:
        raise ZapsimError(
            f"{source}: this run needs about {est['memory_bytes'] / 2**30:,.1f} GiB of memory, more than the "
            f"{mem_lim / 2**30:,.1f} GiB limit; use fewer images or a smaller --batch, or raise the limit with "
            f"--max-memory-gib (or {MEMORY_ENV}) if the machine has it")
    work_lim = max_macs(max_work_macs)
    if est["macs"] > work_lim:
        hours = est["macs"] / ANALYTICAL_MACS_PER_S / 3600
        raise ZapsimError(
            f"{source}: this run simulates {est['macs']:.3g} algorithmic MACs, more than the {work_lim:.3g} limit "
            f"(about {hours:,.1f} h or more on one core); use fewer images or operating points, or raise the limit "
            f"with --max-macs (or {MACS_ENV})")
    return est
