"""The row-stationary cycle model stepped one cycle at a time, in plain Python (for the tests, small layers only).

The same components as the event-driven kernels (``control.py``), each
with explicit state advanced per clock cycle:

* the ifmap bus holds a queue of words; in each cycle it sends, in order,
  up to ``width`` words, each only if every destination can take it and
  its GLB bank still has a port free this cycle;
* a PE has a FIFO (words waiting), a scratchpad count, a current output
  with its remaining cycles, and the words freed by its finished outputs;
* psums move up a column one hop at a time; the drain bus serves a queue;
  the filter bus delivers ``width`` words a cycle; the ZAP unit scores one
  chunk at a time.

Within a cycle: outputs start first (an output that takes no cycles frees
its window in the cycle it starts), then each FIFO passes its head word to
the scratchpad, then the bus sends (a FIFO that passed a word on can take
one in the same cycle).  It shares with the kernels only what is not timing:
the items, the passes and each PE's words and work per output
(``control.enumerate_items`` / ``build_pass``).  ``tests/test_cycle_rs_stepping.py``
holds the two equal.
"""

from __future__ import annotations

import numpy as np

from . import control as ct
from .glb import ifmap_bank


def step_subpass(npe, ns, F, need, free, cost, nw, slot_info, ncs, geo, conv, prm, t0, drain_q):
    """Step one sub-pass from cycle ``t0``; returns (cycle its last PE is done, its psum requests (ready, words))."""
    H_in, W_in, U, ph = int(geo[18]), int(geo[17]), int(geo[19]), int(conv[6])
    Bi, D, K = int(prm[ct.P_BI]), int(prm[ct.P_FIFO]), int(prm[ct.P_SPAD])
    banks, ports = int(prm[ct.P_BANKS]), int(prm[ct.P_PORTS])
    # the bus's word queue: (destinations, word index n, bank)
    words = []
    wmax = 0
    for s in range(ns):
        j0, q_act = int(slot_info[s, ct.SI_J0]), int(slot_info[s, ct.SI_Q])
        j1 = int(slot_info[s + 1, ct.SI_J0]) if s + 1 < ns else npe
        for j in range(j0, j1):
            wmax = max(wmax, int(nw[j]) // q_act)
    for w in range(wmax):
        for s in range(ns):
            j0, rl, el, c0, q_act, y0, r0 = (int(slot_info[s, i]) for i in
                                             (ct.SI_J0, ct.SI_RL, ct.SI_EL, ct.SI_C0, ct.SI_Q, ct.SI_Y0, ct.SI_R0))
            for c in range(q_act):
                n = w * q_act + c
                for h in range(H_in):
                    dests = [j0 + yi * rl + (h + ph - (y0 + yi) * U - r0) for yi in range(el)
                             if 0 <= h + ph - (y0 + yi) * U - r0 < rl]
                    dests = [j for j in dests if n < nw[j]]
                    if dests:
                        words.append((dests, n, ifmap_bank(c0 + c, h, w, H_in, W_in, banks)))
    fifo_in = [0] * npe      # words accepted from the bus
    spad_in = [0] * npe      # words moved into the scratchpad
    spad_last = [-1] * npe   # cycle of the last scratchpad write
    arrive = [[] for _ in range(npe)]  # cycle each FIFO word arrived
    x_cur = [0] * npe        # next output to start
    busy_until = [t0] * npe  # the running output ends here (done cycle)
    done = np.zeros((npe, F), dtype=np.int64)
    freed_upto = [0] * npe   # outputs finished (done <= t)
    head = 0
    t = t0
    while True:
        # 1. compute: start every output whose window is in (written before this cycle) and whose predecessor is done
        for j in range(npe):
            while x_cur[j] < F and busy_until[j] <= t and spad_in[j] >= need[j, x_cur[j]]:
                x = x_cur[j]
                busy_until[j] = t + int(cost[j, x])
                done[j, x] = busy_until[j]
                x_cur[j] += 1
            while freed_upto[j] < x_cur[j] and done[j, freed_upto[j]] <= t:
                freed_upto[j] += 1
        freed = [int(free[j, freed_upto[j] - 1]) if freed_upto[j] > 0 else 0 for j in range(npe)]
        # 2. FIFO -> scratchpad, one word per PE, if it arrived before this cycle and there is room
        if D > 0:
            for j in range(npe):
                n = spad_in[j]
                if n < fifo_in[j] and arrive[j][n] < t and spad_last[j] < t and n - freed[j] < K:
                    spad_in[j] += 1
                    spad_last[j] = t
        # 3. the bus, in order; a FIFO that just passed a word on can take one in the same cycle
        sent = 0
        bank_use = {}
        while head < len(words) and sent < Bi:
            dests, n, bank = words[head]
            ok = bank_use.get(bank, 0) < ports
            for j in dests:
                if D > 0:
                    ok = ok and (n - spad_in[j] < D)
                else:
                    ok = ok and spad_last[j] < t and (n - freed[j] < K)
            if not ok:
                break
            bank_use[bank] = bank_use.get(bank, 0) + 1
            for j in dests:
                fifo_in[j] += 1
                if D > 0:
                    arrive[j].append(t)
                else:
                    spad_in[j] += 1
                    spad_last[j] = t
            sent += 1
            head += 1
        if head >= len(words) and all(x_cur[j] >= F for j in range(npe)):
            break
        t += 1
        if t > t0 + 10_000_000:
            raise RuntimeError("stepping did not finish")
    pe_end = max([t0] + [int(done[j, F - 1]) for j in range(npe)])
    # psums up each column, one hop at a time
    depth, hop = int(prm[ct.P_DEPTH]), int(prm[ct.P_HOP])
    reqs = []
    for s in range(ns):
        j0, rl, el, y0, fgi = (int(slot_info[s, i]) for i in (ct.SI_J0, ct.SI_RL, ct.SI_EL, ct.SI_Y0, ct.SI_FGI))
        for yi in range(el):
            for x in range(F):
                r = rl - 1
                arr = t0  # the bottom PE's own psum starts the chain
                tt = t0
                while True:
                    if tt >= arr and tt >= done[j0 + yi * rl + r, x] + depth - 1:
                        if r == 0:
                            break  # the column's psum of output x is complete at the top PE
                        r -= 1
                        arr = tt + hop
                        continue
                    tt += 1
                wds = int(ncs[fgi, y0 + yi, x])
                if wds > 0:
                    reqs.append((tt, wds))
    order = sorted(range(len(reqs)), key=lambda i: (reqs[i][0], i))
    drain_q.extend(reqs[i] for i in order)
    return pe_end, len(order)


def step_drain(queue, width):
    """Step the psum drain bus over its queue (in order); returns each request's completion cycle."""
    out = []
    if not queue:
        return out
    t = queue[0][0]
    i = 0
    left = queue[0][1] if queue else 0
    while i < len(queue):
        cap = width
        while cap > 0 and i < len(queue) and queue[i][0] <= t:
            take = min(cap, left)
            cap -= take
            left -= take
            if left == 0:
                out.append(t + 1)
                i += 1
                if i < len(queue):
                    left = queue[i][1]
        t += 1
    return out


def step_layer(N, geo, conv, prm, in_mode, pre, ncs_a, ncs_c, ncs_dense, zap, i_t, chk_c, zc, z_need, array_z,
               max_items, max_words):
    """Plain-Python stepping of ``control.rs_layer`` (same arguments, same result)."""
    F, S, nslots = int(geo[6]), int(geo[4]), int(geo[15])
    n_pes = int(geo[21] * geo[22])
    n_chunks = zc.shape[1]
    items = np.zeros((max_items, 5), dtype=np.int64)
    need = np.zeros((n_pes, F), dtype=np.int64)
    free = np.zeros((n_pes, F), dtype=np.int64)
    cost = np.zeros((n_pes, F), dtype=np.int64)
    nw = np.zeros(n_pes, dtype=np.int64)
    pe_row = np.zeros(n_pes, dtype=np.int64)
    slot_info = np.zeros((nslots, 11), dtype=np.int64)
    work = np.zeros(F, dtype=np.int64)
    chk = np.zeros(F, dtype=np.int64)
    held = [-1] * nslots
    ready = np.zeros((N, max(1, n_chunks)), dtype=np.int64)
    zdone = np.zeros((N, max(1, n_chunks)), dtype=np.int64)
    dbuf = prm[ct.P_DBUF] != 0 and 2 * geo[7] * geo[8] * S <= prm[ct.P_DBUF]
    t_end = fbus = prev_start = fwords = a_end = z_sum = waits = 0
    queue = []          # drain requests in bus order
    groups_of = []      # (phase A?, image, chunks of the sub-pass, requests in the queue)
    drain_done = []
    for phase in range(2 if zap else 1):
        if zap and phase == 0:
            union = ncs_a.copy()
        elif zap:
            union = ncs_c[:N].sum(axis=0).astype(np.int32)
        else:
            union = ncs_dense.copy()
        n_it = ct.enumerate_items(union, geo, zap, items)
        for i0 in range(0, n_it, nslots):
            i1 = min(i0 + nslots, n_it)
            words = 0
            for s in range(i1 - i0):
                it = i0 + s
                fid = (items[it, 0] * geo[10] + items[it, 1]) * geo[12] + items[it, 2]
                if held[s] != fid:
                    held[s] = fid
                    rl = min(geo[11], geo[3] - items[it, 2] * geo[11])
                    el = min(geo[13], geo[5] - items[it, 3] * geo[13])
                    p_act = min(geo[7], geo[1] - (items[it, 0] % geo[9]) * geo[7])
                    q_act = min(geo[8], geo[2] - items[it, 1] * geo[8])
                    words += int(rl * p_act * q_act * S * (1 if prm[ct.P_MCAST] else el))
            r_end = 0
            if words > 0:
                t = max(fbus, prev_start if dbuf else t_end)
                left = words
                while left > 0:  # the filter bus, one cycle at a time
                    left -= int(prm[ct.P_BF])
                    t += 1
                r_end = fbus = t
                fwords += words
            first = True
            for b in range(N):
                ncs_b = ncs_c[b] if (zap and phase == 1) else (ncs_a if zap else ncs_dense)
                npe, ns = ct.build_pass(items, i0, i1, ncs_b, pre[b] if in_mode == 2 else pre[0], in_mode, geo, conv,
                                        prm, zap and phase == 1 and chk_c, i_t, need, free, cost, nw, pe_row,
                                        slot_info, work, chk)
                if npe == 0:
                    continue
                t0 = max(t_end, r_end)
                if zap and phase == 1:
                    chi = max(int(slot_info[s, ct.SI_CH]) for s in range(ns))
                    while t0 < zdone[b, chi]:  # wait for the ZAP's decisions
                        t0 += 1
                        waits += 1
                if first:
                    prev_start = t0
                    first = False
                start_q = len(queue)
                pe_end, nreq = step_subpass(npe, ns, F, need, free, cost, nw, slot_info, ncs_b, geo, conv, prm, t0,
                                            queue)
                t_end = pe_end
                groups_of.append((zap and phase == 0, b, [int(slot_info[s, ct.SI_CH]) for s in range(ns)],
                                  start_q, start_q + nreq))
                if zap and phase == 0:
                    drain_done = step_drain(queue, int(prm[ct.P_BP]))
                    d_end = max(drain_done[start_q:start_q + nreq], default=0)
                    for ch in groups_of[-1][2]:
                        ready[b, ch] = max(ready[b, ch], d_end)
        if zap and phase == 0:
            drain_done = step_drain(queue, int(prm[ct.P_BP]))
            a_end = max([t_end] + drain_done)
            if prm[ct.P_ZDED]:
                for b in range(N):
                    for ch in range(1, n_chunks):
                        ready[b, ch] = max(ready[b, ch], ready[b, ch - 1])
                # the ZAP unit, one cycle at a time: one chunk (image-minor) after another
                order = [(ch, b) for ch in range(n_chunks) for b in range(N)]
                t, i, left = 0, 0, None
                while i < len(order):
                    ch, b = order[i]
                    if left is None:
                        if t >= ready[b, z_need[ch]]:
                            left = int(zc[b, ch])
                            z_sum += left
                        else:
                            t += 1
                            continue
                    if left == 0:
                        zdone[b, ch] = t
                        i += 1
                        left = None
                        continue
                    left -= 1
                    t += 1
            else:
                t_end = a_end + array_z
                z_sum = array_z
                zdone[:, :] = t_end
    drain_done = step_drain(queue, int(prm[ct.P_BP]))
    end = max([t_end] + drain_done)
    total = end
    out = np.zeros(5, dtype=np.int64)
    if zap:
        total = max(total, int(zdone.max()))
        out[1] = a_end
        out[2] = z_sum
        out[3] = end - a_end - waits - (0 if prm[ct.P_ZDED] else array_z)
    else:
        out[1] = total
    out[0] = total
    out[4] = fwords
    return out
