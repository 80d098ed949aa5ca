"""Memory traffic of one layer: DRAM <-> GLB fills, zero compression, bandwidth stalls, double buffering.

A tile-level analytic model (``docs/simulator.md``, "Memory"):

* Partial sums never leave the chip: the output is computed in tiles of
  ``m`` filters x ``b`` output rows whose psums fit in half the usable GLB
  (the usable GLB is half of it with double buffering); the other half
  streams the ifmap rows of the tile's band (all channels pass through).
  Each filter chunk re-reads the ifmap bands (with their halo rows), each
  row band re-reads the weights; weights are shared by the ``batch``
  images of a batch.  Among all (m, b) the tiling with the fewest DRAM
  words (uncompressed) is used; when everything fits, both are read once.
* The final ofmap is written to DRAM once; predicted zeros are written as
  zeros.  With ``dram.zero_compression`` activations move run-length coded
  (Eyeriss' 5-bit run + 16-bit level, 3 pairs per 64-bit word), never more
  than uncompressed, so ZAP's extra zeros shrink the writes.
* Each level's transfer time is words / bandwidth; the levels pipeline, so
  the memory time is the slowest level.  With double buffering the array
  only waits for memory time beyond its compute time; without it, DRAM
  transfers do not overlap compute and add in full.  A level with separate
  read and write bandwidths (``dram.read_/write_bandwidth_bytes_per_cycle``,
  ``global_buffer.read_/write_bandwidth_words_per_cycle``) takes the longer
  of its read and its write time; otherwise reads and writes share one link.
* Per-tensor word widths (``precision``): DRAM bytes are words x the
  tensor's width (the ofmap is written at the activation width
  ``ifmap_bits``); the GLB's capacity is shared in bits by ifmap and psum
  words of their own widths.  With every width equal to ``word_bits`` the
  arithmetic is the word-count arithmetic above, bit for bit.
* ``global_buffer.weight_bypass``: weights do not pass through the GLB; every
  weight word the array receives is read from DRAM (no reuse across passes
  or across the images of a batch).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .analytical import kernels

RLC_RUN_BITS = 5
RLC_LEVEL_BITS = 16


def compressed_words(nz: np.ndarray | None, size: int, arch) -> float:
    """DRAM words of one activation map: run-length coded if enabled (and smaller), else ``size``."""
    if not arch.dram.zero_compression:
        return float(size)
    if nz is None:
        return float(size)  # a dense map does not compress; it is sent raw
    w = kernels.rlc_words(np.ascontiguousarray(nz).reshape(-1), RLC_RUN_BITS, RLC_LEVEL_BITS, arch.tensor_bits("ifmap"))
    return float(min(size, w))


@lru_cache(maxsize=4096)
def best_tiling(glb_words: int, double_buffer: bool, batch: int, C: int, H: int, W: int, M: int, E: int, F: int,
                R: int, U: int, w_words: int, in_unit: int = 1, psum_unit: int = 1) -> tuple[int, int, float, int]:
    """The DRAM-cheapest output tiling: (filters per tile m, rows per tile b, ifmap reads, weight reads).

    ifmap reads is the number of times the whole ifmap crosses the DRAM
    interface (filter chunks x band rows with halos / H); weight reads is
    the number of row bands.  Psums of a tile (m * b * F words) must fit in
    half the usable GLB.  ``glb_words`` is the capacity in units of which an
    ifmap word takes ``in_unit`` and a psum ``psum_unit`` (words: 1 and 1;
    per-tensor widths: bits, ``ifmap_bits`` and ``psum_bits``).
    """
    cap = glb_words // (2 if double_buffer else 1)
    budget = max(1, (cap // 2) // psum_unit)
    in_words, out_words = C * H * W, M * E * F
    if in_words * in_unit + out_words * psum_unit <= cap:
        return M, E, 1.0, 1
    best = None
    for n_b in sorted({math.ceil(E / b) for b in range(1, E + 1)}):
        b = math.ceil(E / n_b)
        m = min(M, budget // (b * F))
        if m < 1:
            continue
        n_m = math.ceil(M / m)
        rows_read = sum(min(H, (min(b, E - i * b) - 1) * U + R) for i in range(n_b))
        in_reads = n_m * min(1.0, rows_read / H) if n_b == 1 else n_m * rows_read / H
        cost = in_reads * in_words + n_b * w_words / batch
        if best is None or cost < best[0]:
            best = (cost, m, b, in_reads, n_b)
    if best is None:  # not even one output row of one filter fits: stream row by row
        return 1, 1, float(M * E), E
    return best[1], best[2], float(best[3]), best[4]


def layer_tiling(arch, layer, batch: int = 1) -> dict:
    """Image-independent DRAM factors of a layer (see :func:`best_tiling`).

    ``in_reads``: times the ifmap crosses the DRAM interface;
    ``weight_words``: weight words read per image; ``ifmap_fill_words``: GLB
    words written per image from ifmap reads (the GLB holds activations uncompressed).
    """
    in_words = layer.c_in * layer.h_in * layer.w_in
    w_words = layer.kernel[0] * layer.kernel[1] * (layer.c_in // layer.groups) * layer.c_out
    if arch.uniform_words:
        cap, units = arch.glb_words, (1, 1)
    else:  # per-tensor widths: capacity in bits, each word its tensor's width
        cap, units = arch.global_buffer.size_bytes * 8, (arch.tensor_bits("ifmap"), arch.tensor_bits("psum"))
    _, _, in_reads, w_reads = best_tiling(cap, bool(arch.global_buffer.double_buffer), int(batch),
                                          layer.c_in, layer.h_in, layer.w_in, layer.c_out, layer.h_out, layer.w_out,
                                          layer.kernel[0], layer.stride[0], w_words, *units)
    return {"in_reads": in_reads, "weight_words": w_words * w_reads / batch, "ifmap_fill_words": in_words * in_reads}


def stall_cycles(arch, compute_cycles, dram_words, glb_words, noc_words):
    """Cycles the array waits for memory (see the module docstring); scalars or arrays over images.

    Words of ``word_bits``, each level one shared link: the form of
    :func:`layer_stall_cycles` for an architecture without per-tensor widths
    or separate read / write bandwidths.
    """
    dram_t = dram_words * arch.word_bytes / arch.dram.bandwidth_bytes_per_cycle
    glb_t = glb_words / arch.global_buffer.bandwidth_words_per_cycle
    return _stall(arch, compute_cycles, dram_t, glb_t, noc_words / arch.noc.bandwidth_words_per_cycle)


def _stall(arch, compute_cycles, dram_t, glb_t, noc_t):
    if arch.global_buffer.double_buffer:
        return np.maximum(0.0, np.maximum(np.maximum(dram_t, glb_t), noc_t) - compute_cycles)
    return dram_t + np.maximum(0.0, np.maximum(glb_t, noc_t) - compute_cycles)


def dram_bytes(arch, dram_words: dict):
    """(read bytes, write bytes) of a layer's DRAM words by tensor: ifmap and weight read, the ofmap (``psum``)
    written at the activation width."""
    b = {t: arch.tensor_bits(t) / 8 for t in ("ifmap", "weight")}
    return dram_words["ifmap"] * b["ifmap"] + dram_words["weight"] * b["weight"], dram_words["psum"] * b["ifmap"]


def layer_stall_cycles(arch, compute_cycles, dram_words: dict, glb_read: dict, glb_write: dict, glb_zap_read,
                       noc_words):
    """Cycles one layer waits for memory, from its traffic by tensor (arrays over images or scalars).

    ``dram_words`` {ifmap, weight, psum} (psum: the ofmap written), ``glb_read``
    / ``glb_write`` {ifmap, weight, psum} words, ``glb_zap_read`` the ZAP's GLB
    reads, ``noc_words`` the NoC total.  Separate read / write bandwidths and
    per-tensor widths as in the module docstring; without them this is
    :func:`stall_cycles` on the totals, bit for bit.
    """
    d, g = arch.dram, arch.global_buffer
    if arch.uniform_words and d.read_bandwidth_bytes_per_cycle is None and d.write_bandwidth_bytes_per_cycle is None:
        dram_t = (dram_words["ifmap"] + dram_words["weight"] + dram_words["psum"]) * arch.word_bytes / d.bandwidth_bytes_per_cycle
    else:
        rd, wr = dram_bytes(arch, dram_words)
        if d.read_bandwidth_bytes_per_cycle is None and d.write_bandwidth_bytes_per_cycle is None:
            dram_t = (rd + wr) / d.bandwidth_bytes_per_cycle
        else:
            dram_t = np.maximum(rd / (d.read_bandwidth_bytes_per_cycle or d.bandwidth_bytes_per_cycle),
                                wr / (d.write_bandwidth_bytes_per_cycle or d.bandwidth_bytes_per_cycle))
    if g.read_bandwidth_words_per_cycle is None and g.write_bandwidth_words_per_cycle is None:
        glb_t = (sum(glb_read.values()) + sum(glb_write.values()) + glb_zap_read) / g.bandwidth_words_per_cycle
    else:
        glb_t = np.maximum((sum(glb_read.values()) + glb_zap_read) / (g.read_bandwidth_words_per_cycle or g.bandwidth_words_per_cycle),
                           sum(glb_write.values()) / (g.write_bandwidth_words_per_cycle or g.bandwidth_words_per_cycle))
    return _stall(arch, compute_cycles, dram_t, glb_t, noc_words / arch.noc.bandwidth_words_per_cycle)
