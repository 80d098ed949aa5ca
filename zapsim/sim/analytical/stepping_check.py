"""A stepping check of the analytical engine: its model restated in plain Python, one cycle at a time.

This is not an independent model of the hardware: it uses the analytical
engine's mapping, pass packing, chunks and ZAP MAC counts, and re-derives
the same pass-level timing in a loop, so agreeing with it checks the Numba
arithmetic of ``kernels.py``, not the model (the cycle-level model of the
hardware is ``zapsim/sim/cycle/``).

It rebuilds every pass's per-PE work by enumerating outputs, channels and
filter taps directly from the masks (no prefix sums, no vectorisation), then
advances a global clock cycle by cycle: each PE with work left completes up
to ``macs_per_cycle`` MACs; a pass ends in the cycle its last PE finishes;
the ZAP unit works on one chunk at a time once that chunk's phase-A outputs
are final; a phase-C pass starts only when the ZAP has scored its chunks.
Systolic folds are stepped as wavefronts over the whole array.

It exists to check the analytical kernels (``kernels.py``): tests require identical
cycle counts on random small layers and masks.  Only use it on small layers.
"""

from __future__ import annotations

import math

import numpy as np

from ..row_stationary import RSMapping
from ..systolic import SysMapping

# --------------------------------------------------------------------------- row-stationary work


def rs_reference_passes(m: RSMapping, innz: np.ndarray | None, sched: np.ndarray, real: np.ndarray, in_mode: int,
                        strip_outer: bool = False):
    """Passes of one phase: a list of (chunks, {pe: slots}) built by direct enumeration.

    Items in Eyeriss' order (channel group, row segment, strip) per filter
    group, or with ``strip_outer`` (ZAP layers) (strip, channel group, row
    segment), the chunk being then (filter group, strip).

    Also returns (actual MACs, gated MACs) summed over the phase.
    """
    L = m.layer
    U, V = L.stride
    ph, pw = L.padding
    C, H, W = L.in_shape

    def nz(c, h, w):
        if innz is None:
            return h >= 0 and h < H and w >= 0 and w < W  # dense input: only padding is zero
        return 0 <= h < H and 0 <= w < W and bool(innz[c, h, w])

    items = []
    tot_act = tot_gat = 0
    for g in range(m.groups):
        for fg in range(m.n_fg):
            ks = [g * m.m_per_group + k for k in range(fg * m.p, min((fg + 1) * m.p, m.m_per_group))]
            if strip_outer:
                order = [(cg, rs, st) for st in range(m.n_strips) for cg in range(m.n_cg) for rs in range(m.n_rseg)]
            else:
                order = [(cg, rs, st) for cg in range(m.n_cg) for rs in range(m.n_rseg) for st in range(m.n_strips)]
            for cg, rs, st in order:
                cs = [g * m.c_per_group + c for c in range(cg * m.q, min((cg + 1) * m.q, m.c_per_group))]
                rr = list(range(rs * m.r_len, min((rs + 1) * m.r_len, m.R)))
                if not rr:
                    continue
                ys = list(range(st * m.e, min((st + 1) * m.e, m.E)))
                if not any(sched[k, y, x] for k in ks for y in ys for x in range(m.F)):
                    continue
                work = {}
                for ri, r in enumerate(rr):
                    for yi, y in enumerate(ys):
                        slots = act = 0
                        for x in range(m.F):
                            for k in ks:
                                if not sched[k, y, x]:
                                    continue
                                for c in cs:
                                    for s in range(m.S):
                                        z = nz(c, y * U + r - ph, x * V + s - pw)
                                        if in_mode == 0:
                                            slots += 1
                                            act += 1 if real[k, y, x] else 0
                                        elif in_mode == 1:
                                            slots += 1
                                            act += 1 if (z and real[k, y, x]) else 0
                                        else:
                                            slots += 1 if z else 0
                                            act += 1 if (z and real[k, y, x]) else 0
                        work[(ri, yi)] = (slots, act)
                        tot_act += act
                        tot_gat += slots - act
                fgi = g * m.n_fg + fg
                items.append((fgi * m.n_strips + st if strip_outer else fgi, work))
    passes = []
    for i in range(0, len(items), m.nslots):
        chunks = set()
        pes = {}
        for s, (ch, work) in enumerate(items[i : i + m.nslots]):
            chunks.add(ch)
            sv, sh = divmod(s, m.slots_h)
            for (ri, yi), w in work.items():
                pes[(sv * m.r_len + ri, sh * m.e + yi)] = w
        passes.append((chunks, {pe: w[0] for pe, w in pes.items()}))
    return passes, tot_act, tot_gat


# --------------------------------------------------------------------------- systolic work


def _wavefront_cycles(rows: int, cols: int, T: int, preload: int) -> int:
    """Step a fold: PE (i, j) handles stream element t in cycle preload + i + j + t; count cycles until all finish."""
    t = 0
    done = np.zeros((rows, cols), dtype=bool)
    while not done.all():
        for i in range(rows):
            for j in range(cols):
                if not done[i, j] and t >= preload + i + j + T - 1:
                    done[i, j] = True
        t += 1
    return t


def sys_reference_passes(m: SysMapping, sched: np.ndarray, granularity: int):
    """Folds of one phase as a list of (chunks, fold cycles), by direct enumeration of ``sched`` (M, Npx)."""
    rows, cols = m.rows, m.cols
    pre = 0 if m.df == "os" else rows
    folds = []
    for g in range(m.groups):
        fil = list(range(g * m.N, (g + 1) * m.N))
        if m.df in ("os", "ws"):
            n_cf = math.ceil(m.N / cols)
            for cf in range(n_cf):
                ks = fil[cf * cols : (cf + 1) * cols]
                if granularity == 2:
                    n = max(sum(1 for i in range(m.npx) if sched[k, i]) for k in ks)
                else:
                    n = sum(1 for i in range(m.npx) if any(sched[k, i] for k in ks))
                ch = g * n_cf + cf
                if m.df == "os":
                    for _ in range(math.ceil(n / rows)):
                        folds.append(({ch}, _wavefront_cycles(rows, cols, m.K, pre)))
                elif n > 0:
                    for _ in range(math.ceil(m.K / rows)):
                        folds.append(({ch}, _wavefront_cycles(rows, cols, n, pre)))
        else:
            kept = [i for i in range(m.npx) if any(sched[k, i] for k in fil)]
            for pf in range(math.ceil(len(kept) / cols)):
                px = kept[pf * cols : (pf + 1) * cols]
                if granularity == 2:
                    t = max(sum(1 for k in fil if sched[k, i]) for i in px)
                else:
                    t = sum(1 for k in fil if any(sched[k, i] for i in px))
                if t == 0:
                    continue
                for _ in range(math.ceil(m.K / rows)):
                    folds.append(({g}, _wavefront_cycles(rows, cols, t, pre)))
    return folds


# --------------------------------------------------------------------------- the clock


def step_phases(a_passes, c_passes, z_work, zap_mpc: int, mpc: int, dedicated: bool, array_z: int,
                z_need=None) -> dict:
    """Advance the clock one cycle at a time through phases A, Z, C.

    ``a_passes`` / ``c_passes``: lists of (chunks, {pe: MAC slots}) -- or
    (chunks, cycles) for a lock-step fold, stepped as one PE with that many
    one-cycle slots.  ``z_work``: ZAP MACs per chunk; ``z_need[ch]``: the
    last phase-A chunk whose outputs the ZAP needs to score chunk ``ch``
    (default ``ch``).  Returns the total cycles and per-phase busy cycles.
    """
    n_chunks = len(z_work)
    zneed = list(range(n_chunks)) if z_need is None else [int(v) for v in z_need]

    def norm(p):
        chunks, w = p
        return chunks, (dict(w) if isinstance(w, dict) else {0: int(w)})

    a_q = [norm(p) for p in a_passes]
    c_q = [norm(p) for p in c_passes]
    a_last = {}
    for i, (chunks, _) in enumerate(a_q):
        for ch in chunks:
            a_last[ch] = i
    ready = [False] * n_chunks
    zdone = [False] * n_chunks
    z_rem = list(z_work)
    z_cur = 0
    state = "A"
    cur = None  # (index, remaining {pe: slots})
    idx = 0
    t = 0
    busy = {"A": 0, "Z": 0, "C": 0}
    arr_z_left = array_z
    a_done_passes = 0

    def mark_ready():
        # a chunk is final once the last A pass holding it has finished
        for ch in range(n_chunks):
            if not ready[ch] and a_last.get(ch, -1) < a_done_passes:
                ready[ch] = True

    mark_ready()
    while True:
        # ---- instantaneous transitions at the start of cycle t
        progressed = True
        while progressed:
            progressed = False
            if state == "A":
                if cur is None and idx < len(a_q):
                    cur = (idx, {pe: w for pe, w in a_q[idx][1].items() if w > 0})
                if cur is not None and not cur[1]:
                    a_done_passes = cur[0] + 1
                    mark_ready()
                    idx += 1
                    cur = None
                    progressed = True
                elif cur is None:
                    state = "ZA" if not dedicated else "C"
                    idx = 0
                    progressed = True
            elif state == "ZA":
                if arr_z_left == 0:
                    state = "C"
                    for ch in range(n_chunks):
                        zdone[ch] = True
                    progressed = True
            elif state == "C":
                if cur is None and idx < len(c_q):
                    need = max(c_q[idx][0]) if c_q[idx][0] else -1
                    if all(zdone[: need + 1]):
                        cur = (idx, {pe: w for pe, w in c_q[idx][1].items() if w > 0})
                        progressed = True
                elif cur is not None and not cur[1]:
                    idx += 1
                    cur = None
                    progressed = True
            if (dedicated and z_cur < n_chunks and all(ready[: zneed[z_cur] + 1]) and z_rem[z_cur] <= 0
                    and not zdone[z_cur]):
                zdone[z_cur] = True
                z_cur += 1
                progressed = True
        if state == "C" and cur is None and idx >= len(c_q) and (not dedicated or z_cur >= n_chunks):
            break
        # ---- one cycle of work
        if state in ("A", "C") and cur is not None:
            rem = cur[1]
            for pe in list(rem):
                rem[pe] -= mpc
                if rem[pe] <= 0:
                    del rem[pe]
            busy[state] += 1
        elif state == "ZA":
            arr_z_left -= 1
            busy["Z"] += 1
        if dedicated and z_cur < n_chunks and all(ready[: zneed[z_cur] + 1]) and z_rem[z_cur] > 0:
            z_rem[z_cur] -= zap_mpc
            busy["Z"] += 1
        t += 1
    return {"total": t, **busy}


# --------------------------------------------------------------------------- one layer


def reference_layer(arch, layer, in_mask, out_mask, comp_mask, zap: bool) -> dict:
    """Compute cycles (no memory stalls) and MACs of one layer and image, the slow way.

    Same inputs as ``simulate.simulate_layer``; returns ``{"compute_cycles",
    "A", "Z", "C", "actual", "gated"}``.  The ZAP's MACs per chunk come from
    ``simulate.zap_macs_per_chunk`` (tested separately by hand counts).
    """
    from ..row_stationary import rs_mapping
    from ..simulate import zap_macs_per_chunk
    from ..systolic import GRANULARITY, sys_mapping
    from . import kernels as engine

    M, E, F = layer.out_shape
    in_mode = engine.IN_MODES[arch.sparsity.zero_inputs]
    mpc = arch.pe_array.macs_per_cycle
    ones = np.ones(layer.out_shape, dtype=bool)
    innz = None if in_mask is None else np.asarray(in_mask, dtype=bool)
    outnz = ones if out_mask is None else np.asarray(out_mask, dtype=bool)
    if zap:
        comp = ones if comp_mask is None else np.asarray(comp_mask, dtype=bool)
        i_s = layer.zap.computed_first(E, F)
        sched_a = np.broadcast_to(i_s, layer.out_shape)
        real_c = comp & ~i_s[None]
        gate_out = arch.sparsity.zap_outputs == "gate" or (arch.is_systolic and arch.systolic.zap_granularity == "gate")
        sched_c = np.broadcast_to(~i_s, layer.out_shape) if gate_out else real_c
        phases = [(sched_a, sched_a), (sched_c, real_c)]
    else:
        phases = [(ones, ones)]
    out = {"actual": 0, "gated": 0}
    plist = []
    if arch.dataflow == "row_stationary":
        m = rs_mapping(arch, layer)
        for sched, real in phases:
            passes, act, gat = rs_reference_passes(m, innz if in_mode != 0 else None, sched, real, in_mode,
                                                   strip_outer=zap)
            plist.append(passes)
            out["actual"] += act
            out["gated"] += gat
        step_mpc = mpc
    else:
        m = sys_mapping(arch, layer)
        gran = GRANULARITY[arch.systolic.zap_granularity]
        for sched, _ in phases:
            plist.append(sys_reference_passes(m, np.asarray(sched).reshape(M, E * F), gran))
        step_mpc = 1
    if zap:
        chunk_map, n_chunks, z_need = m.zap_chunks()
        zm = zap_macs_per_chunk(arch, layer, outnz, i_s, chunk_map, n_chunks)
        dedicated = arch.zap_unit.placement == "dedicated"
        array_z = 0 if dedicated else math.ceil(int(zm.sum()) / (arch.num_pes * mpc))
        r = step_phases(plist[0], plist[1], [int(v) for v in zm], arch.zap_unit.macs_per_cycle, step_mpc,
                        dedicated, array_z, z_need)
    else:
        r = step_phases(plist[0], [], [], 1, step_mpc, True, 0)
    total, a = r["total"], r["A"]
    if arch.is_systolic and arch.systolic.scalesim_off_by_one and total > 0:
        total -= 1  # SCALE-Sim's trailing -1, taken from phase A as the fast path does
        a -= 1
    out.update(compute_cycles=total, A=a, Z=r["Z"], C=r["C"])
    return out
