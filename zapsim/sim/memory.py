"""Memory traffic of one layer: DRAM <-> GLB fills, zero compression, bandwidth stalls, double buffering.

A tile-level analytic model (``docs/simulator.md``, "Memory"):

* Weights are read from DRAM once per batch of ``batch`` images.
* The ofmap's partial sums stay in the GLB until final; if the ifmap and
  the ofmap do not fit together in the usable GLB (half of it with double
  buffering), the filters are split into chunks whose psums fit beside
  (at most half of) the ifmap, and the ifmap is re-read from DRAM once per chunk.
* The final ofmap is written to DRAM once; predicted zeros are written as
  zeros.  With ``dram.zero_compression`` activations move run-length coded
  (Eyeriss' 5-bit run + 16-bit level, 3 pairs per 64-bit word), never more
  than uncompressed, so ZAP's extra zeros shrink the writes.
* Each level's transfer time is words / bandwidth; the levels pipeline, so
  the memory time is the slowest level.  With double buffering the array
  only waits for memory time beyond its compute time; without it, DRAM
  transfers do not overlap compute and add in full.
"""

from __future__ import annotations

import math

import numpy as np

from . import engine

RLC_RUN_BITS = 5
RLC_LEVEL_BITS = 16


def compressed_words(nz: np.ndarray | None, size: int, arch) -> float:
    """DRAM words of one activation map: run-length coded if enabled (and smaller), else ``size``."""
    if not arch.dram.zero_compression:
        return float(size)
    if nz is None:
        return float(size)  # a dense map does not compress; it is sent raw
    w = engine.rlc_words(np.ascontiguousarray(nz).reshape(-1), RLC_RUN_BITS, RLC_LEVEL_BITS, arch.word_bits)
    return float(min(size, w))


def ifmap_refetch(arch, in_words: int, out_words: int) -> int:
    """How many times the ifmap is read from DRAM (1 when ifmap and ofmap fit the usable GLB together)."""
    cap = arch.glb_words // (2 if arch.global_buffer.double_buffer else 1)
    if in_words + out_words <= cap:
        return 1
    psum_budget = max(1, cap - min(in_words, cap // 2))
    return max(1, math.ceil(out_words / psum_budget))


def dram_traffic(arch, layer, in_nz: np.ndarray | None, out_nz: np.ndarray | None, batch: int = 1) -> dict:
    """DRAM words per tensor for one image, and GLB fill / drain words."""
    in_words = layer.c_in * layer.h_in * layer.w_in
    out_words = layer.c_out * layer.h_out * layer.w_out
    w_words = layer.kernel[0] * layer.kernel[1] * (layer.c_in // layer.groups) * layer.c_out
    refetch = ifmap_refetch(arch, in_words, out_words)
    return {
        "dram": {
            "ifmap": compressed_words(in_nz, in_words, arch) * refetch,
            "weight": w_words / batch,
            "psum": compressed_words(out_nz, out_words, arch),
        },
        # the GLB holds activations uncompressed
        "glb_fill": {"ifmap": float(in_words * refetch), "weight": w_words / batch},
        "glb_drain": {"psum": float(out_words)},
        "refetch": refetch,
    }


def stall_cycles(arch, compute_cycles: float, dram_words: float, glb_words: float, noc_words: float) -> float:
    """Cycles the array waits for memory (see the module docstring)."""
    dram_t = dram_words * arch.word_bytes / arch.dram.bandwidth_bytes_per_cycle
    glb_t = glb_words / arch.global_buffer.bandwidth_words_per_cycle
    noc_t = noc_words / arch.noc.bandwidth_words_per_cycle
    if arch.global_buffer.double_buffer:
        return max(0.0, max(dram_t, glb_t, noc_t) - compute_cycles)
    return dram_t + max(0.0, max(glb_t, noc_t) - compute_cycles)
