"""The analytical engine's Numba kernels: masks into pass-level cycle and MAC counts.

Everything here is pass-level (one number per pass of the array, not per
cycle) and batched over images, so one call per layer and operating point
covers every image.  ``stepping_check.py`` steps the same schedules one cycle
at a time; tests hold the two to identical cycle counts.  The schedules
themselves (what a pass is, in which order passes run) are described in
``docs/simulator.md``; the mapping parameters come from
``row_stationary.py`` and ``systolic.py``.

Zero-input modes are coded as integers for the kernels: 0 ignore, 1 gate,
2 skip (``IN_MODES``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

IN_MODES = {"ignore": 0, "gate": 1, "skip": 2}

# Row-stationary counter columns returned by rs_phase (per image).
RS_COUNTERS = ("actual", "gated", "busy_pe", "gated_pe", "noc_ifmap", "noc_weight", "noc_psum_out", "noc_psum_in",
               "noc_psum_hop", "items")


# --------------------------------------------------------------------------- row-stationary


@njit(cache=True)
def rs_prefix(innz, R, S, E, F, U, V, ph, pw):
    """Prefix over channels of the nonzero inputs one RS PE row sees.

    ``out[c + 1, r, y, x] - out[c0, r, y, x]`` is, for channels c0..c, the
    number of nonzero inputs among the S products of filter row ``r`` for
    output (y, x): ifmap row ``y*U + r - ph``, columns ``x*V + s - pw``.
    Padding counts as zero.
    """
    C, H, W = innz.shape
    out = np.empty((C + 1, R, E, F), dtype=np.int32)
    out[0] = 0
    rowpre = np.zeros(W + 1, dtype=np.int32)
    lo = np.empty(F, dtype=np.int64)
    hi = np.empty(F, dtype=np.int64)
    for x in range(F):
        # the taps of output x cover input columns [x*V - pw, x*V - pw + S) clipped to the map
        lo[x] = min(max(x * V - pw, 0), W)
        hi[x] = min(max(x * V - pw + S, 0), W)
    win = np.empty((H, F), dtype=np.int32)
    for c in range(C):
        for h in range(H):
            for w in range(W):
                rowpre[w + 1] = rowpre[w] + (1 if innz[c, h, w] else 0)
            for x in range(F):
                win[h, x] = rowpre[hi[x]] - rowpre[lo[x]]
        for r in range(R):
            for y in range(E):
                h = y * U + r - ph
                if 0 <= h < H:
                    for x in range(F):
                        out[c + 1, r, y, x] = out[c, r, y, x] + win[h, x]
                else:
                    for x in range(F):
                        out[c + 1, r, y, x] = out[c, r, y, x]
    return out


@njit(cache=True)
def rs_chunk_counts(comp, groups, p, n_fg):
    """Per filter group (chunk = g * n_fg + fg) and output (y, x): how many filters of the group compute it."""
    M, E, F = comp.shape
    mg = M // groups
    out = np.zeros((groups * n_fg, E, F), dtype=np.int32)
    for k in range(M):
        g = k // mg
        fg = (k % mg) // p
        ch = g * n_fg + fg
        for y in range(E):
            for x in range(F):
                if comp[k, y, x]:
                    out[ch, y, x] += 1
    return out


@njit(cache=True)
def rs_phase(pre, ncs, ncr, geo, in_mode, mpc, pass_cycles, pass_chunk, pass_chunk_lo, counters, record, pe_slots,
             strip_outer):
    """One phase (dense, A or C) of a row-stationary layer for one image.

    ``pre``: :func:`rs_prefix` of the input (shape (1,1,1,1) when unused);
    ``ncs`` / ``ncr``: :func:`rs_chunk_counts` of the outputs that occupy the
    schedule / are really computed; ``geo`` the mapping (see
    ``row_stationary.RSMapping.geometry``).  Fills ``pass_cycles``,
    ``pass_chunk`` and ``pass_chunk_lo`` (the largest and smallest chunk in each pass)
    and adds to ``counters`` (``RS_COUNTERS``).  Returns the number of passes.
    With ``record`` set, ``pe_slots[pass, pe, 0/1/2]`` receives each PE's
    cycles, actual MACs and gated MACs (pe = row * cols + col).

    A pass holds ``nslots`` consecutive non-empty items; it lasts as long as
    its slowest PE (ceil(work / mpc) cycles).  An item whose outputs are all
    off the schedule is dropped with its traffic.

    Item order within a filter group: (channel group, row segment, strip)
    with strips innermost (dense layers: Eyeriss' order), or with
    ``strip_outer`` (ZAP layers) (strip, channel group, row segment), so a
    strip's outputs become final early; the chunk is then (filter group,
    strip) = ``fgi * n_strips + strip``, else the filter group ``fgi``.
    """
    groups, mg, cg_n, R, S, E, F = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6]
    p, q, n_fg, n_cg = geo[7], geo[8], geo[9], geo[10]
    r_len, n_rseg, e, n_strips, nslots = geo[11], geo[12], geo[13], geo[14], geo[15]
    multicast, W_in, H_in, U = geo[16], geo[17], geo[18], geo[19]
    slots_h, cols = geo[20], geo[22]
    n_pass = 0
    in_pass = 0
    cur_max = 0
    cur_chunk = -1
    cur_lo = -1
    for g in range(groups):
        for fg in range(n_fg):
            fgi = g * n_fg + fg
            p_act = min(p, mg - fg * p)
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
                c0 = g * cg_n + cg * q
                q_act = min(q, cg_n - cg * q)
                c1 = c0 + q_act
                r0 = rs * r_len
                rl = min(r_len, R - r0)
                if rl <= 0:
                    continue
                y0 = st * e
                el = min(e, E - y0)
                outs = 0
                for y in range(y0, y0 + el):
                    for x in range(F):
                        outs += ncs[fgi, y, x]
                if outs == 0:
                    continue
                item_max = 0
                for y in range(y0, y0 + el):
                    full_s = 0
                    full_r = 0
                    for x in range(F):
                        full_s += ncs[fgi, y, x]
                        full_r += ncr[fgi, y, x]
                    full_s *= q_act * S
                    full_r *= q_act * S
                    for r in range(r0, r0 + rl):
                        if in_mode == 0:
                            slots = full_s
                            act = full_r
                        else:
                            nz_s = 0
                            nz_r = 0
                            for x in range(F):
                                d = pre[c1, r, y, x] - pre[c0, r, y, x]
                                nz_s += ncs[fgi, y, x] * d
                                nz_r += ncr[fgi, y, x] * d
                            act = nz_r
                            slots = full_s if in_mode == 1 else nz_s
                        gat = slots - act
                        cyc = (slots + mpc - 1) // mpc
                        if cyc > item_max:
                            item_max = cyc
                        counters[0] += act
                        counters[1] += gat
                        if record:
                            pe = ((in_pass // slots_h) * r_len + (r - r0)) * cols + (in_pass % slots_h) * e + (y - y0)
                            pe_slots[n_pass, pe, 0] = cyc
                            pe_slots[n_pass, pe, 1] = act
                            pe_slots[n_pass, pe, 2] = gat
                        if slots > 0:
                            counters[2] += cyc * act / slots
                            counters[3] += cyc * gat / slots
                # traffic of the item (words)
                rows_in = min(H_in, (el - 1) * U + rl)
                if multicast:
                    counters[4] += rows_in * q_act * W_in
                    counters[5] += rl * p_act * q_act * S
                else:
                    counters[4] += rl * el * q_act * W_in
                    counters[5] += rl * el * p_act * q_act * S
                counters[6] += outs
                if cg > 0 or rs > 0:
                    counters[7] += outs
                counters[8] += (rl - 1) * outs
                counters[9] += 1
                # pack into passes
                if item_max > cur_max:
                    cur_max = item_max
                if in_pass == 0:
                    cur_lo = ch
                cur_chunk = ch
                in_pass += 1
                if in_pass == nslots:
                    pass_cycles[n_pass] = cur_max
                    pass_chunk[n_pass] = cur_chunk
                    pass_chunk_lo[n_pass] = cur_lo
                    n_pass += 1
                    in_pass = 0
                    cur_max = 0
    if in_pass > 0:
        pass_cycles[n_pass] = cur_max
        pass_chunk[n_pass] = cur_chunk
        pass_chunk_lo[n_pass] = cur_lo
        n_pass += 1
    return n_pass


# --------------------------------------------------------------------------- systolic


@njit(cache=True)
def sys_fold_lengths(comp, groups, cols_n, mode):
    """Per filter fold (chunk) of an os/ws array: the pixels it must stream.

    ``comp`` (M, Npx) is the phase's scheduled outputs; pixels are
    restricted to the phase's set by ``comp`` already.  ``mode``: 0 gate
    (every pixel of the phase's set, given as ``comp``'s any-row), 1 row
    (pixels with any scheduled output in the fold), 2 compact (the largest
    per-filter count in the fold: columns stream their own pixels).
    """
    M, npx = comp.shape
    mg = M // groups
    n_cf = (mg + cols_n - 1) // cols_n
    out = np.zeros(groups * n_cf, dtype=np.int64)
    for g in range(groups):
        for cf in range(n_cf):
            k0 = g * mg + cf * cols_n
            k1 = min(k0 + cols_n, (g + 1) * mg)
            if mode == 2:
                best = 0
                for k in range(k0, k1):
                    n = 0
                    for i in range(npx):
                        if comp[k, i]:
                            n += 1
                    if n > best:
                        best = n
                out[g * n_cf + cf] = best
            else:
                n = 0
                for i in range(npx):
                    for k in range(k0, k1):
                        if comp[k, i]:
                            n += 1
                            break
                out[g * n_cf + cf] = n
    return out


@njit(cache=True)
def sys_is_lengths(comp, groups, cols_n, mode):
    """Input-stationary: per group, kept pixels, and per pixel fold the filters streamed.

    Returns (kept pixel count per group, stream length per (group, pixel fold)
    flattened with ``max_pf`` folds per group, ``max_pf``).  ``mode`` as in
    :func:`sys_fold_lengths`; in ``gate`` mode ``comp`` marks the phase's
    pixels for every filter so nothing is dropped.
    """
    M, npx = comp.shape
    mg = M // groups
    kept = np.zeros(groups, dtype=np.int64)
    max_pf = (npx + cols_n - 1) // cols_n
    streams = np.zeros(groups * max(max_pf, 1), dtype=np.int64)
    idx = np.empty(npx, dtype=np.int64)
    for g in range(groups):
        nk = 0
        for i in range(npx):
            for k in range(g * mg, (g + 1) * mg):
                if comp[k, i]:
                    idx[nk] = i
                    nk += 1
                    break
        kept[g] = nk
        n_pf = (nk + cols_n - 1) // cols_n
        for pf in range(n_pf):
            j0 = pf * cols_n
            j1 = min(j0 + cols_n, nk)
            if mode == 2:
                best = 0
                for j in range(j0, j1):
                    n = 0
                    for k in range(g * mg, (g + 1) * mg):
                        if comp[k, idx[j]]:
                            n += 1
                    if n > best:
                        best = n
                streams[g * max_pf + pf] = best
            else:
                n = 0
                for k in range(g * mg, (g + 1) * mg):
                    for j in range(j0, j1):
                        if comp[k, idx[j]]:
                            n += 1
                            break
                streams[g * max_pf + pf] = n
    return kept, streams, max_pf


@njit(cache=True)
def rf_nonzeros(innz, R, S, E, F, U, V, ph, pw, groups):
    """Nonzero inputs in each output's receptive field, per group: (groups, E, F)."""
    C, H, W = innz.shape
    cg = C // groups
    out = np.zeros((groups, E, F), dtype=np.int64)
    for c in range(C):
        g = c // cg
        for y in range(E):
            for r in range(R):
                h = y * U + r - ph
                if h < 0 or h >= H:
                    continue
                for x in range(F):
                    for s in range(S):
                        w = x * V + s - pw
                        if 0 <= w < W and innz[c, h, w]:
                            out[g, y, x] += 1
    return out


@njit(cache=True)
def masked_rf_sum(comp, rfnz, groups):
    """Sum over outputs marked in ``comp`` (M, E, F) of their receptive-field nonzeros."""
    M, E, F = comp.shape
    mg = M // groups
    t = 0
    for k in range(M):
        g = k // mg
        for y in range(E):
            for x in range(F):
                if comp[k, y, x]:
                    t += rfnz[g, y, x]
    return t


# --------------------------------------------------------------------------- ZAP, compression


@njit(cache=True)
def zap_conv1_nonzero_macs(z0, chunk_map, n_chunks):
    """MACs of the ZAP's first depthwise 3x3 conv when zero inputs are skipped, per chunk.

    Each nonzero of Z0 = ofm * P (C, H, W) is multiplied into every output
    position of its 3x3 neighbourhood that lies inside the map (stride 1,
    padding 1), so it costs 9 MACs in the interior, 6 on an edge, 4 in a
    corner; they are counted in the chunk ``chunk_map[c, y]`` of the value.
    """
    C, H, W = z0.shape
    out = np.zeros(n_chunks, dtype=np.int64)
    for c in range(C):
        for y in range(H):
            ny = _taps_3x3(y, H)
            acc = 0
            for x in range(W):
                acc += np.int64(z0[c, y, x]) * ny * _taps_3x3(x, W)
            out[chunk_map[c, y]] += acc
    return out


@njit(cache=True, inline="always")
def _taps_3x3(i, n):
    """Output positions (along one axis) a value at ``i`` of ``n`` feeds in a 3-tap, pad-1, stride-1 conv.

    3 inside, 2 on an edge, 1 when the axis has a single position (both edges).
    """
    return 3 - (1 if i == 0 else 0) - (1 if i == n - 1 else 0)


@njit(cache=True)
def rlc_words(nz, run_bits, level_bits, word_bits):
    """Words of ``word_bits`` after Eyeriss-style run-length coding of a flattened map.

    Each (run, level) pair stores up to 2**run_bits - 1 zeros before a value;
    a longer zero run costs an extra pair with a zero level.  Pairs pack
    three to a 64-bit word (Eyeriss: 5-bit run + 16-bit level, 3 pairs + 1 bit).
    Trailing zeros cost one pair.  Returned in words of ``word_bits``.

    Counted as: one pair per nonzero, one per 2**run_bits zeros of a run
    (at positions where the run length is a multiple of it), and one for a
    trailing run that is not such a multiple.  Only ``last`` (the index of
    the last nonzero) carries from one element to the next, so the loop has
    no data-dependent branches.
    """
    period = 1 << run_bits
    mask = period - 1  # a power of two: test multiples with a mask, not a division
    n = nz.size
    last = -1
    pairs = 0
    for i in range(n):
        v = np.int64(nz[i])
        last = v * i + (1 - v) * last
        d = i - last
        pairs += v + np.int64(d > 0) * np.int64((d & mask) == 0)
    tail = n - 1 - last
    if tail > 0 and (tail & mask) != 0:
        pairs += 1
    per_word = 64 // (run_bits + level_bits)
    words64 = (pairs + per_word - 1) // per_word
    return (words64 * 64 + word_bits - 1) // word_bits


# --------------------------------------------------------------------------- phases A / Z / C


@njit(cache=True)
def combine_phases(a_cycles, a_lo, a_chunk, n_a, z_cycles, z_need, c_cycles, c_chunk, n_c, dedicated, array_z):
    """Layer time of a ZAP layer from its phases (fast path of reference.step_phases).

    Phase A passes run back to back; pass i holds chunks ``a_lo[i]`` to
    ``a_chunk[i]`` (items are ordered by chunk).  The final outputs of chunk
    ``ch`` are ready when the last A pass holding it ends.  With a dedicated unit the
    ZAP works chunk by chunk in order: chunk ``ch`` needs the A outputs of
    chunks up to ``z_need[ch]`` (a row band also needs the two rows below
    it), starts at max(that ready time, the previous chunk's end) and lasts
    ``z_cycles[ch]``.  A
    phase-C pass starts when the previous pass ended and the ZAP has
    finished every chunk up to the largest one in the pass.  With the ZAP
    on the array (``dedicated`` False), Z takes ``array_z`` cycles between
    A and C and nothing overlaps.  Returns (total, A, Z, C).
    """
    n_chunks = z_cycles.size
    ready = np.zeros(n_chunks, dtype=np.int64)
    t = 0
    a_sum = 0
    for i in range(n_a):
        t += a_cycles[i]
        a_sum += a_cycles[i]
        for ch in range(a_lo[i], a_chunk[i] + 1):
            ready[ch] = t
    # chunks never named in A (none of their outputs computed first) are ready at their predecessor's time
    for ch in range(1, n_chunks):
        if ready[ch] < ready[ch - 1]:
            ready[ch] = ready[ch - 1]
    zdone = np.zeros(n_chunks, dtype=np.int64)
    z_sum = 0
    if dedicated:
        zt = 0
        for ch in range(n_chunks):
            start = max(zt, ready[z_need[ch]])
            zt = start + z_cycles[ch]
            zdone[ch] = zt
            z_sum += z_cycles[ch]
    else:
        t += array_z
        z_sum = array_z
        for ch in range(n_chunks):
            zdone[ch] = t
    c_sum = 0
    for i in range(n_c):
        need = zdone[c_chunk[i]]
        if need > t:
            t = need
        t += c_cycles[i]
        c_sum += c_cycles[i]
    if n_chunks > 0 and zdone[n_chunks - 1] > t:
        t = zdone[n_chunks - 1]
    return t, a_sum, z_sum, c_sum


# --------------------------------------------------------------------------- batched row-stationary layer

RS_CORE = ("compute", "A", "Z", "C", "actual", "gated", "busy_pe", "gated_pe", "noc_i", "noc_w", "noc_po", "noc_pi",
           "noc_hop", "zmacs", "dram_in", "dram_out")


@njit(cache=True)
def _chunk_counts_masked(comp, i_s, groups, p, n_fg):
    """rs_chunk_counts of ``comp & ~I_s`` without building the mask."""
    M, E, F = comp.shape
    mg = M // groups
    out = np.zeros((groups * n_fg, E, F), dtype=np.int32)
    for k in range(M):
        ch = (k // mg) * n_fg + (k % mg) // p
        for y in range(E):
            for x in range(F):
                out[ch, y, x] += np.int32(comp[k, y, x] & ~i_s[y, x])  # bitwise: no branch on random masks
    return out


@njit(cache=True)
def _rlc_and(a, b, use_a, use_b, run_bits, level_bits, word_bits, buf):
    """rlc_words of the elementwise AND of two flattened masks (a missing mask counts as all ones)."""
    n = a.size if use_a else b.size
    na = not use_a
    nb = not use_b
    for i in range(n):
        buf[i] = (a[i] | na) & (b[i] | nb)  # bitwise: no branch on the (random) mask values
    return rlc_words(buf[:n], run_bits, level_bits, word_bits)


@njit(cache=True)
def _zap_conv1_masked(out, i_s, use_out, chunk_map, n_chunks):
    """zap_conv1_nonzero_macs of Z0 = out & I_s (``out`` all ones when ``use_out`` is False)."""
    H, W = i_s.shape
    M = chunk_map.shape[0]
    res = np.zeros(n_chunks, dtype=np.int64)
    for c in range(M):
        for y in range(H):
            ny = _taps_3x3(y, H)
            acc = 0
            for x in range(W):
                v = i_s[y, x] & (out[c, y, x] | (not use_out)) if use_out else i_s[y, x]
                acc += np.int64(v) * ny * _taps_3x3(x, W)
            res[chunk_map[c, y]] += acc
    return res


@njit(cache=True)
def rs_layer_batch(N, inm, use_in, outm, use_out, compm, zap, i_s, ncs_a, ncs_c_gate, ncs_dense, geo, conv, in_mode,
                   mpc, gate_out, chunk_map, n_chunks, z_need, zfixed, zap_cfg, rlc_cfg, max_passes):
    """Every image of one row-stationary layer in one call; returns (N, len(RS_CORE)) float64.

    ``inm`` (N, C, H, W), ``outm`` / ``compm`` (N, M, E, F) (dummies of
    shape (1, 1, 1, 1) when unused).  ``conv`` = (R, S, E, F, U, V, ph, pw);
    ``ncs_*`` the image-independent chunk counts of the A schedule (I_s),
    of the gated-output C schedule (I_t) and of the dense layer.
    ``chunk_map`` (M, E): the ZAP chunk of output row (k, y); ``zfixed``:
    the image-independent ZAP MACs per chunk (conv 2, and conv 1 when zero
    inputs are not skipped); ``zap_cfg`` = (dedicated, zap MACs/cycle, skip
    zero inputs, PEs, unused);
    ``rlc_cfg`` = (compress, run bits, level bits, word bits, in words, out words).
    Same arithmetic as the per-image path in ``simulate.py`` (tests hold them equal).
    """
    res = np.zeros((N, 16), dtype=np.float64)
    R, S, E, F, U, V, ph, pw = conv[0], conv[1], conv[2], conv[3], conv[4], conv[5], conv[6], conv[7]
    groups, p, n_fg = geo[0], geo[7], geo[9]
    pa_c = np.zeros(max_passes, dtype=np.int64)
    pa_hi = np.zeros(max_passes, dtype=np.int64)
    pa_lo = np.zeros(max_passes, dtype=np.int64)
    pc_c = np.zeros(max_passes, dtype=np.int64)
    pc_hi = np.zeros(max_passes, dtype=np.int64)
    pc_lo = np.zeros(max_passes, dtype=np.int64)
    counters = np.zeros(10, dtype=np.float64)
    dummy_pe = np.zeros((0, 0, 3), dtype=np.float64)
    dummy_pre = np.zeros((1, 1, 1, 1), dtype=np.int32)
    buf = np.empty(max(rlc_cfg[4], rlc_cfg[5]), dtype=np.bool_)
    dedicated, zmpc, zskip, n_pes = zap_cfg[0], zap_cfg[1], zap_cfg[2], zap_cfg[3]
    compress, run_bits, level_bits, word_bits, in_words, out_words = (rlc_cfg[0], rlc_cfg[1], rlc_cfg[2],
                                                                     rlc_cfg[3], rlc_cfg[4], rlc_cfg[5])
    for i in range(N):
        counters[:] = 0.0
        if in_mode != 0:
            if use_in:
                pre = rs_prefix(inm[i], R, S, E, F, U, V, ph, pw)
            else:
                pre = dummy_pre  # never read: in_mode 0 is forced by the caller for missing inputs
        else:
            pre = dummy_pre
        if zap:
            n_a = rs_phase(pre, ncs_a, ncs_a, geo, in_mode, mpc, pa_c, pa_hi, pa_lo, counters, False, dummy_pe, True)
            real_c = _chunk_counts_masked(compm[i], i_s, groups, p, n_fg)
            sched_c = ncs_c_gate if gate_out else real_c
            n_c = rs_phase(pre, sched_c, real_c, geo, in_mode, mpc, pc_c, pc_hi, pc_lo, counters, False, dummy_pe,
                           True)
            zm = zfixed.copy()
            if zskip:
                zm += _zap_conv1_masked(outm[i] if use_out else outm[0], i_s, use_out, chunk_map, n_chunks)
            zsum = 0
            for ch in range(n_chunks):
                zsum += zm[ch]
            zc = np.zeros(n_chunks, dtype=np.int64)
            array_z = 0
            if dedicated:
                for ch in range(n_chunks):
                    zc[ch] = (zm[ch] + zmpc - 1) // zmpc
            else:
                array_z = (zsum + n_pes * mpc - 1) // (n_pes * mpc)
            total, a_sum, z_sum, c_sum = combine_phases(pa_c, pa_lo, pa_hi, n_a, zc, z_need, pc_c, pc_hi, n_c,
                                                        dedicated, array_z)
            res[i, 0] = total
            res[i, 1] = a_sum
            res[i, 2] = z_sum
            res[i, 3] = c_sum
            res[i, 13] = zsum
        else:
            n_d = rs_phase(pre, ncs_dense, ncs_dense, geo, in_mode, mpc, pa_c, pa_hi, pa_lo, counters, False, dummy_pe,
                           False)
            t = 0
            for k in range(n_d):
                t += pa_c[k]
            res[i, 0] = t
            res[i, 1] = t
        for k in range(9):
            res[i, 4 + k] = counters[k]
        # DRAM words of the ifmap read and the final ofmap write (before tiling factors)
        if compress and use_in:
            w = _rlc_and(inm[i].reshape(-1), inm[i].reshape(-1), True, False, run_bits, level_bits, word_bits, buf)
            res[i, 14] = min(in_words, w)
        else:
            res[i, 14] = in_words
        if compress and (use_out or zap):
            a = outm[i].reshape(-1) if use_out else outm[0].reshape(-1)
            b = compm[i].reshape(-1) if zap else compm[0].reshape(-1)
            w = _rlc_and(a, b, use_out, zap, run_bits, level_bits, word_bits, buf)
            res[i, 15] = min(out_words, w)
        else:
            res[i, 15] = out_words
    return res
