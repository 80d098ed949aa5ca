"""Per-PE timelines of one layer and one image: busy / gated / idle / stalled cycles, run-length coded.

Built from the fast engine's pass-level schedule (not from the slow
reference), so any layer size works.  Within a pass a row-stationary PE is
shown busy, then gated (its gated MAC slots gathered after its effectual
ones), then idle until the pass's slowest PE ends; a systolic PE waits for
its wavefront (row + column skew, plus the weight preload in ws / is), works
``T`` cycles if its row and column are used in the fold, and idles for the
rest, its gated share (the layer's gated / scheduled MACs) drawn after the
busy part.  A ZAP on the array shows as busy for the Z cycles; memory
stalls are drawn at the end of the layer.  The per-PE totals equal the
``pe_cycles`` of the simulation up to the rounding of these orderings.
"""

from __future__ import annotations

import math

import numpy as np

from .analytical import kernels
from .row_stationary import rs_input_prefix, rs_mapping, rs_run_phase
from .simulate import simulate_layer, zap_macs_per_chunk
from .systolic import sys_mapping

BUSY, GATED, IDLE, STALLED = 0, 1, 2, 3
STATES = ("busy", "gated", "idle", "stalled")


class _Runs:
    """Run-length timelines of every PE, appended in time order."""

    def __init__(self, n: int):
        self.runs: list[list[list[int]]] = [[] for _ in range(n)]
        self.t = np.zeros(n, dtype=np.int64)

    def add(self, pe: int, state: int, n: int) -> None:
        if n <= 0:
            return
        r = self.runs[pe]
        if r and r[-1][0] == state:
            r[-1][1] += int(n)
        else:
            r.append([state, int(n)])
        self.t[pe] += n

    def idle_until(self, t: int) -> None:
        for pe in range(len(self.runs)):
            self.add(pe, IDLE, t - int(self.t[pe]))


def _c_starts(a_cycles, a_lo, a_hi, z_cycles, z_need, c_cycles, c_hi, dedicated: bool, array_z: int):
    """Start cycles of A passes, of the array's Z slot and of C passes (kernels.combine_phases, step by step)."""
    n_chunks = len(z_cycles)
    ready = np.zeros(n_chunks, dtype=np.int64)
    t = 0
    a_start = []
    for i, c in enumerate(a_cycles):
        a_start.append(t)
        t += int(c)
        ready[a_lo[i] : a_hi[i] + 1] = t
    for ch in range(1, n_chunks):
        ready[ch] = max(ready[ch], ready[ch - 1])
    zdone = np.zeros(n_chunks, dtype=np.int64)
    z_start = int(ready[z_need[0]]) if dedicated and n_chunks else t
    if dedicated:
        zt = 0
        for ch in range(n_chunks):
            zt = max(zt, int(ready[z_need[ch]])) + int(z_cycles[ch])
            zdone[ch] = zt
    else:
        t += array_z
        zdone[:] = t
    c_start = []
    for i, c in enumerate(c_cycles):
        t = max(t, int(zdone[c_hi[i]]))
        c_start.append(t)
        t += int(c)
    return a_start, z_start, c_start


def _masks_from_trace(trace, layer_index: int, op_id: str, image: int):
    def one(kind):
        return trace.mask(op_id, layer_index, kind)[image]

    zap = op_id != "dense" and trace.op(op_id).kind != "dense" and trace.layers[layer_index].zap is not None
    return one("in"), one("out"), (one("computed") if zap else None), zap


def layer_timeline(arch, layer, *, trace=None, layer_index: int | None = None, op_id: str = "dense", image: int = 0,
                   in_mask=None, out_mask=None, computed_mask=None, zap: bool | None = None) -> dict:
    """Per-PE timeline of ``layer`` for one image (from ``trace`` or the given masks).

    Returns a JSON-ready dict: ``layer``, ``op_id``, ``image``, ``cycles``,
    ``rows``, ``cols``, ``states`` (code -> name), ``runs`` (per PE, row-major:
    a list of [state code, cycles] in time order), ``phase_starts`` ({A, Z, C}
    start cycles, only the phases that ran) and ``pe_cycles`` (the simulation's totals).
    """
    if trace is not None:
        li = layer_index if layer_index is not None else trace.layer_index(layer.name)
        in_mask, out_mask, computed_mask, zap = _masks_from_trace(trace, li, op_id, image)
    if zap is None:
        zap = layer.zap is not None and computed_mask is not None
    stats = simulate_layer(arch, layer, in_mask, out_mask, computed_mask, zap=zap)
    M, E, F = layer.out_shape
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    n_pe = rows * cols
    runs = _Runs(n_pe)
    in_mode = kernels.IN_MODES[arch.sparsity.zero_inputs]
    ones = np.ones(layer.out_shape, dtype=bool)
    innz = None if in_mask is None else np.asarray(in_mask, dtype=bool)
    if innz is None and in_mode != 0:
        innz = np.ones(layer.in_shape, dtype=bool)
    if zap:
        comp = ones if computed_mask is None else np.asarray(computed_mask, dtype=bool)
        i_s = layer.zap.computed_first(E, F)
        sched_a = np.ascontiguousarray(np.broadcast_to(i_s, layer.out_shape))
        real_c = np.ascontiguousarray(comp & ~i_s[None])
        gate_out = arch.sparsity.zap_outputs == "gate" or (arch.is_systolic and arch.systolic.zap_granularity == "gate")
        sched_c = np.ascontiguousarray(np.broadcast_to(~i_s, layer.out_shape)) if gate_out else real_c
        phases = [(sched_a, sched_a), (sched_c, real_c)]
    else:
        phases = [(ones, ones)]
    pe_work = []  # per phase: list of (pass cycles, per-PE (busy, gated) or None for systolic)
    if arch.dataflow == "row_stationary":
        m = rs_mapping(arch, layer)
        pre = rs_input_prefix(m, innz if in_mode != 0 else None)
        per_phase = [rs_run_phase(m, pre, s, r, in_mode, arch.pe_array.macs_per_cycle, record=True, strip_outer=zap)
                     for s, r in phases]
        bounds = [(p.pass_cycles, p.pass_chunk_lo, p.pass_chunk) for p in per_phase]
        for p in per_phase:
            items = []
            for k in range(p.pass_cycles.size):
                cyc = p.pe_slots[k, :, 0]
                act, gat = p.pe_slots[k, :, 1], p.pe_slots[k, :, 2]
                tot = act + gat
                busy = np.where(tot > 0, np.rint(cyc * act / np.maximum(tot, 1)), 0).astype(np.int64)
                items.append((int(p.pass_cycles[k]), busy, cyc.astype(np.int64) - busy))
            pe_work.append(items)
    else:
        m = sys_mapping(arch, layer)
        gran = {"gate": 0, "row": 1, "compact": 2}[arch.systolic.zap_granularity]
        slots = stats["mac_actual"][0] + stats["mac_gated"][0]
        gshare = stats["mac_gated"][0] / slots if slots > 0 else 0.0
        bounds = []
        for s, _ in phases:
            folds = _sys_folds(m, s.reshape(M, E * F), gran)
            pc = np.array([f[0] for f in folds], dtype=np.int64)
            ch = np.array([f[1] for f in folds], dtype=np.int64)
            bounds.append((pc, ch, ch))
            pe_work.append([(f[0], f, gshare) for f in folds])
    if zap:
        chunk_map, n_chunks, z_need = m.zap_chunks()
        zm = zap_macs_per_chunk(arch, layer, np.ones(layer.out_shape, bool) if out_mask is None
                                else np.asarray(out_mask, bool), i_s, chunk_map, n_chunks)
        dedicated = arch.zap_unit.placement == "dedicated"
        zc = -(-zm // arch.zap_unit.macs_per_cycle) if dedicated else np.zeros(n_chunks, dtype=np.int64)
        array_z = 0 if dedicated else math.ceil(int(zm.sum()) / (arch.num_pes * arch.pe_array.macs_per_cycle))
        (a_c, a_lo, a_hi), (c_c, _, c_hi) = bounds
        a_start, z_start, c_start = _c_starts(a_c, a_lo, a_hi, zc, z_need, c_c, c_hi, dedicated, array_z)
        starts = [a_start, c_start]
        phase_starts = {"A": 0, "Z": int(z_start), "C": int(c_start[0]) if c_start else None}
    else:
        a_start = list(np.concatenate([[0], np.cumsum(bounds[0][0])[:-1]]).astype(int)) if bounds[0][0].size else []
        starts = [a_start]
        phase_starts = {"A": 0}
        array_z, z_start, dedicated = 0, 0, True
    for ph, (items, st) in enumerate(zip(pe_work, starts)):
        if zap and ph == 1 and not dedicated:
            runs.idle_until(z_start)
            for pe in range(n_pe):
                runs.add(pe, BUSY, array_z)
        for (length, a, b), t0 in zip(items, st):
            runs.idle_until(t0)
            if arch.dataflow == "row_stationary":
                for pe in range(n_pe):
                    runs.add(pe, BUSY, int(a[pe]))
                    runs.add(pe, GATED, int(b[pe]))
            else:
                _sys_fold_runs(runs, m, a, b, t0)
            runs.idle_until(t0 + length)
    compute = int(round(stats["compute_cycles"][0]))
    if arch.is_systolic and arch.systolic.scalesim_off_by_one and compute > 0:
        compute += 1  # the timeline keeps the last cycle SCALE-Sim drops
    runs.idle_until(compute)
    stall = int(round(stats["stall_cycles"][0]))
    for pe in range(n_pe):
        runs.add(pe, STALLED, stall)
    js = stats.to_json()
    return {"layer": layer.name, "op_id": op_id, "image": image, "cycles": compute + stall, "rows": rows,
            "cols": cols, "states": list(STATES), "runs": runs.runs,
            "phase_starts": {k: v for k, v in phase_starts.items() if v is not None}, "pe_cycles": js["pe_cycles"]}


def _sys_folds(m, sched: np.ndarray, gran: int) -> list[tuple]:
    """Folds of one systolic phase: (cycles, chunk, T, rows used, cols used, preload)."""
    out = []
    ov = m.fold_overhead()
    pre = 0 if m.df == "os" else m.rows
    for g in range(m.groups):
        blk = sched[g * m.N : (g + 1) * m.N]
        if m.df in ("os", "ws"):
            n_cf = math.ceil(m.N / m.cols)
            for cf in range(n_cf):
                f = blk[cf * m.cols : (cf + 1) * m.cols]
                n = int(f.sum(axis=1).max()) if gran == 2 else int(f.any(axis=0).sum())
                ch = g * n_cf + cf
                if m.df == "os":
                    for rf in range(math.ceil(n / m.rows)):
                        out.append((ov + m.K, ch, m.K, min(m.rows, n - rf * m.rows), f.shape[0], pre))
                elif n > 0:
                    for kf in range(math.ceil(m.K / m.rows)):
                        out.append((ov + n, ch, n, min(m.rows, m.K - kf * m.rows), f.shape[0], pre))
        else:
            kept = np.flatnonzero(blk.any(axis=0))
            for pf in range(math.ceil(kept.size / m.cols)):
                px = kept[pf * m.cols : (pf + 1) * m.cols]
                sub = blk[:, px]
                t = int(sub.sum(axis=0).max()) if gran == 2 else int(sub.any(axis=1).sum())
                if t == 0:
                    continue
                for kf in range(math.ceil(m.K / m.rows)):
                    out.append((ov + t, g, t, min(m.rows, m.K - kf * m.rows), px.size, pre))
    return out


def _sys_fold_runs(runs: _Runs, m, fold: tuple, gshare: float, t0: int) -> None:
    _, _, T, used_r, used_c, pre = fold
    n_g = int(round(T * gshare))
    for i in range(m.rows):
        for j in range(m.cols):
            pe = i * m.cols + j
            if i < used_r and j < used_c:
                runs.add(pe, IDLE, t0 + pre + i + j - int(runs.t[pe]))
                runs.add(pe, BUSY, T - n_g)
                runs.add(pe, GATED, n_g)
