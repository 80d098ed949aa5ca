"""Orchestration: run every layer of a workload or trace on an architecture and build the result JSON.

One layer and one batch of images go through :func:`simulate_layer_batch`:
the dataflow's phase runner (``row_stationary`` / ``systolic``) gives the
passes, ``engine.combine_phases`` the layer time of phases A / Z / C,
``memory`` the traffic and stalls, ``cost`` the energy.  The counters are
kept per image (:class:`LayerStats`) and averaged into the JSON schema of
``docs/results-schema.md``; ``docs/simulator.md`` explains the model.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..trace_format import Trace, TraceLayer, iter_ops
from . import engine, memory
from .cost import energy_breakdown
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
    return {
        "name": name,
        "cycles": cycles,
        "cycles_std": float(np.std(c["cycles"])),
        "cycles_by_phase": {p: _mean(c["phase_" + p]) for p in PHASES},
        "pe_cycles": {k: _mean(c["pe_" + k]) for k in ("busy", "gated", "idle", "stalled")},
        "stall_cycles": _mean(c["stall_cycles"]),
        "utilization": actual / (pes * cycles) if cycles > 0 else 0.0,
        "macs": {k: _mean(c["mac_" + k]) for k in ("algorithmic", "actual", "gated", "skipped", "zap")},
        "energy_pj": energy_breakdown(arch.energy, actions),
        "accesses": {lv: {t: _mean(c[f"acc:{lv}:{t}"]) for t in ACC_TENSORS} for lv in LEVELS},
    }


def _broadcast(m2d: np.ndarray, M: int) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(m2d[None], M, axis=0))


def zap_macs_per_chunk(arch, layer: TraceLayer, out_nz: np.ndarray, i_s: np.ndarray, chunk_of_channel: np.ndarray,
                       n_chunks: int) -> np.ndarray:
    """The ZAP's MACs for one image, per chunk of output channels.

    Conv 1 (depthwise 3x3 on Z0 = ofm * P): with ``zap_unit.skip_zero_inputs``
    only the products of nonzero Z0 values (I_s positions whose output is
    nonzero) inside the map (:func:`engine.zap_conv1_nonzero_macs`);
    otherwise 9 per position (H*W per channel, padding products included).
    Conv 2: 9 per predicted position (only the scores at I_t are needed; its
    input, a BatchNorm+ReLU map, is treated as dense).
    """
    M, E, F = layer.out_shape
    n_t = int((~i_s).sum())
    if arch.zap_unit.skip_zero_inputs:
        z0 = np.ascontiguousarray(out_nz & i_s[None])
        conv1 = engine.zap_conv1_nonzero_macs(z0, chunk_of_channel, n_chunks)
    else:
        conv1 = np.bincount(chunk_of_channel, minlength=n_chunks).astype(np.int64) * 9 * E * F
    conv2 = np.bincount(chunk_of_channel, minlength=n_chunks).astype(np.int64) * 9 * n_t
    return conv1 + conv2


def simulate_layer_batch(arch, layer: TraceLayer, in_masks: np.ndarray | None, out_masks: np.ndarray | None,
                         comp_masks: np.ndarray | None, *, zap: bool | None = None, batch: int = 1,
                         num_images: int | None = None) -> LayerStats:
    """Simulate one layer for a batch of images.

    ``in_masks`` (N, C, H, W), ``out_masks`` and ``comp_masks`` (N, M, E, F)
    bool, or None (inputs all nonzero / outputs all nonzero / everything
    computed).  The layer runs with its ZAP (phases A, Z, C) when ``zap``
    is true (default: when it has a ZapSpec and ``comp_masks`` is given),
    dense otherwise.  ``batch`` amortises weight reads from DRAM.
    """
    if zap is None:
        zap = layer.zap is not None and comp_masks is not None
    if zap and layer.zap is None:
        raise ValueError(f"layer '{layer.name}' has no ZAP")
    n = next((len(x) for x in (in_masks, out_masks, comp_masks) if x is not None), num_images or 1)
    rows = [_one_image(arch, layer, None if in_masks is None else in_masks[i],
                       None if out_masks is None else out_masks[i],
                       None if comp_masks is None else comp_masks[i], zap, batch) for i in range(n)]
    keys = rows[0].keys()
    return LayerStats(layer, arch, {k: np.array([r[k] for r in rows], dtype=np.float64) for k in keys})


def simulate_layer(arch, layer: TraceLayer, in_mask: np.ndarray | None, out_mask: np.ndarray | None,
                   computed_mask: np.ndarray | None, *, zap: bool | None = None, batch: int = 1) -> LayerStats:
    """One layer and one image: masks bool (C, H, W) / (M, E, F) or None for dense."""
    def add(m):
        return None if m is None else np.asarray(m, dtype=bool)[None]
    return simulate_layer_batch(arch, layer, add(in_mask), add(out_mask), add(computed_mask), zap=zap, batch=batch)


def _one_image(arch, layer: TraceLayer, innz, outnz, comp, zap: bool, batch: int) -> dict[str, float]:
    M, E, F = layer.out_shape
    in_mode = engine.IN_MODES[arch.sparsity.zero_inputs]
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
        gate_out = arch.sparsity.zap_outputs == "gate"
        if arch.is_systolic and arch.systolic.zap_granularity == "gate":
            gate_out = True
        sched_c = _broadcast(~i_s, M) if gate_out else real_c
        final_out = outnz_full & comp
    else:
        final_out = outnz_full

    r: dict[str, float] = {}
    if arch.dataflow == "row_stationary":
        m = rs_mapping(arch, layer)
        n_chunks, chunk_of = m.n_chunks, m.chunk_of_channel()
        pre = rs_input_prefix(m, innz if in_mode != 0 else None)
        if zap:
            pa = rs_run_phase(m, pre, sched_a, sched_a, in_mode, mpc)
            pc = rs_run_phase(m, pre, sched_c, real_c, in_mode, mpc)
            cnt = pa.counters + pc.counters
            phases = [(pa.pass_cycles, pa.pass_chunk_lo, pa.pass_chunk), (pc.pass_cycles, pc.pass_chunk_lo, pc.pass_chunk)]
        else:
            pd = rs_run_phase(m, pre, ones, ones, in_mode, mpc)
            cnt = pd.counters
            phases = [(pd.pass_cycles, pd.pass_chunk_lo, pd.pass_chunk)]
        c = dict(zip(engine.RS_COUNTERS, cnt))
        actual, gated = c["actual"], c["gated"]
        busy_pe, gated_pe = c["busy_pe"], c["gated_pe"]
        noc_i, noc_w, noc_po, noc_pi, noc_hop = (c["noc_ifmap"], c["noc_weight"], c["noc_psum_out"],
                                                c["noc_psum_in"], c["noc_psum_hop"])
    else:
        m = sys_mapping(arch, layer)
        n_chunks, chunk_of = m.n_chunks, m.chunk_of_channel()
        gran = GRANULARITY[arch.systolic.zap_granularity]
        npx = E * F
        rfnz = None
        if in_mode != 0:
            L = layer
            rfnz = engine.rf_nonzeros(innz, L.kernel[0], L.kernel[1], E, F, L.stride[0], L.stride[1],
                                      L.padding[0], L.padding[1], L.groups)

        def macs_of(real):
            if rfnz is None:
                return float(K * int(real.sum()))
            return float(engine.masked_rf_sum(np.ascontiguousarray(real), rfnz, layer.groups))

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
        zm = zap_macs_per_chunk(arch, layer, outnz_full, i_s, chunk_of, n_chunks)
        zmacs = float(zm.sum())
        dedicated = arch.zap_unit.placement == "dedicated"
        zc = -(-zm // arch.zap_unit.macs_per_cycle) if dedicated else np.zeros(n_chunks, dtype=np.int64)
        array_z = 0 if dedicated else math.ceil(zmacs / (arch.num_pes * mpc))
        (a_c, a_lo, a_k), (c_c, _, c_k) = phases
        total, a_sum, z_sum, c_sum = engine.combine_phases(a_c, a_lo, a_k, a_c.size, zc.astype(np.int64), c_c, c_k,
                                                           c_c.size, dedicated, array_z)
        compute = float(total)
        ph = {"A": float(a_sum), "Z": float(z_sum), "C": float(c_sum)}
    else:
        compute = float(phases[0][0].sum())
        ph = {"A": compute, "Z": 0.0, "C": 0.0}
    if arch.is_systolic and arch.systolic.scalesim_off_by_one and compute > 0:
        compute -= 1
        ph["A"] -= 1
    ph["overlap"] = ph["A"] + ph["Z"] + ph["C"] - compute

    # ---- memory
    tr = memory.dram_traffic(arch, layer, innz, final_out, batch)
    n_is = int(i_s.sum()) if zap else 0
    glb_read = {"ifmap": noc_i, "weight": noc_w, "psum": noc_pi + tr["glb_drain"]["psum"]}
    glb_write = {"ifmap": tr["glb_fill"]["ifmap"], "weight": tr["glb_fill"]["weight"], "psum": noc_po}
    zap_glb = float(M * n_is)
    dram_total = sum(tr["dram"].values())
    glb_total = sum(glb_read.values()) + sum(glb_write.values()) + zap_glb
    stall = memory.stall_cycles(arch, compute, dram_total, glb_total, noc_i + noc_w + noc_po + noc_pi)
    cycles = compute + stall

    r["cycles"] = cycles
    r["compute_cycles"] = compute
    r["stall_cycles"] = stall
    for p, v in ph.items():
        r["phase_" + p] = v
    pes = arch.num_pes
    r["pe_busy"] = busy_pe
    r["pe_gated"] = gated_pe
    r["pe_stalled"] = stall * pes
    r["pe_idle"] = pes * cycles - busy_pe - gated_pe - stall * pes
    r["mac_algorithmic"] = float(layer.macs)
    r["mac_actual"] = actual
    r["mac_gated"] = gated
    r["mac_skipped"] = float(layer.macs) - actual - gated
    r["mac_zap"] = zmacs
    r["actual"] = actual
    # ---- accesses (words)
    spad = {"ifmap": actual + gated + noc_i, "weight": actual + noc_w, "psum": 2 * actual}
    noc = {"ifmap": noc_i, "weight": noc_w, "psum": noc_po + noc_pi + noc_hop}
    for t in ACC_TENSORS:
        r[f"acc:dram:{t}"] = tr["dram"][t]
        r[f"acc:glb:{t}"] = glb_read[t] + glb_write[t]
        r[f"acc:noc:{t}"] = noc[t]
        r[f"acc:spad:{t}"] = spad[t]
    # ---- actions for energy
    acts = {
        "ifmap": {"spad_read": actual + gated, "spad_write": noc_i, "noc_word": noc_i, "glb_read": glb_read["ifmap"],
                  "glb_write": glb_write["ifmap"], "dram_read": tr["dram"]["ifmap"]},
        "weight": {"spad_read": actual, "spad_write": noc_w, "noc_word": noc_w, "glb_read": glb_read["weight"],
                   "glb_write": glb_write["weight"], "dram_read": tr["dram"]["weight"]},
        "psum": {"mac": actual, "mac_gated": gated, "spad_read": actual, "spad_write": actual,
                 "noc_word": noc["psum"], "glb_read": glb_read["psum"], "glb_write": glb_write["psum"],
                 "dram_write": tr["dram"]["psum"], "leakage_cycle": cycles},
        "zap": {"zap_mac": zmacs,
                "zap_buffer_access": (zmacs + M * (n_is + E * F + (E * F - n_is))) if zap else 0.0,
                "glb_read": zap_glb},
    }
    for t, d in acts.items():
        for a, v in d.items():
            r[f"act:{t}:{a}"] = float(v)
    return r


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
             batch: int = 1) -> dict:
    """Run a workload (dense, ``trace=None``) or a trace's operating points; return the result JSON.

    With a trace, ``layers`` should be ``trace.layers``; each requested op
    (default all) runs over the first ``images`` images (default all) and
    the trace's 'dense' op always runs as the baseline.
    """
    from ..sim.arch import arch_to_dict

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
    total_steps = len(runs) * len(layers)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, desc="simulate", unit="layer", file=sys.stderr, leave=False)
    results = []
    try:
        for op_id, label, kind, thresholds, accuracy in runs:
            stats = []
            for li, layer in enumerate(layers):
                if trace is None:
                    s = simulate_layer_batch(arch, layer, None, None, None, zap=False, batch=batch)
                else:
                    use_zap = kind != "dense" and layer.zap is not None
                    in_m = trace.mask(op_id, li, "in")[:n_img]
                    out_m = trace.mask(op_id, li, "out")[:n_img]
                    comp = trace.mask(op_id, li, "computed")[:n_img] if use_zap else None
                    s = simulate_layer_batch(arch, layer, in_m, out_m, comp, zap=use_zap, batch=batch)
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
    return {"schema": "zapsim-results", "schema_version": 1, "zapsim_version": __version__,
            "arch": arch_to_dict(arch), "workload": workload, "baseline": "dense", "operating_points": results}
