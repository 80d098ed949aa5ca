"""The cycle engine's systolic array: an R x C array of PEs stepped fold by fold, output-, weight- or input-stationary.

What the model holds (``docs/systolic-cycle.md`` has the full account):

* **PE registers.**  Each PE has one register per operand that moves
  through it (the streamed operand from the left, forwarded right; ws/is:
  the psum from above, forwarded down; os: the weight from above, forwarded
  down) and the stationary operand (ws: a weight, is: an ifmap value, os:
  the accumulator), plus a shadow copy of the stationary operand when
  ``systolic.fold_pipelining: on`` and the config gives it room.
* **The wavefront.**  The array is lock-step: in array step ``k`` of a
  fold, PE (i, j) handles stream element ``k - i - j`` (skew of one step per
  row and per column).  A step lasts one cycle unless an edge port cannot
  move that step's words: the left edge (streamed operand,
  ``row_edge_words_per_cycle``), the top edge (os: weights; ws/is: psums
  read back for a later K fold, ``col_edge_words_per_cycle``) or the bottom
  edge (psums / outputs written, ``out_edge_words_per_cycle``).  A step
  that needs ``w`` words on a port of width ``W`` lasts ``ceil(w / W)``
  cycles, and the whole array waits (lock-step back-pressure).
* **Folds.**  A fold occupies the whole array's wavefront (partial folds
  are padded with zeros, as SCALE-Sim does): ``rows + cols + T - 2`` steps.
  ws / is first preload the stationary tile through the top edge
  (``preload_words_per_cycle``): ``rows`` shift steps, the ``r_used`` that
  carry data lasting ``ceil(c_used / W)`` cycles each.  With pipelining
  off, folds run one after the other with nothing overlapped (SCALE-Sim's
  convention); on, the next fold's operands enter right behind the current
  fold's (os: always possible; ws / is: the next tile is shifted into the
  shadow registers once the current tile's swap wave has left the array).
* **Phases A / Z / C** as the analytical engine orders them (a chunk is a
  filter fold for os / ws, a group for is): the dedicated ZAP unit scores
  a chunk once the last fold holding it has drained; a phase-C fold starts
  when the ZAP has scored its chunk.  No pipelining across the A -> C
  boundary (the array drains; conservative by one fold fill).

Every word that crosses an edge port is an SRAM (GLB) read or write and is
counted per fold.  Two implementations of the same model: this module
(Numba, event-driven: it jumps over every span in which no port limits the
wavefront) and :mod:`zapsim.sim.cycle.systolic_stepping` (plain Python, each
PE's registers advanced per clock); ``tests/test_cycle_systolic_stepping.py``
holds them equal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

DF_CODES = {"output_stationary": 0, "weight_stationary": 1, "input_stationary": 2}
GRAN_CODES = {"gate": 1, "row": 1, "compact": 2}  # gate: the schedule holds the whole phase, then as 'row'
IN_MODES = {"ignore": 0, "gate": 1, "skip": 2}

# Per-fold descriptor columns built by build_folds.
F_ROWS, F_COLS, F_T, F_CHUNK, F_PSUM_IN = range(5)


# --------------------------------------------------------------------------- folds of one phase


@njit(cache=True)
def build_folds(sched, groups, K, rows, cols, df, mode):
    """The folds of one phase from its schedule ``sched`` (M, Npx) bool, in execution order.

    Returns (folds (n, 5) int64: used rows, used cols, stream length T, ZAP
    chunk, psum read back in; slots: output slots the folds hold, each K MAC
    slots (``mode`` 2: the scheduled outputs themselves)).  ``mode`` 1: a
    pixel (os, ws) or a filter (is) stays in a fold's stream when any output
    of the fold needs it; 2 (compact): every column runs its own list, the
    fold as long as the longest.
    """
    M, npx = sched.shape
    N = M // groups
    n_cf = (N + cols - 1) // cols
    n_kf = (K + rows - 1) // rows
    if df == 2:
        cap = groups * ((npx + cols - 1) // cols) * n_kf
    elif df == 1:
        cap = groups * n_cf * n_kf
    else:
        cap = groups * n_cf * ((npx + rows - 1) // rows)
    folds = np.zeros((max(cap, 1), 5), dtype=np.int64)
    n = 0
    slots = 0
    if df != 2:
        for g in range(groups):
            for cf in range(n_cf):
                k0 = g * N + cf * cols
                k1 = min(k0 + cols, (g + 1) * N)
                cu = k1 - k0
                ln = 0
                if mode == 2:
                    for k in range(k0, k1):
                        c = 0
                        for i in range(npx):
                            if sched[k, i]:
                                c += 1
                        if c > ln:
                            ln = c
                else:
                    for i in range(npx):
                        for k in range(k0, k1):
                            if sched[k, i]:
                                ln += 1
                                break
                ch = g * n_cf + cf
                if df == 0:  # os: kept pixels fill the rows, K streams
                    for rf in range((ln + rows - 1) // rows):
                        ru = min(rows, ln - rf * rows)
                        folds[n, 0] = ru
                        folds[n, 1] = cu
                        folds[n, 2] = K
                        folds[n, 3] = ch
                        folds[n, 4] = 0
                        n += 1
                        slots += ru * cu
                elif ln > 0:  # ws: K slices of the weights stay, the kept pixels stream
                    for kf in range(n_kf):
                        folds[n, 0] = min(rows, K - kf * rows)
                        folds[n, 1] = cu
                        folds[n, 2] = ln
                        folds[n, 3] = ch
                        folds[n, 4] = 1 if kf > 0 else 0
                        n += 1
                    slots += ln * cu
    else:
        idx = np.empty(npx, dtype=np.int64)
        for g in range(groups):
            nk = 0
            for i in range(npx):
                for k in range(g * N, (g + 1) * N):
                    if sched[k, i]:
                        idx[nk] = i
                        nk += 1
                        break
            for pf in range((nk + cols - 1) // cols):
                j0 = pf * cols
                j1 = min(j0 + cols, nk)
                t = 0
                if mode == 2:
                    for j in range(j0, j1):
                        c = 0
                        for k in range(g * N, (g + 1) * N):
                            if sched[k, idx[j]]:
                                c += 1
                        if c > t:
                            t = c
                else:
                    for k in range(g * N, (g + 1) * N):
                        for j in range(j0, j1):
                            if sched[k, idx[j]]:
                                t += 1
                                break
                if t == 0:
                    continue
                for kf in range(n_kf):
                    folds[n, 0] = min(rows, K - kf * rows)
                    folds[n, 1] = j1 - j0
                    folds[n, 2] = t
                    folds[n, 3] = g
                    folds[n, 4] = 1 if kf > 0 else 0
                    n += 1
                slots += (j1 - j0) * t
    if mode == 2:
        slots = 0
        for k in range(M):
            for i in range(npx):
                if sched[k, i]:
                    slots += 1
    return folds[:n], slots


def fold_words(folds: np.ndarray, df: int) -> dict[str, float]:
    """SRAM words the folds move across the array's edges: ifmap and filter reads, psum writes and reads back."""
    r, c, t, pin = (folds[:, j].astype(np.float64) for j in (F_ROWS, F_COLS, F_T, F_PSUM_IN))
    if df == 0:  # os: ifmaps stream in at the left (K per pixel row), weights at the top (K per filter column)
        return {"ifmap": float((r * t).sum()), "filter": float((c * t).sum()), "psum_out": float((r * c).sum()),
                "psum_in": 0.0}
    if df == 1:  # ws: the weight tile is preloaded, ifmaps stream in, one psum per column and stream step leaves
        return {"ifmap": float((r * t).sum()), "filter": float((r * c).sum()), "psum_out": float((c * t).sum()),
                "psum_in": float((pin * c * t).sum())}
    return {"ifmap": float((r * c).sum()), "filter": float((r * t).sum()), "psum_out": float((c * t).sum()),
            "psum_in": float((pin * c * t).sum())}


# --------------------------------------------------------------------------- the wavefront, step by step


@njit(cache=True, inline="always")
def _trap(k, off, n, T):
    """#{i in [0, n): 0 <= k - off - i < T}: the lanes of an edge that move a word in step k."""
    hi = min(n - 1, k - off)
    lo = max(0, k - off - T + 1)
    return hi - lo + 1 if hi >= lo else 0


@njit(cache=True, inline="always")
def _diag(m, r, c):
    """#{(i, j): i < r, j < c, i + j = m}: the os PEs that finish their output in the same step."""
    hi = min(r - 1, m)
    lo = max(0, m - c + 1)
    return hi - lo + 1 if hi >= lo else 0


@njit(cache=True, inline="always")
def _ceil_div(a, b):
    return (a + b - 1) // b


@njit(cache=True)
def step_words(df, rows, ru, cu, T, pin, k):
    """(left, top, bottom) edge words of local step ``k`` of a fold (see the module docstring)."""
    left = _trap(k, 0, ru, T)
    if df == 0:
        top = _trap(k, 0, cu, T)
        bot = _diag(k - (T - 1), ru, cu)
    else:
        top = _trap(k, 0, cu, T) if pin else 0
        bot = _trap(k, rows - 1, cu, T)
    return left, top, bot


@njit(cache=True)
def preload_cycles(df, rows, ru, cu, wp):
    """Cycles to shift a ws / is stationary tile in: ``rows`` shifts, the ``ru`` data rows ``ceil(cu / wp)`` each."""
    if df == 0:
        return 0
    return (rows - ru) + ru * _ceil_div(cu, wp)


@njit(cache=True)
def run_folds(folds, df, rows, cols, widths, pipelined, t0, earliest, fold_end, force_steps):
    """Time a sequence of folds on the array; returns (end cycle, idle cycles, preload cycles, port-stall cycles).

    ``widths`` = (left, top, bottom, preload) words per cycle; ``earliest[f]``
    the first cycle fold f may start (the ZAP's scores for phase C);
    ``fold_end[f]`` receives the cycle its last word left the array.  Idle
    cycles: the array waits with nothing in flight.  With pipelining off a
    fold whose words fit the ports everywhere is one jump of ``rows + cols
    + T - 2`` cycles; otherwise (and with ``force_steps``) step by step.
    """
    wl, wt, wb, wp = widths[0], widths[1], widths[2], widths[3]
    n = folds.shape[0]
    c_cur = t0
    idle = 0
    pre_total = 0
    stall = 0
    if n == 0:
        return c_cur, idle, pre_total, stall
    if not pipelined:
        for f in range(n):
            ru, cu, T, pin = folds[f, 0], folds[f, 1], folds[f, 2], folds[f, 4]
            if earliest[f] > c_cur:
                idle += earliest[f] - c_cur
                c_cur = earliest[f]
            p = preload_cycles(df, rows, ru, cu, wp)
            pre_total += p
            c_cur += p
            L = rows + cols + T - 2
            top_max = min(cu, T) if (df == 0 or pin) else 0
            bot_max = min(ru, cu) if df == 0 else min(cu, T)
            if not force_steps and min(ru, T) <= wl and top_max <= wt and bot_max <= wb:
                c_cur += L  # no port limits any step: the wavefront runs at one step per cycle
            else:
                for k in range(L):
                    left, top, bot = step_words(df, rows, ru, cu, T, pin, k)
                    d = max(1, max(_ceil_div(left, wl), max(_ceil_div(top, wt), _ceil_div(bot, wb))))
                    stall += d - 1
                    c_cur += d
            fold_end[f] = c_cur
        return c_cur, idle, pre_total, stall
    # pipelined: one global step line; each fold adds its edge words at its own steps
    total_L = 0
    for f in range(n):
        total_L += rows + cols + folds[f, 2] - 2
    dl = np.zeros(total_L + 1, dtype=np.int64)
    dt = np.zeros(total_L + 1, dtype=np.int64)
    db = np.zeros(total_L + 1, dtype=np.int64)
    step_end = np.zeros(total_L + 1, dtype=np.int64)
    first = np.zeros(n, dtype=np.int64)
    s_cur = 0
    last_dem = -1
    pre_end = t0
    for f in range(n):
        ru, cu, T, pin = folds[f, 0], folds[f, 1], folds[f, 2], folds[f, 4]
        p = preload_cycles(df, rows, ru, cu, wp)
        pre_total += p
        if f == 0:
            pre_start = t0
            min_step = 0
        else:
            prev_S = first[f - 1]
            min_step = prev_S + folds[f - 1, 2]
            pre_start = pre_end
            if df != 0:  # the shadow chain shifts only after the previous tile's swap wave left the array
                swap_step = prev_S + rows + cols - 2
                while s_cur <= swap_step:
                    d = max(1, max(_ceil_div(dl[s_cur], wl), max(_ceil_div(dt[s_cur], wt), _ceil_div(db[s_cur], wb))))
                    stall += d - 1
                    c_cur += d
                    step_end[s_cur] = c_cur
                    s_cur += 1
                pre_start = max(pre_start, step_end[swap_step])
        pre_end = pre_start + p
        ready = max(pre_end, earliest[f])
        while s_cur < min_step or c_cur < ready:
            if s_cur >= min_step and s_cur > last_dem:
                # nothing in flight: jump to the cycle the fold can start; the cycles the preload port works
                # in are preload, the rest idle
                idle += (ready - c_cur) - max(0, min(ready, pre_end) - max(c_cur, pre_start))
                c_cur = ready
                break
            d = max(1, max(_ceil_div(dl[s_cur], wl), max(_ceil_div(dt[s_cur], wt), _ceil_div(db[s_cur], wb))))
            stall += d - 1
            c_cur += d
            step_end[s_cur] = c_cur
            s_cur += 1
        first[f] = s_cur
        L = rows + cols + T - 2
        for k in range(L):
            left, top, bot = step_words(df, rows, ru, cu, T, pin, k)
            dl[s_cur + k] += left
            dt[s_cur + k] += top
            db[s_cur + k] += bot
        last_dem = max(last_dem, s_cur + L - 1)
    while s_cur <= last_dem:
        d = max(1, max(_ceil_div(dl[s_cur], wl), max(_ceil_div(dt[s_cur], wt), _ceil_div(db[s_cur], wb))))
        stall += d - 1
        c_cur += d
        step_end[s_cur] = c_cur
        s_cur += 1
    for f in range(n):
        fold_end[f] = step_end[first[f] + rows + cols + folds[f, 2] - 3]
    return c_cur, idle, pre_total, stall


@njit(cache=True)
def zap_schedule(ready, z_cycles, z_need):
    """Dedicated ZAP unit: chunk ch starts at max(ready of chunk z_need[ch], previous chunk's end); returns ends."""
    n = z_cycles.size
    done = np.zeros(n, dtype=np.int64)
    zt = 0
    for ch in range(n):
        zt = max(zt, ready[z_need[ch]]) + z_cycles[ch]
        done[ch] = zt
    return done


# --------------------------------------------------------------------------- MACs


@njit(cache=True)
def rf_nonzeros(innz, R, S, E, F, U, V, ph, pw, groups):
    """Nonzero inputs of each output pixel's receptive field, per group: (groups, E*F); padding is zero."""
    C, H, W = innz.shape
    cg = C // groups
    out = np.zeros((groups, E * F), dtype=np.int64)
    for c in range(C):
        g = c // cg
        for y in range(E):
            for r in range(R):
                h = y * U + r - ph
                if h < 0 or h >= H:
                    continue
                for x in range(F):
                    acc = 0
                    for s in range(S):
                        w = x * V + s - pw
                        if 0 <= w < W and innz[c, h, w]:
                            acc += 1
                    out[g, y * F + x] += acc
    return out


@njit(cache=True)
def masked_rf_sum(real, rfnz, groups):
    """Sum over the outputs marked in ``real`` (M, Npx) of their receptive-field nonzeros."""
    M, npx = real.shape
    mg = M // groups
    t = 0
    for k in range(M):
        g = k // mg
        for i in range(npx):
            if real[k, i]:
                t += rfnz[g, i]
    return t


# --------------------------------------------------------------------------- one layer


class SystolicParams:
    """The array's timing parameters from an arch config (``systolic.*`` keys, nulls resolved)."""

    def __init__(self, arch):
        s = arch.systolic
        rows, cols = arch.pe_array.rows, arch.pe_array.cols
        self.df = DF_CODES[arch.dataflow]
        self.rows, self.cols = rows, cols

        def w(key, default):
            v = getattr(s, key, None)
            return int(default if v is None else v)

        self.widths = np.array([w("row_edge_words_per_cycle", rows), w("col_edge_words_per_cycle", cols),
                                w("out_edge_words_per_cycle", cols), w("preload_words_per_cycle", cols)],
                               dtype=np.int64)
        self.pipelined = getattr(s, "fold_pipelining", "off") == "on"


def _macs(real: np.ndarray, rfnz, K: int, groups: int) -> float:
    """Effectual MACs of the outputs in ``real``: K each, or their receptive fields' nonzero inputs."""
    if rfnz is None:
        return float(K * int(real.sum()))
    return float(masked_rf_sum(np.ascontiguousarray(real), rfnz, groups))


def _phase(p: SystolicParams, sched: np.ndarray, groups: int, K: int, mode: int):
    folds, slots = build_folds(np.ascontiguousarray(sched), groups, K, p.rows, p.cols, p.df, mode)
    return folds, int(slots)


def systolic_layer(arch, layer, in_masks, out_masks, comp_masks, *, zap: bool, force_steps: bool = False
                   ) -> dict[str, np.ndarray]:
    """Core counters of one systolic layer, per image (arrays over the N images of the masks).

    ``in_masks`` (N, C, H, W), ``out_masks`` / ``comp_masks`` (N, M, E, F)
    bool or None (dense).  Keys as the analytical engine's core counters
    (``compute`` = array and ZAP time, no DRAM; ``A``, ``Z``, ``C``;
    ``actual``, ``gated`` MACs; ``noc_*`` edge words; ``zmacs``;
    ``dram_in`` / ``dram_out`` words) plus ``sram_*`` reads / writes,
    ``preload_cycles`` and ``port_stall_cycles``.  SCALE-Sim's off-by-one
    is not applied here (the caller applies it once per layer).
    """
    from .. import memory
    from ..simulate import zap_macs_per_chunk

    p = SystolicParams(arch)
    M, E, F = layer.out_shape
    npx = E * F
    groups = layer.groups
    N = M // groups
    K = layer.macs_per_output
    R, S = layer.kernel
    U, V = layer.stride
    ph, pw = layer.padding
    in_mode = IN_MODES[arch.sparsity.zero_inputs]
    gran = arch.systolic.zap_granularity
    mode = GRAN_CODES[gran]
    gate_out = arch.sparsity.zap_outputs == "gate" or gran == "gate"
    n_img = 1
    for m_ in (in_masks, out_masks, comp_masks):
        if m_ is not None:
            n_img = len(m_)
    keys = ("compute", "A", "Z", "C", "actual", "gated", "busy_pe", "gated_pe", "noc_i", "noc_w", "noc_po", "noc_pi",
            "noc_hop", "zmacs", "dram_in", "dram_out", "sram_ifmap_reads", "sram_filter_reads", "sram_psum_writes",
            "sram_psum_reads", "preload_cycles", "port_stall_cycles")
    res = {k: np.zeros(n_img, dtype=np.float64) for k in keys}
    ones = np.ones((M, npx), dtype=bool)
    i_s = layer.zap.computed_first(E, F) if zap else None
    dense_cache = None
    if zap:
        n_cf = math.ceil(N / p.cols)
        ch_of_k = np.arange(M) // N if p.df == 2 else (np.arange(M) // N) * n_cf + (np.arange(M) % N) // p.cols
        n_chunks = groups if p.df == 2 else groups * n_cf
        chunk_map = np.ascontiguousarray(np.repeat(ch_of_k.astype(np.int64)[:, None], E, axis=1))
        z_need = np.arange(n_chunks, dtype=np.int64)
        sched_a = np.ascontiguousarray(np.broadcast_to(i_s.reshape(1, npx), (M, npx)))
        folds_a, slots_a = _phase(p, sched_a, groups, K, mode)
        sched_gate = np.ascontiguousarray(np.broadcast_to(~i_s.reshape(1, npx), (M, npx)))
    in_words = layer.c_in * layer.h_in * layer.w_in
    for im in range(n_img):
        innz = None if in_masks is None else np.ascontiguousarray(np.asarray(in_masks[im], dtype=bool))
        outnz = np.ones(layer.out_shape, dtype=bool) if out_masks is None else np.asarray(out_masks[im], dtype=bool)
        rfnz = None
        if in_mode != 0:
            x = innz if innz is not None else np.ones(layer.in_shape, dtype=bool)
            rfnz = rf_nonzeros(x, R, S, E, F, U, V, ph, pw, groups)

        if not zap:
            if dense_cache is None or rfnz is not None:
                folds, slots = _phase(p, ones, groups, K, mode)
                end = np.zeros(folds.shape[0], dtype=np.int64)
                t, idle, pre, st = run_folds(folds, p.df, p.rows, p.cols, p.widths, p.pipelined, 0,
                                             np.zeros(folds.shape[0], dtype=np.int64), end, force_steps)
                dense_cache = (folds, slots, t, idle, pre, st)
            folds, slots, t, idle, pre, st = dense_cache
            actual = _macs(ones, rfnz, K, groups)
            res["compute"][im] = t
            res["A"][im] = t - idle
            fl = [folds]
            slot_total = slots
            final_out = outnz
        else:
            comp = np.ones((M, npx), dtype=bool) if comp_masks is None else \
                np.asarray(comp_masks[im], dtype=bool).reshape(M, npx)
            real_c = np.ascontiguousarray(comp & ~i_s.reshape(1, npx))
            sched_c = sched_gate if gate_out else real_c
            folds_c, slots_c = _phase(p, sched_c, groups, K, mode)
            end_a = np.zeros(folds_a.shape[0], dtype=np.int64)
            ta, idle_a, pre_a, st_a = run_folds(folds_a, p.df, p.rows, p.cols, p.widths, p.pipelined, 0,
                                                np.zeros(folds_a.shape[0], dtype=np.int64), end_a, force_steps)
            ready = np.zeros(n_chunks, dtype=np.int64)
            for f in range(folds_a.shape[0]):
                ch = folds_a[f, F_CHUNK]
                ready[ch] = max(ready[ch], end_a[f])
            for ch in range(1, n_chunks):  # a chunk with no phase-A fold is ready with its predecessor
                ready[ch] = max(ready[ch], ready[ch - 1])
            zm = zap_macs_per_chunk(arch, layer, outnz, i_s, chunk_map, n_chunks).astype(np.int64)
            zsum = int(zm.sum())
            dedicated = arch.zap_unit.placement == "dedicated"
            if dedicated:
                zc = -(-zm // arch.zap_unit.macs_per_cycle)
                zdone = zap_schedule(ready, zc, z_need)
                z_busy = int(zc.sum())
                t0_c = ta
            else:
                # the ZAP's MACs on the PEs, every PE busy (ideal utilisation) between A and C
                z_busy = math.ceil(zsum / (arch.num_pes * arch.pe_array.macs_per_cycle))
                t0_c = ta + z_busy
                zdone = np.full(n_chunks, t0_c, dtype=np.int64)
            earliest = np.ascontiguousarray(zdone[folds_c[:, F_CHUNK]]) if folds_c.shape[0] else \
                np.zeros(0, dtype=np.int64)
            end_c = np.zeros(folds_c.shape[0], dtype=np.int64)
            tc, idle_c, pre_c, st_c = run_folds(folds_c, p.df, p.rows, p.cols, p.widths, p.pipelined, t0_c, earliest,
                                                end_c, force_steps)
            t = max(tc, int(zdone[-1]) if n_chunks else 0)
            res["compute"][im] = t
            res["A"][im] = ta - idle_a
            res["C"][im] = tc - t0_c - idle_c
            res["Z"][im] = z_busy
            res["zmacs"][im] = zsum
            pre, st = pre_a + pre_c, st_a + st_c
            actual = _macs(sched_a, rfnz, K, groups) + _macs(real_c, rfnz, K, groups)
            fl = [folds_a, folds_c]
            slot_total = slots_a + slots_c
            final_out = outnz & comp.reshape(M, E, F)
        gated = float(K * slot_total) - actual
        res["actual"][im] = actual
        res["gated"][im] = gated
        res["busy_pe"][im] = actual
        res["gated_pe"][im] = gated
        words = [fold_words(f_, p.df) for f_ in fl]
        res["noc_i"][im] = res["sram_ifmap_reads"][im] = sum(w_["ifmap"] for w_ in words)
        res["noc_w"][im] = res["sram_filter_reads"][im] = sum(w_["filter"] for w_ in words)
        res["noc_po"][im] = res["sram_psum_writes"][im] = sum(w_["psum_out"] for w_ in words)
        res["noc_pi"][im] = res["sram_psum_reads"][im] = sum(w_["psum_in"] for w_ in words)
        res["preload_cycles"][im] = pre
        res["port_stall_cycles"][im] = st
        res["dram_in"][im] = memory.compressed_words(innz, in_words, arch)
        res["dram_out"][im] = memory.compressed_words(final_out, M * E * F, arch)
    return res
