"""The row-stationary sequencer of the cycle engine: ``run_layer`` (the driver's interface, ``driver.py``).

It reuses the analytical engine's mapping (``zapsim/sim/row_stationary.py``:
slots, ``p``, ``q``, strips, row segments, chunks) and its action counts
(MAC kinds, NoC words, ZAP MACs, DRAM words: ``kernels.rs_layer_batch``),
so energy comes from the same table; the timing is the cycle model's
(``control.rs_layer``): filter reloads, ifmap multicast through FIFOs,
GLB banks, the row primitive, the psum path and drain, the ZAP unit, and
DRAM tiles (``dram.py``).  Images are processed ``batch`` at a time
inside the PE (filters reused across the batch); each image of a batch
reports the batch's cycles divided by its size, and the filter words the
NoC delivered likewise.
"""

from __future__ import annotations

import numpy as np

from ..analytical import kernels
from ..row_stationary import rs_mapping
from ..simulate import _rs_core_batch, zap_macs_per_chunk
from . import control, dram, zap_unit


def params(arch) -> np.ndarray:
    """The int64 parameter vector of ``control.rs_layer`` (indices ``control.P_*``)."""
    pe, noc, gb, z = arch.pe_array, arch.noc, arch.global_buffer, arch.zap_unit
    v = np.zeros(control.N_PARAMS, dtype=np.int64)
    v[control.P_BI] = noc.ifmap_bus_words_per_cycle
    v[control.P_BF] = noc.filter_bus_words_per_cycle
    v[control.P_BP] = noc.psum_bus_words_per_cycle
    v[control.P_FIFO] = pe.ifmap_fifo_words
    v[control.P_SPAD] = pe.ifmap_spad_words
    v[control.P_BANKS] = gb.banks
    v[control.P_PORTS] = gb.ports_per_bank
    v[control.P_DEPTH] = pe.mac_pipeline_depth
    v[control.P_HOP] = noc.psum_hop_cycles
    v[control.P_SKIPCHK] = pe.skip_check_cycles
    v[control.P_DBUF] = pe.weight_spad_words
    v[control.P_MPC] = pe.macs_per_cycle
    v[control.P_ZDED] = z.placement == "dedicated"
    v[control.P_ZRATE] = z.macs_per_cycle
    v[control.P_ZXFER] = z.transfer_words_per_cycle
    v[control.P_WBITS] = arch.word_bits
    v[control.P_MCAST] = bool(noc.multicast)
    return v


def layer_inputs(arch, layer, in_masks, out_masks, comp_masks, zap: bool, n: int):
    """Everything ``control.rs_layer`` reads for the images of one layer (a dict of arrays)."""
    M, E, F = layer.out_shape
    m = rs_mapping(arch, layer)
    L = layer
    in_mode = kernels.IN_MODES[arch.sparsity.zero_inputs]
    if in_masks is None and in_mode != 0:
        in_masks = np.ones((n, *layer.in_shape), dtype=bool)
    conv = np.array([L.kernel[0], L.kernel[1], E, F, L.stride[0], L.stride[1], L.padding[0], L.padding[1]],
                    dtype=np.int64)
    if in_mode == 2:
        pre = np.stack([kernels.rs_prefix(np.ascontiguousarray(in_masks[i]), m.R, m.S, E, F, L.stride[0],
                                          L.stride[1], L.padding[0], L.padding[1]) for i in range(n)])
    else:
        pre = np.zeros((1, 1, 1, 1, 1), dtype=np.int32)
    cc = kernels.rs_chunk_counts
    ncs_dense = cc(np.ones(layer.out_shape, dtype=bool), m.groups, m.p, m.n_fg)
    chunk_map, n_chunks, z_need = m.zap_chunks()
    if zap:
        zap_unit.check_buffer(arch, layer)
        i_s = np.ascontiguousarray(layer.zap.computed_first(E, F))
        comp = np.ones((n, M, E, F), dtype=bool) if comp_masks is None else np.asarray(comp_masks, dtype=bool)
        gate = arch.sparsity.zap_outputs == "gate"
        ncs_a = cc(np.ascontiguousarray(np.broadcast_to(i_s[None], (M, E, F))), m.groups, m.p, m.n_fg)
        sched_gate = np.ascontiguousarray(np.broadcast_to(~i_s[None], (M, E, F)))
        ncs_c = np.stack([cc(sched_gate if gate else np.ascontiguousarray(comp[i] & ~i_s[None]), m.groups, m.p,
                             m.n_fg) for i in range(n)])
        outs = np.ones((n, M, E, F), dtype=bool) if out_masks is None else np.asarray(out_masks, dtype=bool)
        zm = np.stack([zap_macs_per_chunk(arch, layer, outs[i], i_s, chunk_map, n_chunks) for i in range(n)])
        # per chunk: phase-A outputs moved in, decisions (one bit per scored output) moved out
        w_in = np.bincount(chunk_map.ravel(), weights=np.broadcast_to(i_s.sum(axis=1)[None], (M, E)).ravel(),
                           minlength=n_chunks).astype(np.int64)
        dec = np.bincount(chunk_map.ravel(), weights=np.broadcast_to((~i_s).sum(axis=1)[None], (M, E)).ravel(),
                          minlength=n_chunks).astype(np.int64)
        z = arch.zap_unit
        zc = np.maximum(-(-zm // z.macs_per_cycle),
                        -(-(w_in + -(-dec // arch.word_bits)) // z.transfer_words_per_cycle))[:, :].astype(np.int64)
        i_t = np.ascontiguousarray(~i_s).astype(np.uint8)
        chk = (not gate)
    else:
        ncs_a = ncs_dense
        ncs_c = ncs_dense[None].copy()
        zm = np.zeros((n, n_chunks), dtype=np.int64)
        zc = np.zeros((n, n_chunks), dtype=np.int64)
        i_t = np.zeros((E, F), dtype=np.uint8)
        chk = False
    max_words = m.q * L.w_in
    return {"m": m, "conv": conv, "in_mode": in_mode, "pre": pre, "ncs_a": ncs_a, "ncs_c": ncs_c,
            "ncs_dense": ncs_dense, "i_t": i_t, "chk": chk, "zm": zm, "zc": zc, "z_need": z_need,
            "max_words": max_words}


def run_batch(arch, x: dict, lo: int, hi: int, zap: bool) -> np.ndarray:
    """``control.rs_layer`` on images lo..hi-1 of the prepared inputs ``x``: [compute, A, Z, C, filter words]."""
    m = x["m"]
    nb = hi - lo
    pre = x["pre"][lo:hi] if x["in_mode"] == 2 else x["pre"]
    ncs_c = x["ncs_c"][lo:hi] if zap else x["ncs_c"]
    zc = np.ascontiguousarray(x["zc"][lo:hi])
    array_z = 0
    if zap and arch.zap_unit.placement != "dedicated":
        array_z = int(-(-int(x["zm"][lo:hi].sum()) // (arch.num_pes * arch.pe_array.macs_per_cycle)))
    return control.rs_layer(nb, m.geometry(), x["conv"], params(arch), x["in_mode"], np.ascontiguousarray(pre),
                            x["ncs_a"], np.ascontiguousarray(ncs_c), x["ncs_dense"], zap, x["i_t"], x["chk"], zc,
                            x["z_need"], array_z, max(1, m.n_items), x["max_words"])


def run_layer(arch, layer, in_masks, out_masks, comp_masks, zap: bool, n: int, batch: int) -> dict:
    """The driver's interface (``driver.py``): per-image core counters of ``n`` images, ``batch`` at a time."""
    core = _rs_core_batch(arch, layer, in_masks, out_masks, comp_masks, zap, n)  # action counts
    x = layer_inputs(arch, layer, in_masks, out_masks, comp_masks, zap, n)
    for k in ("compute", "A", "Z", "C", "noc_w"):
        core[k] = np.array(core[k], dtype=np.float64)
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        r = run_batch(arch, x, lo, hi, zap)
        nb = hi - lo
        core["compute"][lo:hi] = r[0] / nb
        core["A"][lo:hi] = r[1] / nb
        core["Z"][lo:hi] = r[2] / nb
        core["C"][lo:hi] = r[3] / nb
        core["noc_w"][lo:hi] = r[4] / nb
    core["stall"] = dram.layer_dram_stall(arch, layer, core, batch, x["m"].max_passes)
    return core
