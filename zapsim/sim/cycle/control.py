"""Control of a row-stationary layer: items into passes, filter reloads, batch inside the PE, phases A / Z / C.

* **Items and passes** are the analytical engine's (``row_stationary.py``):
  items (group, filter group, channel group, row segment, strip) -- strip
  first within a filter group for ZAP layers -- with no scheduled output
  are dropped, ``nslots`` consecutive ones form a pass.  With a batch, an
  item stays if any image of the batch schedules an output in it, and each
  image skips the slots it has nothing for.
* **Filter reload**: a slot whose filters (filter group, channel group,
  row segment) differ from the ones it holds is reloaded over the filter
  bus (``noc.py``) before the pass.  The reload overlaps the previous pass
  only if the filter scratchpad has room for two sets (``2*p*q*S <=
  weight_spad_words``: double-buffered); otherwise it starts when the
  previous pass's PEs are done.
* **Batch inside the PE** (Eyeriss): a pass keeps its filters while the N
  images of the batch stream through it one after another (one sub-pass
  each): filters are loaded once per pass for the whole batch.
* **Sub-pass**: the ifmap multicast, the PEs' row primitives, the psum
  path and drain (``subpass``); the next sub-pass starts when every PE of
  this one is done; drains overlap the next sub-pass on the psum bus.
* **Phases** (ZAP layers): all phase-A passes, then phase C.  A chunk's
  phase-A outputs are final when the last sub-pass holding it has
  drained; the dedicated ZAP unit (``zap_unit.py``) scores chunks in order
  (chunk-major, image-minor), each once its band and the next band are
  final; a phase-C sub-pass waits until its image's chunks are scored.
  With the ZAP on the array, its cycles run between A and C.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .fifo import earliest_accept, spad_entry
from .glb import bank_cycle, ifmap_bank
from .noc import drain, psum_column, transfer_cycles
from .pe import row_primitive

# indices of the int64 parameter vector the kernels take (row_stationary.params builds it)
P_BI, P_BF, P_BP, P_FIFO, P_SPAD, P_BANKS, P_PORTS, P_DEPTH, P_HOP, P_SKIPCHK, P_DBUF, P_MPC, P_ZDED, P_ZRATE, \
    P_ZXFER, P_WBITS, P_MCAST = range(17)  # P_DBUF: weight_spad_words (double-buffered if 2 sets fit)
N_PARAMS = 17

# slot_info columns
SI_J0, SI_RL, SI_EL, SI_C0, SI_Q, SI_Y0, SI_FGI, SI_R0, SI_FID, SI_P, SI_CH = range(11)


@njit(cache=True)
def enumerate_items(ncs, geo, strip_outer, items):
    """Non-empty items in schedule order into ``items`` (fgi, cg, rs, st, chunk); returns their number."""
    groups, R, E, F = geo[0], geo[3], geo[5], geo[6]
    n_fg, n_cg = geo[9], geo[10]
    r_len, n_rseg, e, n_strips = geo[11], geo[12], geo[13], geo[14]
    n = 0
    for g in range(groups):
        for fg in range(n_fg):
            fgi = g * n_fg + fg
            for j in range(n_cg * n_rseg * n_strips):
                if strip_outer:
                    st = j // (n_cg * n_rseg)
                    cg = (j // n_rseg) % n_cg
                    rs = j % n_rseg
                    ch = fgi * n_strips + st
                else:
                    cg = j // (n_rseg * n_strips)
                    rs = (j // n_strips) % n_rseg
                    st = j % n_strips
                    ch = fgi
                if R - rs * r_len <= 0:
                    continue
                y0 = st * e
                el = min(e, E - y0)
                outs = 0
                for y in range(y0, y0 + el):
                    for x in range(F):
                        outs += ncs[fgi, y, x]
                if outs == 0:
                    continue
                items[n, 0] = fgi
                items[n, 1] = cg
                items[n, 2] = rs
                items[n, 3] = st
                items[n, 4] = ch
                n += 1
    return n


@njit(cache=True)
def build_pass(items, i0, i1, ncs, pre, in_mode, geo, conv, prm, chk_on, i_t, need, free, cost, nw, pe_row, slot_info,
               work, chk):
    """Per-PE arrays of one sub-pass (items i0..i1 of one image); returns (PEs, slots).

    PEs are numbered slot by slot, column (y) by column, filter row r
    within a column (so a column's PEs are consecutive, its top PE first).
    A slot whose item schedules nothing for this image is left out.
    """
    mg, cg_n, R, S, E, F = geo[1], geo[2], geo[3], geo[4], geo[5], geo[6]
    p, q, r_len, e = geo[7], geo[8], geo[11], geo[13]
    W_in, H_in, U = geo[17], geo[18], geo[19]
    V, ph, pw = conv[5], conv[6], conv[7]
    mpc, skipchk, mcast = prm[P_MPC], prm[P_SKIPCHK], prm[P_MCAST]
    n_fg = geo[9]
    j = 0
    ns = 0
    for it in range(i0, i1):
        fgi, cg, rs, st = items[it, 0], items[it, 1], items[it, 2], items[it, 3]
        g = fgi // n_fg
        fg = fgi % n_fg
        r0 = rs * r_len
        rl = min(r_len, R - r0)
        y0 = st * e
        el = min(e, E - y0)
        outs = 0
        for y in range(y0, y0 + el):
            for x in range(F):
                outs += ncs[fgi, y, x]
        if outs == 0:
            continue
        c0 = g * cg_n + cg * q
        q_act = min(q, cg_n - cg * q)
        p_act = min(p, mg - fg * p)
        slot_info[ns, SI_J0] = j
        slot_info[ns, SI_RL] = rl
        slot_info[ns, SI_EL] = el
        slot_info[ns, SI_C0] = c0
        slot_info[ns, SI_Q] = q_act
        slot_info[ns, SI_Y0] = y0
        slot_info[ns, SI_FGI] = fgi
        slot_info[ns, SI_R0] = r0
        slot_info[ns, SI_FID] = (fgi * geo[10] + cg) * geo[12] + rs
        slot_info[ns, SI_P] = rl * p_act * q_act * S * (1 if mcast else el)  # filter words of a reload
        slot_info[ns, SI_CH] = items[it, 4]
        for y in range(y0, y0 + el):
            for r in range(r0, r0 + rl):
                h = y * U + r - ph
                in_map = 0 <= h < H_in
                for x in range(F):
                    s_cnt = ncs[fgi, y, x]
                    if in_mode == 2:
                        taps = pre[c0 + q_act, r, y, x] - pre[c0, r, y, x]
                    else:
                        taps = q_act * S
                    work[x] = s_cnt * taps
                    chk[x] = 1 if (chk_on and s_cnt == 0 and i_t[y, x]) else 0
                nw[j] = row_primitive(need, free, cost, j, F, V, pw, S, W_in, q_act, in_map, work, mpc, chk, skipchk)
                pe_row[j] = h if in_map else -1
                j += 1
        ns += 1
    return j, ns


@njit(cache=True)
def subpass(npe, ns, F, need, free, cost, nw, pe_row, slot_info, ncs, geo, conv, prm, t0, sp, done, xnext, xf, ring,
            bank_last, bank_cnt, req_ready, req_words, ready_tmp, drain_state):
    """Timing of one sub-pass starting at cycle ``t0``: returns (cycle its last PE is done, its last drain).

    Event-driven: each ifmap word's bus cycle is the first that the bus
    order, the bus width, the GLB bank and every destination's FIFO allow;
    each output's start is the later of its predecessor's end and its
    window's arrival in the scratchpad (``pe.py``, ``fifo.py``, ``glb.py``).
    """
    H_in, W_in, U = geo[18], geo[17], geo[19]
    ph = conv[6]
    Bi, D, K = prm[P_BI], prm[P_FIFO], prm[P_SPAD]
    banks, ports = prm[P_BANKS], prm[P_PORTS]
    for j in range(npe):
        xnext[j] = 0
        xf[j] = 0
        _advance(j, -1, F, need, cost, sp, done, xnext, t0)
    k = 0
    last = t0
    for b in range(banks):
        bank_last[b] = -1
        bank_cnt[b] = 0
    wmax = 0  # ifmap columns sent (every PE of a slot reads the same columns)
    for s in range(ns):
        j0, q_act = slot_info[s, SI_J0], slot_info[s, SI_Q]
        j1 = slot_info[s + 1, SI_J0] if s + 1 < ns else npe
        for j in range(j0, j1):
            wmax = max(wmax, nw[j] // q_act)
    for w in range(wmax):
        for s in range(ns):
            j0, rl, el, c0, q_act = (slot_info[s, SI_J0], slot_info[s, SI_RL], slot_info[s, SI_EL],
                                     slot_info[s, SI_C0], slot_info[s, SI_Q])
            y0, r0 = slot_info[s, SI_Y0], slot_info[s, SI_R0]
            h_lo = y0 * U + r0 - ph
            h_hi = (y0 + el - 1) * U + r0 + rl - 1 - ph
            for c in range(q_act):
                n = w * q_act + c
                for h in range(max(h_lo, 0), min(h_hi, H_in - 1) + 1):
                    # destinations: PEs (y, r) of the slot reading row h
                    cand = last
                    if k >= Bi:
                        cand = max(cand, ring[k % Bi] + 1)
                    ndest = 0
                    for yi in range(el):
                        ri = h + ph - (y0 + yi) * U - r0
                        if ri < 0 or ri >= rl:
                            continue
                        jj = j0 + yi * rl + ri
                        if n >= nw[jj]:
                            continue
                        ndest += 1
                        fd = _free_done(jj, n, K, free, done, xf, xnext)
                        e = earliest_accept(n, D, K, t0, sp[jj, n - 1] if n >= 1 else -1,
                                            sp[jj, n - D] if (D > 0 and n >= D) else -1, fd)
                        cand = max(cand, e)
                    if ndest == 0:
                        continue
                    cand = bank_cycle(cand, ifmap_bank(c0 + c, h, w, H_in, W_in, banks), bank_last, bank_cnt, ports)
                    ring[k % Bi] = cand
                    last = cand
                    k += 1
                    for yi in range(el):
                        ri = h + ph - (y0 + yi) * U - r0
                        if ri < 0 or ri >= rl:
                            continue
                        jj = j0 + yi * rl + ri
                        if n >= nw[jj]:
                            continue
                        fd = _free_done(jj, n, K, free, done, xf, xnext)
                        sp[jj, n] = spad_entry(cand, D, sp[jj, n - 1] if n >= 1 else -1, fd)
                        _advance(jj, n, F, need, cost, sp, done, xnext, t0)
    pe_end = t0
    for j in range(npe):
        if F > 0 and done[j, F - 1] > pe_end:
            pe_end = done[j, F - 1]
    # psums up each column, then the drain to the GLB
    depth, hop = prm[P_DEPTH], prm[P_HOP]
    nreq = 0
    for s in range(ns):
        j0, rl, el, y0, fgi = (slot_info[s, SI_J0], slot_info[s, SI_RL], slot_info[s, SI_EL], slot_info[s, SI_Y0],
                               slot_info[s, SI_FGI])
        for yi in range(el):
            psum_column(done, j0 + yi * rl, rl, F, depth, hop, ready_tmp)
            for x in range(F):
                wds = ncs[fgi, y0 + yi, x]
                if wds > 0:
                    req_ready[nreq] = ready_tmp[x]
                    req_words[nreq] = wds
                    nreq += 1
    d_end = drain(req_ready, req_words, nreq, prm[P_BP], drain_state)
    return pe_end, d_end


@njit(cache=True)
def _free_done(j, n, K, free, done, xf, xnext):
    """Cycle from which PE j's scratchpad has room for its word n (0: room from the start)."""
    if n < K:
        return 0
    while free[j, xf[j]] < n - K + 1:
        xf[j] += 1
    # the output that frees the room is always already timed (q*S <= K); guard against a bad mapping
    if xf[j] >= xnext[j]:
        return 1 << 60
    return done[j, xf[j]]


@njit(cache=True)
def _advance(j, n, F, need, cost, sp, done, xnext, t0):
    """Time every output of PE j whose window is complete once its word n is in the scratchpad."""
    while xnext[j] < F and need[j, xnext[j]] - 1 <= n:
        x = xnext[j]
        st = done[j, x - 1] if x > 0 else t0
        nd = need[j, x]
        if nd > 0 and sp[j, nd - 1] + 1 > st:
            st = sp[j, nd - 1] + 1
        done[j, x] = st + cost[j, x]
        xnext[j] = x + 1


@njit(cache=True)
def rs_layer(N, geo, conv, prm, in_mode, pre, ncs_a, ncs_c, ncs_dense, zap, i_t, chk_c, zc, z_need, array_z, max_items,
             max_words):
    """One batch of N images of a row-stationary layer.  Returns [compute, A, Z, C, filter words] for the batch.

    ``pre`` (N, C+1, R, E, F) input prefixes (:func:`kernels.rs_prefix`,
    read with ``zero_inputs: skip``), ``ncs_a`` (chunks, E, F) the phase-A
    schedule, ``ncs_c`` (N, chunks, E, F) each image's phase-C schedule,
    ``ncs_dense`` the dense schedule; ``zc`` (N, chunks) the ZAP unit's
    cycles per chunk; ``array_z`` the ZAP's cycles on the array (batch).
    """
    F = geo[6]
    S = geo[4]
    nslots = geo[15]
    n_pes = geo[21] * geo[22]
    n_chunks = zc.shape[1]
    items = np.zeros((max_items, 5), dtype=np.int64)
    need = np.zeros((n_pes, F), dtype=np.int64)
    free = np.zeros((n_pes, F), dtype=np.int64)
    cost = np.zeros((n_pes, F), dtype=np.int64)
    done = np.zeros((n_pes, F), dtype=np.int64)
    nw = np.zeros(n_pes, dtype=np.int64)
    pe_row = np.zeros(n_pes, dtype=np.int64)
    xnext = np.zeros(n_pes, dtype=np.int64)
    xf = np.zeros(n_pes, dtype=np.int64)
    sp = np.zeros((n_pes, max(1, max_words)), dtype=np.int64)
    slot_info = np.zeros((nslots, 11), dtype=np.int64)
    work = np.zeros(F, dtype=np.int64)
    chk = np.zeros(F, dtype=np.int64)
    ring = np.zeros(prm[P_BI], dtype=np.int64)
    bank_last = np.zeros(prm[P_BANKS], dtype=np.int64)
    bank_cnt = np.zeros(prm[P_BANKS], dtype=np.int64)
    req_ready = np.zeros(n_pes * F, dtype=np.int64)
    req_words = np.zeros(n_pes * F, dtype=np.int64)
    ready_tmp = np.zeros(F, dtype=np.int64)
    drain_state = np.zeros(2, dtype=np.int64)
    held = np.full(nslots, -1, dtype=np.int64)  # filter set each slot holds
    ready = np.zeros((N, max(1, n_chunks)), dtype=np.int64)
    zdone = np.zeros((N, max(1, n_chunks)), dtype=np.int64)
    dbuf = prm[P_DBUF] != 0 and 2 * geo[7] * geo[8] * S <= prm[P_DBUF]
    t_end = 0
    fbus = 0
    prev_start = 0
    last_drain = 0
    fwords = 0
    a_end = 0
    z_sum = 0
    waits = 0
    n_phases = 2 if zap else 1
    union = np.zeros(ncs_dense.shape, dtype=np.int32)
    for phase in range(n_phases):
        if zap and phase == 0:
            union[:] = ncs_a
        elif zap:
            union[:] = 0
            for b in range(N):
                union += ncs_c[b]
        else:
            union[:] = ncs_dense
        n_it = enumerate_items(union, geo, zap, items)
        for i0 in range(0, n_it, nslots):
            i1 = min(i0 + nslots, n_it)
            # filter reload of the slots whose filters change
            words = 0
            for s in range(i1 - i0):
                it = i0 + s
                fid = (items[it, 0] * geo[10] + items[it, 1]) * geo[12] + items[it, 2]
                if held[s] != fid:
                    held[s] = fid
                    rs = items[it, 2]
                    rl = min(geo[11], geo[3] - rs * geo[11])
                    el = min(geo[13], geo[5] - items[it, 3] * geo[13])
                    p_act = min(geo[7], geo[1] - (items[it, 0] % geo[9]) * geo[7])
                    q_act = min(geo[8], geo[2] - items[it, 1] * geo[8])
                    words += rl * p_act * q_act * S * (1 if prm[P_MCAST] else el)
            r_end = 0
            if words > 0:
                r_start = max(fbus, prev_start if dbuf else t_end)
                r_end = r_start + transfer_cycles(words, prm[P_BF])
                fbus = r_end
                fwords += words
            first = True
            for b in range(N):
                ncs_b = ncs_c[b] if (zap and phase == 1) else (ncs_a if zap else ncs_dense)
                npe, ns = build_pass(items, i0, i1, ncs_b, pre[b] if in_mode == 2 else pre[0], in_mode, geo, conv,
                                     prm, zap and phase == 1 and chk_c, i_t, need, free, cost, nw, pe_row, slot_info,
                                     work, chk)
                if npe == 0:
                    continue
                t0 = max(t_end, r_end)
                if zap and phase == 1:
                    chi = 0
                    for s in range(ns):
                        chi = max(chi, slot_info[s, SI_CH])
                    zt = zdone[b, chi]
                    if zt > t0:
                        waits += zt - t0
                        t0 = zt
                if first:
                    prev_start = t0
                    first = False
                pe_end, d_end = subpass(npe, ns, F, need, free, cost, nw, pe_row, slot_info, ncs_b, geo, conv, prm, t0, sp,
                                        done, xnext, xf, ring, bank_last, bank_cnt, req_ready, req_words, ready_tmp,
                                        drain_state)
                t_end = pe_end
                if d_end > last_drain:
                    last_drain = d_end
                if zap and phase == 0:
                    for s in range(ns):
                        ch = slot_info[s, SI_CH]
                        if d_end > ready[b, ch]:
                            ready[b, ch] = d_end
        if zap and phase == 0:
            a_end = max(t_end, last_drain)
            if prm[P_ZDED]:
                zt = 0
                for b in range(N):
                    for ch in range(1, n_chunks):
                        if ready[b, ch] < ready[b, ch - 1]:
                            ready[b, ch] = ready[b, ch - 1]
                for ch in range(n_chunks):
                    for b in range(N):
                        st = max(zt, ready[b, z_need[ch]])
                        zt = st + zc[b, ch]
                        zdone[b, ch] = zt
                        z_sum += zc[b, ch]
            else:
                t_end = a_end + array_z
                z_sum = array_z
                for b in range(N):
                    for ch in range(n_chunks):
                        zdone[b, ch] = t_end
    out = np.zeros(5, dtype=np.int64)
    end = max(t_end, last_drain)
    total = end
    if zap:
        for b in range(N):
            for ch in range(n_chunks):
                total = max(total, zdone[b, ch])
        out[1] = a_end
        out[2] = z_sum
        out[3] = end - a_end - waits - (0 if prm[P_ZDED] else array_z)
    else:
        out[1] = total
    out[0] = total
    out[4] = fwords
    return out
