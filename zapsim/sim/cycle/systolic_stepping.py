"""The systolic array stepped one clock cycle at a time, each PE's registers advanced per cycle (plain Python).

A second implementation of the model of :mod:`zapsim.sim.cycle.systolic_array`
written the slow, literal way, to check the event-driven one:

* the folds of a phase are enumerated from the masks directly (lists of
  pixels and filters, no Numba);
* every PE holds registers that carry a tag (fold, stream element): the
  streamed operand (forwarded right), os: the weight (forwarded down),
  ws / is: the stationary operand and, with fold pipelining, its shadow;
  a preload shifts a tile down the columns one row per shift step;
* each clock cycle the edge ports move at most their width of words; an
  array step happens in the cycle in which every word it needs has moved
  (lock-step back-pressure), and then every register takes its
  neighbour's value; each PE that receives a valid element does one MAC,
  counted actual or gated from the masks of the very output and input it
  touches;
* the dedicated ZAP unit is a counter of MACs advanced per cycle.

It asserts what the hardware needs to be consistent (an os PE sees the
same element from the left and from the top; a ws / is PE uses the tile
of the fold it works on; a preload never overwrites a shadow register
before its PE has swapped it in).  Use it on small layers only.
"""

from __future__ import annotations

import math

import numpy as np


class _Fold:
    """One fold: which output / input each PE and stream element stands for."""

    def __init__(self, df, ru, cu, T, chunk, pin, slot):
        self.df, self.ru, self.cu, self.T, self.chunk, self.pin = df, ru, cu, T, chunk, pin
        self.slot = slot  # (i, j, t) -> (filter, pixel, k) or None


def enumerate_folds(df: str, sched: np.ndarray, groups: int, K: int, rows: int, cols: int, compact: bool):
    """The folds of one phase, in execution order, by direct enumeration of ``sched`` (M, Npx)."""
    M, npx = sched.shape
    N = M // groups
    out = []
    n_kf = math.ceil(K / rows)
    for g in range(groups):
        fil = list(range(g * N, (g + 1) * N))
        if df in ("os", "ws"):
            n_cf = math.ceil(N / cols)
            for cf in range(n_cf):
                ks = fil[cf * cols:(cf + 1) * cols]
                ch = g * n_cf + cf
                if compact:
                    lists = [[i for i in range(npx) if sched[k, i]] for k in ks]
                else:
                    kept = [i for i in range(npx) if any(sched[k, i] for k in ks)]
                    lists = [kept for _ in ks]
                ln = max(len(li) for li in lists)
                if df == "os":
                    for rf in range(math.ceil(ln / rows)):
                        ru = min(rows, ln - rf * rows)

                        def slot(i, j, t, lists=lists, ks=ks, rf=rf):
                            q = rf * rows + i
                            return (ks[j], lists[j][q], t) if q < len(lists[j]) else None

                        out.append(_Fold("os", ru, len(ks), K, ch, False, slot))
                elif ln > 0:
                    for kf in range(n_kf):
                        ru = min(rows, K - kf * rows)

                        def slot(i, j, t, lists=lists, ks=ks, kf=kf):
                            return (ks[j], lists[j][t], kf * rows + i) if t < len(lists[j]) else None

                        out.append(_Fold("ws", ru, len(ks), ln, ch, kf > 0, slot))
        else:
            kept = [i for i in range(npx) if any(sched[k, i] for k in fil)]
            for pf in range(math.ceil(len(kept) / cols)):
                px = kept[pf * cols:(pf + 1) * cols]
                if compact:
                    lists = [[k for k in fil if sched[k, i]] for i in px]
                else:
                    need = [k for k in fil if any(sched[k, i] for i in px)]
                    lists = [need for _ in px]
                t_len = max(len(li) for li in lists)
                if t_len == 0:
                    continue
                for kf in range(n_kf):
                    ru = min(rows, K - kf * rows)

                    def slot(i, j, t, lists=lists, px=px, kf=kf):
                        return (lists[j][t], px[j], kf * rows + i) if t < len(lists[j]) else None

                    out.append(_Fold("is", ru, len(px), t_len, g, kf > 0, slot))
    return out


def _ceil(a, b):
    return -(-a // b)


class _Array:
    """The PE registers and the edge ports; :meth:`run` steps a list of folds cycle by cycle."""

    def __init__(self, rows, cols, widths, pipelined, effectual):
        self.rows, self.cols = rows, cols
        self.wl, self.wt, self.wb, self.wp = widths
        self.pipelined = pipelined
        self.effectual = effectual  # (filter, pixel, k) -> bool
        self.a = [[None] * cols for _ in range(rows)]  # streamed operand: (fold, t)
        self.b = [[None] * cols for _ in range(rows)]  # os: the weight from above
        self.stat = [[None] * cols for _ in range(rows)]  # ws/is: (fold, tile row) of the active register
        self.shadow = [[None] * cols for _ in range(rows)]
        self.words = {"ifmap": 0, "filter": 0, "psum_out": 0, "psum_in": 0}
        self.actual = self.gated = 0
        self.stall = self.preload = 0

    # ---- preload: one shift of a tile row into the (shadow) chain
    def _shift_in(self, fi, fold, q, chain):
        rows = self.rows
        if self.pipelined:
            for i in range(rows):
                for j in range(self.cols):
                    v = chain[i][j]
                    if v is not None and v[0] != fi and v[0] > self._swapped[i][j]:
                        raise AssertionError("a preload overwrote a shadow register its PE had not swapped in")
        for i in range(rows - 1, 0, -1):
            for j in range(self.cols):
                chain[i][j] = chain[i - 1][j]
        r = rows - 1 - q  # the tile row entering now ends at array row r after all shifts
        for j in range(self.cols):
            chain[0][j] = (fi, r if r < fold.ru else None)

    def run(self, folds, base, t0, earliest):
        """Step ``folds`` (fold ids base.. in the tags) from cycle ``t0``; returns (end, idle, fold end cycles)."""
        rows, cols = self.rows, self.cols
        n = len(folds)
        c = t0
        idle = 0
        ends = [None] * n
        S = [None] * n  # step at which a fold's element 0 enters row 0
        s = 0  # index of the next array step
        nf = 0  # next fold to start
        self._swapped = [[-1] * cols for _ in range(rows)]
        # preload engine: fold pf, shift step q, words left in the current shift
        pre = {"f": 0, "q": 0, "left": None, "done_at": {}, "allow": t0, "swap_step": {}}
        if folds and folds[0].df == "os":
            pre["f"] = n  # nothing to preload
            for f in range(n):
                pre["done_at"][f] = t0
        swap_done = {}

        def in_flight():
            return any(S[f] is not None and ends[f] is None for f in range(n))

        def preload_tick(cc):
            """One cycle of the preload port; False when it has nothing it may do."""
            f = pre["f"]
            if f >= n:
                return False
            if self.pipelined and (cc < pre["allow"] or (f > 0 and (f - 1 not in swap_done or cc < swap_done[f - 1]))):
                return False  # the shadow chain shifts once the previous tile's swap wave has left the array
            fold = folds[f]
            if pre["left"] is None:
                pre["left"] = fold.cu if rows - 1 - pre["q"] < fold.ru else 0
            w = min(self.wp, pre["left"])
            self.words["filter" if fold.df == "ws" else "ifmap"] += w
            pre["left"] -= w
            self.preload += 1
            if pre["left"] <= 0:  # the shift happens at the end of this cycle
                self._shift_in(base + f, fold, pre["q"], self.shadow if self.pipelined else self.stat)
                pre["q"] += 1
                pre["left"] = None
                if pre["q"] == rows:
                    pre["done_at"][f] = cc + 1
                    pre["f"] += 1
                    pre["q"] = 0
                    pre["allow"] = cc + 1
            return True

        while any(e is None for e in ends):
            # ---- can the next fold start with the step that begins now?
            if nf < n:
                if self.pipelined:
                    prev_ok = nf == 0 or s >= S[nf - 1] + folds[nf - 1].T
                else:
                    prev_ok = nf == 0 or ends[nf - 1] is not None
                ready = pre["done_at"].get(nf)
                if prev_ok and ready is not None and c >= ready and c >= earliest[nf]:
                    S[nf] = s
                    nf += 1
            if not in_flight():
                if self.pipelined:
                    worked = preload_tick(c)
                else:  # pipelining off: a tile is preloaded once the array has drained and the ZAP has scored
                    worked = (nf < n and pre["f"] == nf and (nf == 0 or ends[nf - 1] is not None)
                              and c >= earliest[nf] and preload_tick(c))
                if not worked:
                    idle += 1
                c += 1
                continue
            # ---- an array step: what enters every PE, and the words that takes at each edge
            new_a = [[None] * cols for _ in range(rows)]
            new_b = [[None] * cols for _ in range(rows)]
            left = top = bot = 0
            for i in range(rows):
                inj = None
                for f in range(n):
                    if S[f] is not None and 0 <= s - S[f] - i < folds[f].T:
                        inj = (f, s - S[f] - i)
                for j in range(cols - 1, 0, -1):
                    new_a[i][j] = self.a[i][j - 1]
                new_a[i][0] = inj
                if inj is not None and i < folds[inj[0]].ru:
                    left += 1
            if folds[0].df == "os":
                for j in range(cols):
                    inj = None
                    for f in range(n):
                        if S[f] is not None and 0 <= s - S[f] - j < folds[f].T:
                            inj = (f, s - S[f] - j)
                    for i in range(rows - 1, 0, -1):
                        new_b[i][j] = self.b[i - 1][j]
                    new_b[0][j] = inj
                    if inj is not None and j < folds[inj[0]].cu:
                        top += 1
            for i in range(rows):
                for j in range(cols):
                    e = new_a[i][j]
                    if e is None:
                        continue
                    fo = folds[e[0]]
                    if fo.df == "os":
                        if new_b[i][j] != e:
                            raise AssertionError("os PE saw different elements from the left and the top")
                        if e[1] == fo.T - 1 and i < fo.ru and j < fo.cu:
                            bot += 1  # the finished output leaves
                    else:
                        if i == 0 and fo.pin and j < fo.cu:
                            top += 1  # the previous K fold's psum comes back in at the top
                        if i == rows - 1 and j < fo.cu:
                            bot += 1  # the psum leaves at the bottom
            kinds = {"os": ("ifmap", "filter"), "ws": ("ifmap", "psum_in"), "is": ("filter", "psum_in")}[folds[0].df]
            self.words[kinds[0]] += left
            self.words[kinds[1]] += top
            self.words["psum_out"] += bot
            # ---- cycles until the ports have moved the step's words (at least one)
            rl, rt, rb = left, top, bot
            first = True
            while first or rl > 0 or rt > 0 or rb > 0:
                if not first:
                    self.stall += 1
                first = False
                rl -= self.wl
                rt -= self.wt
                rb -= self.wb
                if self.pipelined:
                    preload_tick(c)
                c += 1
            # ---- the step: registers take their neighbours' values, PEs compute
            self.a, self.b = new_a, new_b
            for i in range(rows):
                for j in range(cols):
                    e = new_a[i][j]
                    if e is None:
                        continue
                    f, t = e
                    fo = folds[f]
                    if fo.df != "os":
                        if self.pipelined and t == 0 and (self.stat[i][j] is None or self.stat[i][j][0] != base + f):
                            if self.shadow[i][j] is None or self.shadow[i][j][0] != base + f:
                                raise AssertionError("a fold started before its tile was in the shadow registers")
                            self.stat[i][j] = self.shadow[i][j]
                            self._swapped[i][j] = base + f
                        if i < fo.ru and self.stat[i][j] != (base + f, i):
                            raise AssertionError("a PE used a stationary value of another fold")
                    if i < fo.ru and j < fo.cu:
                        sl = fo.slot(i, j, t)
                        if sl is not None:
                            if self.effectual(*sl):
                                self.actual += 1
                            else:
                                self.gated += 1
                    if i == rows - 1 and j == cols - 1 and t == fo.T - 1:
                        ends[f] = c
                    if i == rows - 1 and j == cols - 1 and t == 0:
                        swap_done[f] = c
            s += 1
        return c, idle, ends


def stepping_layer(arch, layer, in_mask, out_mask, comp_mask, zap: bool) -> dict:
    """One layer and one image, stepped per cycle; keys as :func:`systolic_array.systolic_layer` (scalars)."""
    from ..simulate import zap_macs_per_chunk

    df = {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}[arch.dataflow]
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    s = arch.systolic

    def w(key, default):
        v = getattr(s, key, None)
        return int(default if v is None else v)

    widths = (w("row_edge_words_per_cycle", rows), w("col_edge_words_per_cycle", cols),
              w("out_edge_words_per_cycle", cols), w("preload_words_per_cycle", cols))
    pipelined = getattr(s, "fold_pipelining", "off") == "on"
    M, E, F = layer.out_shape
    npx = E * F
    C, H, W = layer.in_shape
    groups, K = layer.groups, layer.macs_per_output
    R, S_ = layer.kernel
    U, V = layer.stride
    ph, pw = layer.padding
    cg, N = C // groups, M // groups
    in_mode = arch.sparsity.zero_inputs
    innz = np.ones(layer.in_shape, dtype=bool) if in_mask is None else np.asarray(in_mask, dtype=bool)
    outnz = np.ones(layer.out_shape, dtype=bool) if out_mask is None else np.asarray(out_mask, dtype=bool)
    compact = s.zap_granularity == "compact"

    def input_nonzero(n, p, k):
        c_loc, rs = divmod(k, R * S_)
        r, s_ = divmod(rs, S_)
        c_in = (n // N) * cg + c_loc
        y, x = divmod(p, F)
        h, w_ = y * U + r - ph, x * V + s_ - pw
        return 0 <= h < H and 0 <= w_ < W and bool(innz[c_in, h, w_])

    def make_effectual(real):
        def eff(n, p, k):
            return bool(real[n, p]) and (in_mode == "ignore" or input_nonzero(n, p, k))
        return eff

    out = {"compute": 0, "A": 0, "Z": 0, "C": 0, "zmacs": 0}
    if not zap:
        ones = np.ones((M, npx), dtype=bool)
        folds = enumerate_folds(df, ones, groups, K, rows, cols, compact)
        arr = _Array(rows, cols, widths, pipelined, make_effectual(ones))
        end, idle, _ = arr.run(folds, 0, 0, [0] * len(folds))
        out.update(compute=end, A=end - idle)
        arrays = [arr]
    else:
        i_s = layer.zap.computed_first(E, F).reshape(npx)
        comp = np.ones((M, npx), dtype=bool) if comp_mask is None else np.asarray(comp_mask, dtype=bool).reshape(M, npx)
        sched_a = np.broadcast_to(i_s, (M, npx))
        real_c = comp & ~i_s[None]
        gate_out = arch.sparsity.zap_outputs == "gate" or s.zap_granularity == "gate"
        sched_c = np.broadcast_to(~i_s, (M, npx)) if gate_out else real_c
        fa = enumerate_folds(df, sched_a, groups, K, rows, cols, compact)
        fc = enumerate_folds(df, sched_c, groups, K, rows, cols, compact)
        arr_a = _Array(rows, cols, widths, pipelined, make_effectual(sched_a))
        ta, idle_a, ends_a = arr_a.run(fa, 0, 0, [0] * len(fa))
        n_cf = math.ceil(N / cols)
        n_chunks = groups if df == "is" else groups * n_cf
        ch_of_k = [(k // N) if df == "is" else (k // N) * n_cf + (k % N) // cols for k in range(M)]
        chunk_map = np.ascontiguousarray(np.repeat(np.array(ch_of_k, dtype=np.int64)[:, None], E, axis=1))
        zm = [int(v) for v in zap_macs_per_chunk(arch, layer, outnz, i_s.reshape(E, F), chunk_map, n_chunks)]
        ready = [0] * n_chunks
        for fo, e in zip(fa, ends_a):
            ready[fo.chunk] = max(ready[fo.chunk], e)
        for ch in range(1, n_chunks):
            ready[ch] = max(ready[ch], ready[ch - 1])
        if arch.zap_unit.placement == "dedicated":
            # the ZAP unit, cycle by cycle: one chunk at a time, once its phase-A outputs are final
            zdone = [None] * n_chunks
            cur, rem, cyc, busy = 0, None, 0, 0
            while cur < n_chunks:
                if rem is None:
                    rem = zm[cur]
                if rem <= 0 and cyc >= ready[cur]:
                    zdone[cur] = cyc
                    cur += 1
                    rem = None
                    continue
                if cyc >= ready[cur]:
                    rem -= arch.zap_unit.macs_per_cycle
                    busy += 1
                cyc += 1
                if rem <= 0:
                    zdone[cur] = cyc
                    cur += 1
                    rem = None
            t0_c = ta
        else:
            left, busy, t0_c = sum(zm), 0, ta
            while left > 0:  # every PE runs the ZAP's MACs between A and C
                left -= arch.num_pes * arch.pe_array.macs_per_cycle
                busy += 1
                t0_c += 1
            zdone = [t0_c] * n_chunks
        arr_c = _Array(rows, cols, widths, pipelined, make_effectual(real_c))
        tc, idle_c, _ = arr_c.run(fc, 0, t0_c, [zdone[fo.chunk] for fo in fc])
        out.update(compute=max(tc, zdone[-1] if n_chunks else 0), A=ta - idle_a, C=tc - t0_c - idle_c, Z=busy,
                   zmacs=sum(zm))
        arrays = [arr_a, arr_c]
    out["actual"] = sum(a.actual for a in arrays)
    out["gated"] = sum(a.gated for a in arrays)
    for key, name in (("sram_ifmap_reads", "ifmap"), ("sram_filter_reads", "filter"), ("sram_psum_writes", "psum_out"),
                      ("sram_psum_reads", "psum_in")):
        out[key] = sum(a.words[name] for a in arrays)
    out["preload_cycles"] = sum(a.preload for a in arrays)
    out["port_stall_cycles"] = sum(a.stall for a in arrays)
    return out
