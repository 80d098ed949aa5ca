"""Systolic output-, weight- and input-stationary mappings (SCALE-Sim style) and their phase runner.

A conv layer is lowered to one GEMM per group: K = R*S*C/g (dot-product
length), N = M/g (filters), Npx = E*F (output pixels).  The array has
``rows x cols`` PEs, one MAC per PE per cycle.

=========  ============  ============  ===========  ======================
dataflow   array rows    array cols    streamed T   cycles per fold
=========  ============  ============  ===========  ======================
os         pixels        filters       K            rows + cols + T - 2
ws         K             filters       pixels       2*rows + cols + T - 2
is         K             pixels        filters      2*rows + cols + T - 2
=========  ============  ============  ===========  ======================

Dense, the layer takes ``folds * (fold cycles)`` with ``folds =
ceil(Sr/rows) * ceil(Sc/cols)`` -- SCALE-Sim's compute cycles without its
trailing -1 (``systolic.scalesim_off_by_one`` subtracts it once per layer).

With a ZAP, phase A streams the computed-first pixels I_s (every filter)
and phase C the predicted pixels.  What skipping saves depends on
``systolic.zap_granularity``:

* ``gate``: every pixel of the phase stays in the schedule; predicted
  zeros only gate their PEs (energy, no cycles).
* ``row``: a pixel leaves the schedule when no filter of the fold computes
  it (os: a fold row is dropped and the remaining pixels packed into fewer
  row folds; ws: a stream step is dropped; is: a pixel column is dropped
  and a filter stream step is dropped when no pixel of the fold needs it).
* ``compact``: each filter column (os/ws) or pixel column (is) runs its own
  list of computed outputs; a fold lasts as long as its longest list
  (an idealised compaction: per-column address generation, no rebalancing).

The chunk that the ZAP waits for is the filter fold (os, ws: its final
outputs exist once all its folds ran) or the whole group (is: every filter
streams through every pixel fold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..trace_format import TraceLayer
from .analytical import kernels

GRANULARITY = {"gate": 0, "row": 1, "compact": 2}
SHORT = {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}


@dataclass(frozen=True)
class SysMapping:
    """A layer lowered to per-group GEMMs on a rows x cols systolic array."""

    df: str  # os | ws | is
    rows: int
    cols: int
    groups: int
    K: int
    N: int  # filters per group
    npx: int
    layer: TraceLayer

    @property
    def n_chunks(self) -> int:
        if self.df == "is":
            return self.groups
        return self.groups * math.ceil(self.N / self.cols)

    def chunk_of_channel(self) -> np.ndarray:
        k = np.arange(self.groups * self.N)
        if self.df == "is":
            return (k // self.N).astype(np.int64)
        n_cf = math.ceil(self.N / self.cols)
        return ((k // self.N) * n_cf + (k % self.N) // self.cols).astype(np.int64)

    def zap_chunks(self) -> tuple[np.ndarray, int, np.ndarray]:
        """(chunk of each output row (M, E), number of chunks, z_need): whole filter folds / groups."""
        E = self.layer.h_out
        cmap = np.ascontiguousarray(np.repeat(self.chunk_of_channel()[:, None], E, axis=1))
        return cmap, self.n_chunks, np.arange(self.n_chunks, dtype=np.int64)

    def fold_overhead(self) -> int:
        """Fill and drain cycles of one fold: the closed form minus its T."""
        if self.df == "os":
            return self.rows + self.cols - 2
        return 2 * self.rows + self.cols - 2

    def dense_cycles(self) -> int:
        """SCALE-Sim's compute cycles of the dense layer (closed form, without the -1)."""
        sr, sc, t = {"os": (self.npx, self.N, self.K), "ws": (self.K, self.N, self.npx),
                     "is": (self.K, self.npx, self.N)}[self.df]
        folds = math.ceil(sr / self.rows) * math.ceil(sc / self.cols)
        return self.groups * folds * (self.fold_overhead() + t)


def sys_mapping(arch, layer: TraceLayer) -> SysMapping:
    """Lower ``layer`` for ``arch``'s systolic dataflow."""
    R, S = layer.kernel
    return SysMapping(df=SHORT[arch.dataflow], rows=arch.pe_array.rows, cols=arch.pe_array.cols, groups=layer.groups,
                      K=R * S * (layer.c_in // layer.groups), N=layer.c_out // layer.groups,
                      npx=layer.h_out * layer.w_out, layer=layer)


@dataclass
class SysPhase:
    """Passes (folds) of one phase, the outputs they schedule, and the words they move."""

    pass_cycles: np.ndarray
    pass_chunk: np.ndarray
    sched_outputs: int  # output slots the folds hold (each K MACs)
    noc_ifmap: float
    noc_weight: float
    noc_psum_out: float
    noc_psum_in: float


def sys_run_phase(m: SysMapping, sched: np.ndarray, granularity: int) -> SysPhase:
    """Folds of one phase.  ``sched`` (M, Npx) bool: the outputs of the phase's pixel set that must be produced
    (every output of the set under ``gate``)."""
    sched = np.ascontiguousarray(sched)
    rows, cols, K, N = m.rows, m.cols, m.K, m.N
    ov = m.fold_overhead()
    cyc: list[np.ndarray] = []
    chk: list[np.ndarray] = []
    sched_out = 0
    ni = nw = npo = npi = 0.0
    mode = 1 if granularity == 0 else granularity  # gate: sched already holds the whole set, 'row' keeps it all
    if m.df in ("os", "ws"):
        lengths = kernels.sys_fold_lengths(sched, m.groups, cols, mode)
        n_cf = math.ceil(N / cols)
        fold_cols = np.array([min(cols, N - cf * cols) for cf in range(n_cf)] * m.groups, dtype=np.int64)
        if granularity == 2:
            sched_out = int(sched.sum())
        else:
            sched_out = int((lengths * fold_cols).sum())
        chunks = np.arange(lengths.size, dtype=np.int64)
        if m.df == "os":
            n_rf = -(-lengths // rows)
            cyc.append(np.repeat(np.full(lengths.size, ov + K, dtype=np.int64), n_rf))
            chk.append(np.repeat(chunks, n_rf))
            # each fold row receives its pixel's K inputs, each column its filter's K weights
            ni = float(lengths.sum() * K)
            nw = float((n_rf * fold_cols).sum() * K)
            npo = float((lengths * fold_cols).sum())
        else:
            n_kf = math.ceil(K / rows)
            live = lengths > 0
            per = np.where(live, ov + lengths, 0)
            cyc.append(np.repeat(per[live], n_kf))
            chk.append(np.repeat(chunks[live], n_kf))
            ni = float(lengths.sum() * K)  # each stream step carries a K-fold slice of one pixel's inputs
            nw = float((fold_cols[live]).sum() * K)
            npo = float((lengths * fold_cols).sum() * n_kf)
            npi = float((lengths * fold_cols).sum() * (n_kf - 1))
    else:  # is
        kept, streams, max_pf = kernels.sys_is_lengths(sched, m.groups, cols, mode)
        n_kf = math.ceil(K / rows)
        for g in range(m.groups):
            n_pf = -(-int(kept[g]) // cols)
            for pf in range(n_pf):
                t = int(streams[g * max_pf + pf])
                if t == 0:
                    continue
                px = min(cols, int(kept[g]) - pf * cols)
                cyc.append(np.full(n_kf, ov + t, dtype=np.int64))
                chk.append(np.full(n_kf, g, dtype=np.int64))
                if granularity != 2:
                    sched_out += px * t
                ni += px * K
                nw += t * K
                npo += t * px * n_kf
                npi += t * px * (n_kf - 1)
        if granularity == 2:
            sched_out = int(sched.sum())
    pc = np.concatenate(cyc) if cyc else np.zeros(0, dtype=np.int64)
    pch = np.concatenate(chk) if chk else np.zeros(0, dtype=np.int64)
    return SysPhase(pc, pch, sched_out, ni, nw, npo, npi)
