"""Orchestration: run every layer of a workload or trace on an architecture and build the result JSON.

One layer and one batch of images go through :func:`simulate_layer_batch`:
the dataflow's phase runner (``row_stationary`` / ``systolic``) gives the
passes, ``kernels.combine_phases`` the layer time of phases A / Z / C,
``memory`` the traffic and stalls, ``cost`` the energy.  The counters are
kept per image (:class:`LayerStats`) and averaged into the JSON schema of
``docs/results-schema.md``; ``docs/simulator.md`` explains the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..trace_format import Trace, TraceLayer, iter_ops
from . import memory
from .analytical import kernels
from .cost import energy_breakdown
from .engines import DEFAULT_ENGINE, check_engine, engine_version
from .row_stationary import rs_input_prefix, rs_mapping, rs_run_phase
from .systolic import GRANULARITY, sys_mapping, sys_run_phase

PHASES = ("A", "Z", "C", "overlap")
LEVELS = ("dram", "glb", "noc", "spad")
ACC_TENSORS = ("ifmap", "weight", "psum")


@dataclass
class LayerStats:
    """Per-image counters of one layer (every value an array over images)."""

    layer: TraceLayer
    arch: object
    c: dict[str, np.ndarray]

    @property
    def cycles(self) -> np.ndarray:
        return self.c["cycles"]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.c[key]

    def actions(self, i: int | slice | None = None) -> dict[str, dict[str, float]]:
        """Action counts per tensor (mean over images when ``i`` is None)."""
        out: dict[str, dict[str, float]] = {}
        for k, v in self.c.items():
            if k.startswith("act:"):
                _, tensor, action = k.split(":")
                out.setdefault(tensor, {})[action] = float(np.mean(v) if i is None else v[i])
        return out

    def energy(self, i: int | None = None) -> dict:
        """Energy breakdown (pJ) of image ``i``, or the mean over images."""
        return energy_breakdown(self.arch.energy, self.actions(i))

    def to_json(self) -> dict:
        """One entry of the result's ``layers`` list (means over images)."""
        return layer_json(self.layer.name, {k: np.asarray(v, dtype=np.float64) for k, v in self.c.items()}, self.arch)


def _mean(v: np.ndarray) -> float:
    return float(np.mean(v))


def layer_json(name: str, c: dict[str, np.ndarray], arch) -> dict:
    """Average per-image counters into the schema's layer (or total) object."""
    pes = arch.num_pes * arch.pe_array.macs_per_cycle
    cycles = _mean(c["cycles"])
    actions: dict[str, dict[str, float]] = {}
    for k, v in c.items():
        if k.startswith("act:"):
            _, tensor, action = k.split(":")
            actions.setdefault(tensor, {})[action] = _mean(v)
    actual = _mean(c["actual"])
    per_image = energy_breakdown(arch.energy, {t: {a: np.asarray(v, dtype=np.float64) for a, v in d.items()}
                                               for t, d in _actions_arrays(c).items()})["total"]
    return {
        "name": name,
        "cycles": cycles,
        "cycles_std": float(np.std(c["cycles"])),
        "energy_pj_std": float(np.std(per_image)),
        "cycles_by_phase": {p: _mean(c["phase_" + p]) for p in PHASES},
        "pe_cycles": {k: _mean(c["pe_" + k]) for k in ("busy", "gated", "idle", "stalled")},
        "stall_cycles": _mean(c["stall_cycles"]),
        "utilization": actual / (pes * cycles) if cycles > 0 else 0.0,
        "macs": {k: _mean(c["mac_" + k]) for k in ("algorithmic", "actual", "gated", "skipped", "zap")},
        "energy_pj": energy_breakdown(arch.energy, actions),
        "accesses": {lv: {t: _mean(c[f"acc:{lv}:{t}"]) for t in ACC_TENSORS} for lv in LEVELS},
    }


def _actions_arrays(c: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per-image action counts by tensor (the ``act:tensor:action`` counters)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for k, v in c.items():
        if k.startswith("act:"):
            _, tensor, action = k.split(":")
            out.setdefault(tensor, {})[action] = v
    return out


def _broadcast(m2d: np.ndarray, M: int) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(m2d[None], M, axis=0))


def zap_fixed_macs(arch, layer: TraceLayer, i_s: np.ndarray, chunk_map: np.ndarray, n_chunks: int) -> np.ndarray:
    """The image-independent part of the ZAP's MACs per chunk (see :func:`zap_macs_per_chunk`)."""
    M, E, F = layer.out_shape
    per_row = 9 * (~i_s).sum(axis=1)  # conv 2: 9 per predicted position of each row
    if not arch.zap_unit.skip_zero_inputs:
        per_row = per_row + 9 * F  # conv 1 dense: 9 per position, padding products included
    w = np.broadcast_to(per_row[None, :], (M, E)).ravel()
    return np.bincount(chunk_map.ravel(), weights=w, minlength=n_chunks).astype(np.int64)


def zap_macs_per_chunk(arch, layer: TraceLayer, out_nz: np.ndarray, i_s: np.ndarray, chunk_map: np.ndarray,
                       n_chunks: int) -> np.ndarray:
    """The ZAP's MACs for one image, per chunk (``chunk_map[k, y]``: the chunk of output row (k, y)).

    Conv 1 (depthwise 3x3 on Z0 = ofm * P): with ``zap_unit.skip_zero_inputs``
    only the products of nonzero Z0 values (I_s positions whose output is
    nonzero) inside the map (:func:`kernels.zap_conv1_nonzero_macs`), counted
    in the chunk of the value's row; otherwise 9 per position (H*W per
    channel, padding products included).  Conv 2: 9 per predicted position
    (only the scores at I_t are needed; its input, a BatchNorm+ReLU map, is
    treated as dense).
    """
    z = zap_fixed_macs(arch, layer, i_s, chunk_map, n_chunks)
    if arch.zap_unit.skip_zero_inputs:
        z0 = np.ascontiguousarray(out_nz & i_s[None])
        z = z + kernels.zap_conv1_nonzero_macs(z0, chunk_map, n_chunks)
    return z


def simulate_layer_batch(arch, layer: TraceLayer, in_masks: np.ndarray | None, out_masks: np.ndarray | None,
                         comp_masks: np.ndarray | None, *, zap: bool | None = None, batch: int = 1,
                         num_images: int | None = None, fast: bool = True,
                         engine: str = DEFAULT_ENGINE) -> LayerStats:
    """Simulate one layer for a batch of images.

    ``in_masks`` (N, C, H, W), ``out_masks`` and ``comp_masks`` (N, M, E, F)
    bool, or None (inputs all nonzero / outputs all nonzero / everything
    computed).  The layer runs with its ZAP (phases A, Z, C) when ``zap``
    is true (default: when it has a ZapSpec and ``comp_masks`` is given),
    dense otherwise.  ``batch`` amortises weight reads from DRAM.
    Row-stationary layers run all images in one Numba call (``fast``);
    ``fast=False`` takes the per-image path (kept for the tests that hold
    the two equal).  ``engine``: ``analytical`` (pass-level closed forms) or
    ``cycle`` (the cycle-level model of ``zapsim/sim/cycle/``, whose timing,
    memory stalls included, replaces the analytical one; traffic and action
    counts come from the same place, so energy uses the same table).
    """
    if zap is None:
        zap = layer.zap is not None and comp_masks is not None
    if zap and layer.zap is None:
        raise ValueError(f"layer '{layer.name}' has no ZAP")
    n = next((len(x) for x in (in_masks, out_masks, comp_masks) if x is not None), num_images or 1)
    check_engine(engine)
    if engine == "cycle":
        from .cycle.driver import layer_core

        core = layer_core(arch, layer, in_masks, out_masks, comp_masks, zap, n, batch)
        return LayerStats(layer, arch, _finish(arch, layer, core, zap, batch))
    if arch.dataflow == "row_stationary" and fast:
        core = _rs_core_batch(arch, layer, in_masks, out_masks, comp_masks, zap, n)
    else:
        rows = [_core_image(arch, layer, None if in_masks is None else in_masks[i],
                            None if out_masks is None else out_masks[i],
                            None if comp_masks is None else comp_masks[i], zap) for i in range(n)]
        core = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in kernels.RS_CORE}
    return LayerStats(layer, arch, _finish(arch, layer, core, zap, batch))


def simulate_layer(arch, layer: TraceLayer, in_mask: np.ndarray | None, out_mask: np.ndarray | None,
                   computed_mask: np.ndarray | None, *, zap: bool | None = None, batch: int = 1,
                   fast: bool = True, engine: str = DEFAULT_ENGINE) -> LayerStats:
    """One layer and one image: masks bool (C, H, W) / (M, E, F) or None for dense."""
    def add(m):
        return None if m is None else np.asarray(m, dtype=bool)[None]
    return simulate_layer_batch(arch, layer, add(in_mask), add(out_mask), add(computed_mask), zap=zap, batch=batch,
                                fast=fast, engine=engine)


def _gate_outputs(arch) -> bool:
    """Whether ZAP-predicted zeros stay in the schedule (gated) rather than leave it."""
    return arch.sparsity.zap_outputs == "gate" or (arch.is_systolic and arch.systolic.zap_granularity == "gate")


def _rs_core_batch(arch, layer: TraceLayer, in_masks, out_masks, comp_masks, zap: bool, n: int) -> dict:
    """Core counters (kernels.RS_CORE) of every image of a row-stationary layer, in one Numba call."""
    M, E, F = layer.out_shape
    m = rs_mapping(arch, layer)
    in_mode = kernels.IN_MODES[arch.sparsity.zero_inputs]
    dummy = np.zeros((1, 1, 1, 1), dtype=bool)
    if in_masks is None and in_mode != 0:
        in_masks = np.ones((n, *layer.in_shape), dtype=bool)  # padding still counts as zero input
    inm = dummy if in_masks is None else np.ascontiguousarray(in_masks, dtype=bool)
    outm = dummy if out_masks is None else np.ascontiguousarray(out_masks, dtype=bool)
    if zap:
        compm = np.ones((n, M, E, F), dtype=bool) if comp_masks is None else np.ascontiguousarray(comp_masks, dtype=bool)
        i_s = np.ascontiguousarray(layer.zap.computed_first(E, F))
    else:
        compm = dummy
        i_s = np.zeros((E, F), dtype=bool)
    cc = kernels.rs_chunk_counts
    ncs_a = cc(_broadcast(i_s, M), m.groups, m.p, m.n_fg)
    ncs_c_gate = cc(_broadcast(~i_s, M), m.groups, m.p, m.n_fg)
    ncs_dense = cc(np.ones(layer.out_shape, dtype=bool), m.groups, m.p, m.n_fg)
    L = layer
    conv = np.array([L.kernel[0], L.kernel[1], E, F, L.stride[0], L.stride[1], L.padding[0], L.padding[1]],
                    dtype=np.int64)
    zap_cfg = np.array([arch.zap_unit.placement == "dedicated", arch.zap_unit.macs_per_cycle,
                        arch.zap_unit.skip_zero_inputs, arch.num_pes, 0], dtype=np.int64)
    chunk_map, n_chunks, z_need = m.zap_chunks()
    zfixed = zap_fixed_macs(arch, layer, i_s, chunk_map, n_chunks)
    rlc_cfg = np.array([arch.dram.zero_compression, memory.RLC_RUN_BITS, memory.RLC_LEVEL_BITS, arch.tensor_bits("ifmap"),
                        L.c_in * L.h_in * L.w_in, M * E * F], dtype=np.int64)
    res = kernels.rs_layer_batch(n, inm, in_masks is not None, outm, out_masks is not None, compm, zap, i_s, ncs_a,
                                ncs_c_gate, ncs_dense, m.geometry(), conv, in_mode if in_masks is not None else 0,
                                arch.pe_array.macs_per_cycle, _gate_outputs(arch), chunk_map, n_chunks, z_need,
                                zfixed, zap_cfg, rlc_cfg, max(1, m.max_passes))
    return {k: res[:, j] for j, k in enumerate(kernels.RS_CORE)}


def _core_image(arch, layer: TraceLayer, innz, outnz, comp, zap: bool) -> dict[str, float]:
    """Core counters (kernels.RS_CORE) of one image, any dataflow, one phase runner call at a time."""
    M, E, F = layer.out_shape
    in_mode = kernels.IN_MODES[arch.sparsity.zero_inputs]
    mpc = arch.pe_array.macs_per_cycle
    if innz is None and in_mode != 0:
        innz = np.ones(layer.in_shape, dtype=bool)  # padding still counts as zero input
    if innz is not None:
        innz = np.asarray(innz, dtype=bool)
    outnz_full = np.ones(layer.out_shape, dtype=bool) if outnz is None else np.asarray(outnz, dtype=bool)
    K = layer.macs_per_output
    i_s = layer.zap.computed_first(E, F) if zap else None
    ones = np.ones(layer.out_shape, dtype=bool)
    if zap:
        comp = np.ones(layer.out_shape, dtype=bool) if comp is None else np.asarray(comp, dtype=bool)
        sched_a = _broadcast(i_s, M)
        real_c = np.ascontiguousarray(comp & ~i_s[None])
        sched_c = _broadcast(~i_s, M) if _gate_outputs(arch) else real_c
        final_out = outnz_full & comp
    else:
        final_out = outnz_full

    if arch.dataflow == "row_stationary":
        m = rs_mapping(arch, layer)
        pre = rs_input_prefix(m, innz if in_mode != 0 else None)
        if zap:
            pa = rs_run_phase(m, pre, sched_a, sched_a, in_mode, mpc, strip_outer=True)
            pc = rs_run_phase(m, pre, sched_c, real_c, in_mode, mpc, strip_outer=True)
            cnt = pa.counters + pc.counters
            phases = [(pa.pass_cycles, pa.pass_chunk_lo, pa.pass_chunk), (pc.pass_cycles, pc.pass_chunk_lo, pc.pass_chunk)]
        else:
            pd = rs_run_phase(m, pre, ones, ones, in_mode, mpc)
            cnt = pd.counters
            phases = [(pd.pass_cycles, pd.pass_chunk_lo, pd.pass_chunk)]
        c = dict(zip(kernels.RS_COUNTERS, cnt))
        actual, gated = c["actual"], c["gated"]
        busy_pe, gated_pe = c["busy_pe"], c["gated_pe"]
        noc_i, noc_w, noc_po, noc_pi, noc_hop = (c["noc_ifmap"], c["noc_weight"], c["noc_psum_out"],
                                                c["noc_psum_in"], c["noc_psum_hop"])
    else:
        m = sys_mapping(arch, layer)
        gran = GRANULARITY[arch.systolic.zap_granularity]
        npx = E * F
        rfnz = None
        if in_mode != 0:
            L = layer
            rfnz = kernels.rf_nonzeros(innz, L.kernel[0], L.kernel[1], E, F, L.stride[0], L.stride[1],
                                      L.padding[0], L.padding[1], L.groups)

        def macs_of(real):
            if rfnz is None:
                return float(K * int(real.sum()))
            return float(kernels.masked_rf_sum(np.ascontiguousarray(real), rfnz, layer.groups))

        if zap:
            pa = sys_run_phase(m, sched_a.reshape(M, npx), gran)
            pc = sys_run_phase(m, sched_c.reshape(M, npx), gran)
            plist = [pa, pc]
            actual = macs_of(sched_a) + macs_of(real_c)
        else:
            pd = sys_run_phase(m, ones.reshape(M, npx), gran)
            plist = [pd]
            actual = macs_of(ones)
        phases = [(p.pass_cycles, p.pass_chunk, p.pass_chunk) for p in plist]
        slots = float(K * sum(p.sched_outputs for p in plist))
        gated = slots - actual
        busy_pe, gated_pe = actual, gated
        noc_i = sum(p.noc_ifmap for p in plist)
        noc_w = sum(p.noc_weight for p in plist)
        noc_po = sum(p.noc_psum_out for p in plist)
        noc_pi = sum(p.noc_psum_in for p in plist)
        noc_hop = 0.0

    # ---- time: phases A / Z / C
    zmacs = 0.0
    if zap:
        chunk_map, n_chunks, z_need = m.zap_chunks()
        zm = zap_macs_per_chunk(arch, layer, outnz_full, i_s, chunk_map, n_chunks)
        zmacs = float(zm.sum())
        dedicated = arch.zap_unit.placement == "dedicated"
        zc = -(-zm // arch.zap_unit.macs_per_cycle) if dedicated else np.zeros(n_chunks, dtype=np.int64)
        array_z = 0 if dedicated else math.ceil(zmacs / (arch.num_pes * mpc))
        (a_c, a_lo, a_k), (c_c, _, c_k) = phases
        total, a_sum, z_sum, c_sum = kernels.combine_phases(a_c, a_lo, a_k, a_c.size, zc.astype(np.int64), z_need,
                                                           c_c, c_k, c_c.size, dedicated, array_z)
        compute, ph_a, ph_z, ph_c = float(total), float(a_sum), float(z_sum), float(c_sum)
    else:
        compute = float(phases[0][0].sum())
        ph_a, ph_z, ph_c = compute, 0.0, 0.0
    in_words = layer.c_in * layer.h_in * layer.w_in
    return {"compute": compute, "A": ph_a, "Z": ph_z, "C": ph_c, "actual": actual, "gated": gated,
            "busy_pe": busy_pe, "gated_pe": gated_pe, "noc_i": noc_i, "noc_w": noc_w, "noc_po": noc_po,
            "noc_pi": noc_pi, "noc_hop": noc_hop, "zmacs": zmacs,
            "dram_in": memory.compressed_words(innz, in_words, arch),
            "dram_out": memory.compressed_words(final_out, M * E * F, arch)}


def _finish(arch, layer: TraceLayer, core: dict, zap: bool, batch: int) -> dict[str, np.ndarray]:
    """Memory, stalls, PE cycles, MAC kinds, accesses and energy actions from the core counters (arrays over images)."""
    M, E, F = layer.out_shape
    compute = core["compute"].copy()
    ph_a = core["A"].copy()
    if arch.is_systolic and arch.systolic.scalesim_off_by_one:
        dec = (compute > 0).astype(np.float64)
        compute -= dec  # SCALE-Sim's trailing -1, once per layer, taken from phase A
        ph_a -= dec
    actual, gated = core["actual"], core["gated"]
    noc_i, noc_w, noc_po, noc_pi, noc_hop = core["noc_i"], core["noc_w"], core["noc_po"], core["noc_pi"], core["noc_hop"]
    zmacs = core["zmacs"]
    tile = memory.layer_tiling(arch, layer, batch)
    dram = {"ifmap": core["dram_in"] * tile["in_reads"], "weight": np.full_like(compute, tile["weight_words"]),
            "psum": core["dram_out"]}
    n_is = int(layer.zap.computed_first(E, F).sum()) if zap else 0
    glb_read = {"ifmap": noc_i, "weight": noc_w, "psum": noc_pi + float(M * E * F)}
    glb_write = {"ifmap": np.full_like(compute, tile["ifmap_fill_words"]),
                 "weight": np.full_like(compute, tile["weight_words"]), "psum": noc_po}
    zap_glb = float(M * n_is)
    if arch.global_buffer.weight_bypass:  # weights go DRAM -> PEs: each word the array receives is a DRAM read
        dram["weight"] = noc_w + 0.0
        glb_read["weight"] = glb_write["weight"] = np.zeros_like(compute)
    if "stall" in core:  # the cycle engine's own DRAM-tile timing
        stall = core["stall"]
    else:
        stall = memory.layer_stall_cycles(arch, compute, dram, glb_read, glb_write, zap_glb,
                                          noc_i + noc_w + noc_po + noc_pi)
    cycles = compute + stall
    pes = arch.num_pes
    r: dict[str, np.ndarray] = {
        "cycles": cycles, "compute_cycles": compute, "stall_cycles": stall,
        "phase_A": ph_a, "phase_Z": core["Z"], "phase_C": core["C"],
        "phase_overlap": ph_a + core["Z"] + core["C"] - compute,
        "pe_busy": core["busy_pe"], "pe_gated": core["gated_pe"], "pe_stalled": stall * pes,
        "pe_idle": pes * cycles - core["busy_pe"] - core["gated_pe"] - stall * pes,
        "mac_algorithmic": np.full_like(compute, float(layer.macs)), "mac_actual": actual, "mac_gated": gated,
        "mac_skipped": float(layer.macs) - actual - gated, "mac_zap": zmacs, "actual": actual,
    }
    spad = {"ifmap": actual + gated + noc_i, "weight": actual + noc_w, "psum": 2 * actual}
    noc = {"ifmap": noc_i, "weight": noc_w, "psum": noc_po + noc_pi + noc_hop}
    for t in ACC_TENSORS:
        r[f"acc:dram:{t}"] = dram[t]
        r[f"acc:glb:{t}"] = glb_read[t] + glb_write[t]
        r[f"acc:noc:{t}"] = noc[t]
        r[f"acc:spad:{t}"] = spad[t]
    zero = np.zeros_like(compute)
    acts = {
        "ifmap": {"spad_read": actual + gated, "spad_write": noc_i, "noc_word": noc_i, "glb_read": glb_read["ifmap"],
                  "glb_write": glb_write["ifmap"], "dram_read": dram["ifmap"]},
        "weight": {"spad_read": actual, "spad_write": noc_w, "noc_word": noc_w, "glb_read": glb_read["weight"],
                   "glb_write": glb_write["weight"], "dram_read": dram["weight"]},
        "psum": {"mac": actual, "mac_gated": gated, "spad_read": actual, "spad_write": actual,
                 "noc_word": noc["psum"], "glb_read": glb_read["psum"], "glb_write": glb_write["psum"],
                 "dram_write": dram["psum"], "leakage_cycle": cycles},
        "zap": {"zap_mac": zmacs,
                "zap_buffer_access": (zmacs + float(M * (n_is + E * F + (E * F - n_is)))) if zap else zero,
                "glb_read": zero + zap_glb},
    }
    for t, d in acts.items():
        for a, v in d.items():
            r[f"act:{t}:{a}"] = np.asarray(v, dtype=np.float64) + zero
    return {k: np.asarray(v, dtype=np.float64) for k, v in r.items()}


# --------------------------------------------------------------------------- whole runs


def _sum_layers(stats: list[LayerStats]) -> dict[str, np.ndarray]:
    keys = stats[0].c.keys()
    return {k: np.sum([s.c[k] for s in stats], axis=0) for k in keys}


def _op_result(arch, op_id: str, label: str, kind: str, thresholds, accuracy, stats: list[LayerStats]) -> dict:
    layers = [s.to_json() for s in stats]
    tot_c = _sum_layers(stats)
    total = layer_json("total", tot_c, arch)
    del total["name"]
    total["energy_pj_per_algorithmic_mac"] = (total["energy_pj"]["total"] / total["macs"]["algorithmic"]
                                              if total["macs"]["algorithmic"] else 0.0)
    return {"id": op_id, "label": label, "kind": kind, "thresholds": thresholds, "accuracy": accuracy,
            "layers": layers, "total": total}


def simulate(arch, layers: list[TraceLayer], trace: Trace | None = None, op_ids: list[str] | None = None,
             images: int | None = None, progress: bool = True, *, source: str | None = None,
             batch: int = 1, engine: str = DEFAULT_ENGINE) -> dict:
    """Run a workload (dense, ``trace=None``) or a trace's operating points; return the result JSON.

    With a trace, ``layers`` should be ``trace.layers``; each requested op
    (default all) runs over the first ``images`` images (default all) and
    the trace's 'dense' op always runs as the baseline.  ``engine`` names
    one of :data:`zapsim.sim.engines.ENGINES`; the result records it with
    its version, and the batch in ``workload.batch``.
    """
    from ..sim.arch import arch_to_dict

    check_engine(engine)

    runs: list[tuple] = []  # (op_id, label, kind, thresholds, accuracy, per-layer loader)
    if trace is None:
        n_img = 1
        runs.append(("dense", "dense", "dense", None, None))
        workload = {"source": source or "<layers>", "model": source or "workload", "num_images": 1, "synthetic": False}
    else:
        n_img = trace.num_images if images is None else max(1, min(int(images), trace.num_images))
        ops = iter_ops(trace, op_ids)
        ids = [o.id for o in ops]
        if "dense" not in ids:
            ops = [trace.op("dense"), *ops]
        else:
            ops = [trace.op("dense")] + [o for o in ops if o.id != "dense"]
        for o in ops:
            runs.append((o.id, o.label or o.id, o.kind, o.thresholds, o.accuracy))
        workload = {"source": str(trace.path), "model": str(trace.model.get("name", "")), "num_images": n_img,
                    "synthetic": bool(trace.synthetic)}
        if trace.synthetic and isinstance(trace.manifest.get("synthetic_params"), dict):
            workload["synthetic_params"] = dict(trace.manifest["synthetic_params"])
    total_steps = len(runs) * len(layers)
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(total_steps, "simulate", "layer")
    results = []
    try:
        for op_id, label, kind, thresholds, accuracy in runs:
            stats = []
            for li, layer in enumerate(layers):
                if trace is None:
                    s = simulate_layer_batch(arch, layer, None, None, None, zap=False, batch=batch, engine=engine)
                else:
                    use_zap = kind != "dense" and layer.zap is not None
                    in_m = trace.mask(op_id, li, "in")[:n_img]
                    out_m = trace.mask(op_id, li, "out")[:n_img]
                    comp = trace.mask(op_id, li, "computed")[:n_img] if use_zap else None
                    s = simulate_layer_batch(arch, layer, in_m, out_m, comp, zap=use_zap, batch=batch, engine=engine)
                stats.append(s)
                if bar is not None:
                    bar.update(1)
            results.append(_op_result(arch, op_id, label, kind, thresholds, accuracy, stats))
    finally:
        if bar is not None:
            bar.close()
    base = results[0]["total"]
    for r in results:
        t = r["total"]
        r["vs_baseline"] = {
            "speedup": base["cycles"] / t["cycles"] if t["cycles"] else 0.0,
            "energy_saving": 1.0 - t["energy_pj"]["total"] / base["energy_pj"]["total"] if base["energy_pj"]["total"] else 0.0,
        }
    workload["batch"] = int(batch)
    patterns = sorted({layer.zap.pattern for layer in layers if layer.zap is not None})
    workload["pattern"] = "/".join(patterns) if patterns else None  # the ZAPs' pattern(s); null: no ZAP layer
    return {"schema": "zapsim-results", "schema_version": 1, "zapsim_version": __version__,
            "engine": {"name": engine, "version": engine_version(engine)},
            "arch": arch_to_dict(arch), "workload": workload, "baseline": "dense", "operating_points": results}
