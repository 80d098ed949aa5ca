"""DRAM: the layer's traffic in tiles, double-buffered through the GLB, each tile one stream of bursts.

The traffic is the analytical engine's tiling (``memory.best_tiling``:
``m`` filters x ``b`` output rows per GLB tile), and so is the traffic (``memory.layer_tiling``: ifmap reads with halos and
zero compression, weights shared by the batch, the ofmap written once).
The transfers are timed in steps of the larger of that tile count and
the layer's passes (the GLB half being filled holds the next pass's
data; a layer that fits the GLB still streams in pass by pass rather than
waiting for all of it).  Each step moves an equal share: ``latency_cycles`` for the first
data, then ``ceil(bytes / burst_bytes)`` bursts at
``bandwidth_bytes_per_cycle`` (requests pipelined behind the first).
With ``global_buffer.double_buffer`` tile ``i+1`` loads while tile ``i``
computes (the array waits at the start for tile 0 and whenever a load is
slower than a tile's compute; the last tile's ofmap write comes after);
without it each tile loads, then computes.  The tile's compute time is an
equal share of the layer's.  Returns the cycles beyond ``compute``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import memory


def tile_count(arch, layer, batch: int) -> int:
    """Tiles of the layer (filters x output-row bands of ``memory.best_tiling``)."""
    in_words = layer.c_in * layer.h_in * layer.w_in
    w_words = layer.kernel[0] * layer.kernel[1] * (layer.c_in // layer.groups) * layer.c_out
    if arch.uniform_words:
        cap, units = arch.glb_words, (1, 1)
    else:
        cap, units = arch.global_buffer.size_bytes * 8, (arch.tensor_bits("ifmap"), arch.tensor_bits("psum"))
    m, b, _, _ = memory.best_tiling(cap, bool(arch.global_buffer.double_buffer), int(batch), layer.c_in, layer.h_in,
                                    layer.w_in, layer.c_out, layer.h_out, layer.w_out, layer.kernel[0],
                                    layer.stride[0], w_words, *units)
    del in_words
    return math.ceil(layer.c_out / m) * math.ceil(layer.h_out / b)


def stream_cycles(nbytes: float, arch) -> float:
    """Cycles one tile's transfer of ``nbytes`` takes: latency, then whole bursts at the DRAM bandwidth."""
    if nbytes <= 0:
        return 0.0
    d = arch.dram
    bursts = math.ceil(nbytes / d.burst_bytes)
    return d.latency_cycles + bursts * d.burst_bytes / d.bandwidth_bytes_per_cycle


def pipeline_cycles(n: int, compute: float, load: float, write_last: float, double: bool) -> float:
    """Layer time of ``n`` equal tiles (compute ``compute`` each, load ``load`` each) and the last tile's write."""
    if double:
        return load + (n - 1) * max(compute, load) + compute + write_last
    return n * (load + compute) + write_last


def layer_dram_stall(arch, layer, core: dict, batch: int, steps: int = 1) -> np.ndarray:
    """Per image: cycles the array waits for DRAM beyond ``core['compute']`` (see the module docstring).

    ``steps``: the layer's passes (or folds), the finest granularity at which transfers are timed.
    """
    tile = memory.layer_tiling(arch, layer, batch)
    n = max(tile_count(arch, layer, batch), int(steps))
    b_in, b_w = arch.tensor_bits("ifmap") / 8, arch.tensor_bits("weight") / 8
    compute = np.asarray(core["compute"], dtype=np.float64)
    out = np.zeros_like(compute)
    for i in range(compute.size):
        rd = core["dram_in"][i] * tile["in_reads"] * b_in + tile["weight_words"] * b_w
        if arch.global_buffer.weight_bypass:
            rd = core["dram_in"][i] * tile["in_reads"] * b_in + core["noc_w"][i] * b_w
        wr = core["dram_out"][i] * b_in
        load = stream_cycles((rd + wr) / n, arch)
        write_last = stream_cycles(wr / n, arch)
        t = pipeline_cycles(n, compute[i] / n, load, write_last, bool(arch.global_buffer.double_buffer))
        out[i] = max(0.0, t - compute[i])
    return out
