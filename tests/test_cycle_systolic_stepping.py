"""The cycle engine's systolic array: the event-driven model equals the per-cycle stepping of its PE registers.

``zapsim.sim.cycle.systolic_array`` (Numba, jumps over spans where no port limits the wavefront) and
``zapsim.sim.cycle.systolic_stepping`` (plain Python: every PE's registers advanced per clock, edge ports
moving at most their width per cycle, MACs counted from the very output and input each PE touches) are two
implementations of one model.  An implementation check, not a validation: they must agree on every counter
on random small layers, masks, arrays, port widths, fold pipelining, ZAP placements and granularities.
"""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict
from zapsim.sim.cycle.systolic_array import systolic_layer
from zapsim.sim.cycle.systolic_stepping import stepping_layer
from zapsim.trace_format import make_layer

KEYS = ("compute", "A", "Z", "C", "actual", "gated", "zmacs", "sram_ifmap_reads", "sram_filter_reads",
        "sram_psum_writes", "sram_psum_reads", "preload_cycles", "port_stall_cycles")
DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")


def _case(rng):
    df = DATAFLOWS[rng.integers(3)]
    g = int(rng.choice([1, 1, 2]))
    k = int(rng.choice([1, 3]))
    zap = bool(rng.integers(2))
    layer = make_layer("r", g * int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(2, 6)),
                       g * int(rng.integers(1, 7)), kernel=k, stride=1, padding=k // 2, groups=g,
                       zap_pattern="checkerboard" if zap else None)
    rows, cols = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    sysk = {"zap_granularity": str(rng.choice(["gate", "row", "compact"])),
            "fold_pipelining": str(rng.choice(["off", "on"]))}
    for key, side in (("row_edge_words_per_cycle", rows), ("col_edge_words_per_cycle", cols),
                      ("out_edge_words_per_cycle", cols), ("preload_words_per_cycle", cols)):
        if rng.random() < 0.5:  # else null: the array's side, never a stall
            sysk[key] = int(rng.integers(1, side + 2))
    arch = arch_from_dict({
        "name": "rand", "dataflow": df, "pe_array": {"rows": rows, "cols": cols},
        "global_buffer": {"size_bytes": 1 << 20}, "systolic": sysk,
        "sparsity": {"zero_inputs": str(rng.choice(["ignore", "gate", "skip"])),
                     "zap_outputs": str(rng.choice(["skip", "gate"]))},
        "zap_unit": {"placement": str(rng.choice(["dedicated", "array"])), "macs_per_cycle": int(rng.integers(1, 40))}})
    dense = rng.random() < 0.25  # no masks at all: only padding is a zero input
    inm = None if dense else rng.random(layer.in_shape) < 0.6
    outm = None if dense else rng.random(layer.out_shape) < 0.5
    comp = None if (dense or not zap) else rng.random(layer.out_shape) < 0.4
    return arch, layer, inm, outm, comp, zap


@pytest.mark.parametrize("seed", range(4))
def test_event_model_equals_per_cycle_stepping(seed):
    rng = np.random.default_rng(1000 + seed)
    seen = {"stall": 0, "pipelined": 0, "zap": 0, "preload": 0}
    for _ in range(40):  # 4 x 40 = 160 cases
        arch, layer, inm, outm, comp, zap = _case(rng)
        ev = systolic_layer(arch, layer, None if inm is None else inm[None], None if outm is None else outm[None],
                            None if comp is None else comp[None], zap=zap)
        st = stepping_layer(arch, layer, inm, outm, comp, zap=zap)
        got = {k: ev[k][0] for k in KEYS}
        assert got == {k: st[k] for k in KEYS}, (arch.dataflow, arch.pe_array, arch.systolic, layer)
        seen["stall"] += st["port_stall_cycles"] > 0
        seen["pipelined"] += arch.systolic.fold_pipelining == "on"
        seen["zap"] += zap
        seen["preload"] += st["preload_cycles"] > 0
    # the random cases exercise what they are meant to (back-pressure, pipelining, phases, preloads)
    assert all(v >= 5 for v in seen.values()), seen


def test_forced_stepping_path_equals_the_jump():
    # the event model's jump (a fold whose words fit every port is rows + cols + T - 2 cycles) against its own
    # step-by-step path on the same folds
    rng = np.random.default_rng(7)
    for _ in range(40):
        arch, layer, inm, outm, comp, zap = _case(rng)
        args = (arch, layer, None if inm is None else inm[None], None if outm is None else outm[None],
                None if comp is None else comp[None])
        a = systolic_layer(*args, zap=zap)
        b = systolic_layer(*args, zap=zap, force_steps=True)
        assert {k: a[k][0] for k in KEYS} == {k: b[k][0] for k in KEYS}
