"""Row-stationary (Eyeriss) mapping of a layer onto the PE array, and its phase runner.

A logical PE set is R x E PEs: PE (r, y) runs the 1-D convolution of
filter row r over ifmap row ``y*U + r - pad``, producing psum row y; psums
accumulate down the column.  It is mapped onto the physical rows x cols array:

* filter rows: if R > rows, R is split into ``n_rseg`` segments of at most
  ``r_len`` rows (psums of later segments accumulate through the GLB);
* output rows: E is cut into ``n_strips`` strips of ``e = min(E, cols)``
  columns;
* an ``r_len x e`` block is a *slot*; ``floor(rows / r_len) x floor(cols / e)``
  slots fit the array (Eyeriss' replication: CONV2's 5 x 27 set becomes two
  5 x 14 / 5 x 13 slots stacked, 135 active PEs);
* each PE interleaves ``p`` filters and ``q`` channels, bounded by its
  scratchpads: ``q * S <= ifmap_spad``, ``p * q * S <= weight_spad``,
  ``p <= psum_spad``.

Work items are (group, filter group, channel group, row segment, strip) in
that order (dense layers); ``nslots`` consecutive items form a pass, which
lasts as long as its slowest PE.  ZAP layers put the strip before the
channel group, so each (filter group, strip) -- a ZAP *chunk* -- has final
outputs as soon as its last pass ends, and the ZAP can score that row band
(once the next band's first two rows are final too) while the array works on.  Skipping output
(k, y, x) removes its ``S * q`` MACs from each PE of column y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..trace_format import TraceLayer
from .analytical import kernels

N_GEO = 23


@dataclass(frozen=True)
class RSMapping:
    """How one layer maps onto a row-stationary array (all counts per image)."""

    groups: int
    m_per_group: int
    c_per_group: int
    R: int
    S: int
    E: int
    F: int
    p: int
    q: int
    n_fg: int
    n_cg: int
    r_len: int
    n_rseg: int
    e: int
    n_strips: int
    slots_v: int
    slots_h: int
    rows: int
    cols: int
    multicast: bool
    layer: TraceLayer

    @property
    def nslots(self) -> int:
        return self.slots_v * self.slots_h

    @property
    def n_chunks(self) -> int:
        return self.groups * self.n_fg

    @property
    def n_items(self) -> int:
        return self.groups * self.n_fg * self.n_cg * self.n_rseg * self.n_strips

    @property
    def max_passes(self) -> int:
        return math.ceil(self.n_items / self.nslots)

    @property
    def active_pes(self) -> int:
        """PEs busy in the fullest pass (Eyeriss reports this per layer)."""
        block = []
        for rs in range(self.n_rseg):
            rl = min(self.r_len, self.R - rs * self.r_len)
            for st in range(self.n_strips):
                block.append(rl * min(self.e, self.E - st * self.e))
        # items repeat this block per (group, filter group, channel group); scan enough passes to see every phase
        n = min(self.n_items, self.nslots * len(block) * 2)
        seq = (block * (n // len(block) + 1))[:n]
        best = 0
        for i in range(0, n, self.nslots):
            best = max(best, sum(seq[i : i + self.nslots]))
        return best

    def chunk_of_channel(self) -> np.ndarray:
        """Chunk of every output channel (filter): ``g * n_fg + (k mod M/g) // p``."""
        k = np.arange(self.groups * self.m_per_group)
        return ((k // self.m_per_group) * self.n_fg + (k % self.m_per_group) // self.p).astype(np.int64)

    def zap_chunks(self) -> tuple[np.ndarray, int, np.ndarray]:
        """ZAP chunks of a ZAP layer: (chunk of each output row (M, E), number of chunks, z_need).

        ZAP layers run with strips outermost in each filter group, so a chunk
        is (filter group, strip): ``fgi * n_strips + strip``.  Scoring rows of
        strip s needs phase-A rows up to two below it, which lie in strip s+1:
        ``z_need[ch]`` is the last A chunk a Z chunk waits for.
        """
        k = np.arange(self.groups * self.m_per_group)
        fgi = (k // self.m_per_group) * self.n_fg + (k % self.m_per_group) // self.p
        strip = np.arange(self.E) // self.e
        chunk_map = (fgi[:, None] * self.n_strips + strip[None, :]).astype(np.int64)
        n = self.groups * self.n_fg * self.n_strips
        ch = np.arange(n)
        st = ch % self.n_strips
        z_need = np.where(st + 1 < self.n_strips, ch + 1, ch).astype(np.int64)
        return np.ascontiguousarray(chunk_map), n, z_need

    def geometry(self) -> np.ndarray:
        """The int64 vector the kernels read (order documented in kernels.rs_phase)."""
        L = self.layer
        g = [self.groups, self.m_per_group, self.c_per_group, self.R, self.S, self.E, self.F, self.p, self.q,
             self.n_fg, self.n_cg, self.r_len, self.n_rseg, self.e, self.n_strips, self.nslots, int(self.multicast),
             L.w_in, L.h_in, L.stride[0], self.slots_h, self.rows, self.cols]
        assert len(g) == N_GEO
        return np.array(g, dtype=np.int64)


def rs_mapping(arch, layer: TraceLayer) -> RSMapping:
    """Map ``layer`` onto ``arch``'s row-stationary array (see the module docstring)."""
    pe = arch.pe_array
    R, S = layer.kernel
    groups = layer.groups
    mg, cg = layer.c_out // groups, layer.c_in // groups
    if S > pe.ifmap_spad_words:
        raise ConfigError(
            f"{arch.source}: pe_array.ifmap_spad_words = {pe.ifmap_spad_words} cannot hold one {S}-wide filter row of "
            f"layer '{layer.name}' (row-stationary needs ifmap_spad_words >= kernel width)")
    if S > pe.weight_spad_words:
        raise ConfigError(
            f"{arch.source}: pe_array.weight_spad_words = {pe.weight_spad_words} cannot hold one {S}-wide filter row "
            f"of layer '{layer.name}'")
    q = max(1, min(cg, pe.ifmap_spad_words // S, pe.weight_spad_words // S))
    p = max(1, min(mg, pe.psum_spad_words, pe.weight_spad_words // (q * S)))
    n_rseg = math.ceil(R / pe.rows)
    r_len = math.ceil(R / n_rseg)
    E, F = layer.h_out, layer.w_out
    e = min(E, pe.cols)
    return RSMapping(
        groups=groups, m_per_group=mg, c_per_group=cg, R=R, S=S, E=E, F=F, p=p, q=q,
        n_fg=math.ceil(mg / p), n_cg=math.ceil(cg / q), r_len=r_len, n_rseg=n_rseg, e=e,
        n_strips=math.ceil(E / e), slots_v=pe.rows // r_len, slots_h=pe.cols // e, rows=pe.rows, cols=pe.cols,
        multicast=bool(arch.noc.multicast), layer=layer,
    )


@dataclass
class PhaseResult:
    """Passes of one phase: cycles and largest chunk per pass, plus counters (kernels.RS_COUNTERS)."""

    pass_cycles: np.ndarray
    pass_chunk: np.ndarray
    pass_chunk_lo: np.ndarray
    counters: np.ndarray
    pe_slots: np.ndarray | None = None


def rs_input_prefix(m: RSMapping, innz: np.ndarray | None) -> np.ndarray:
    """kernels.rs_prefix of an input mask, or a 1-element dummy when the input is treated as dense."""
    L = m.layer
    if innz is None:
        return np.zeros((1, 1, 1, 1), dtype=np.int32)
    return kernels.rs_prefix(np.ascontiguousarray(innz), m.R, m.S, m.E, m.F, L.stride[0], L.stride[1],
                            L.padding[0], L.padding[1])


def rs_run_phase(m: RSMapping, pre: np.ndarray, sched: np.ndarray, real: np.ndarray, in_mode: int, mpc: int,
                 record: bool = False, strip_outer: bool = False) -> PhaseResult:
    """Run one phase; ``sched`` / ``real`` (M, E, F) bool: outputs occupying the schedule / really computed.

    ``strip_outer``: the ZAP layers' item order, chunks (filter group, strip) (see :meth:`RSMapping.zap_chunks`).
    """
    ncs = kernels.rs_chunk_counts(np.ascontiguousarray(sched), m.groups, m.p, m.n_fg)
    ncr = ncs if real is sched else kernels.rs_chunk_counts(np.ascontiguousarray(real), m.groups, m.p, m.n_fg)
    n = m.max_passes
    pc = np.zeros(n, dtype=np.int64)
    pch = np.full(n, -1, dtype=np.int64)
    plo = np.full(n, -1, dtype=np.int64)
    counters = np.zeros(len(kernels.RS_COUNTERS), dtype=np.float64)
    pe_slots = np.zeros((n if record else 0, m.rows * m.cols if record else 0, 3), dtype=np.float64)
    k = kernels.rs_phase(pre, ncs, ncr, m.geometry(), in_mode, mpc, pc, pch, plo, counters, record, pe_slots,
                        strip_outer)
    return PhaseResult(pc[:k], pch[:k], plo[:k], counters, pe_slots[:k] if record else None)
