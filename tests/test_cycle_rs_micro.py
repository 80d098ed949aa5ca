"""Hand-worked micro-cases of the row-stationary cycle engine: every cycle count below is derived in the comments.

Conventions (``zapsim/sim/cycle/fifo.py``): a word leaving the bus in
cycle t enters the FIFO and moves to the scratchpad in t+1 at the
earliest; an output starts the cycle after its last window word entered
the scratchpad; a psum leaves ``depth - 1`` cycles after the output's
last MAC cycle; a drain word sent in cycle t completes at t+1.
"""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.errors import ZapsimError
from zapsim.sim.arch import arch_from_dict
from zapsim.sim.cycle import control, dram, zap_unit
from zapsim.sim.cycle import row_stationary as crs
from zapsim.trace_format import make_layer


def _arch(**sec):
    d = {"name": "micro", "pe_array": {"rows": 1, "cols": 1, "macs_per_cycle": 1, "ifmap_spad_words": 12,
                                       "weight_spad_words": 3, "psum_spad_words": 1, "mac_pipeline_depth": 2,
                                       "ifmap_fifo_words": 1},
         "noc": {"ifmap_bus_words_per_cycle": 1, "filter_bus_words_per_cycle": 1, "psum_bus_words_per_cycle": 1,
                 "psum_hop_cycles": 1},
         "global_buffer": {"banks": 1, "ports_per_bank": 1}, "dram": {"zero_compression": False}}
    for k, v in sec.items():
        d.setdefault(k, {}).update(v)
    return arch_from_dict(d)


def _layer_cycles(arch, layer):
    x = crs.layer_inputs(arch, layer, None, None, None, False, 1)
    return crs.run_batch(arch, x, 0, 1, False)


def test_one_pe_row_primitive():
    # 1 PE, one 1x3 filter over a 1x5 ifmap row: F = 3 outputs of 3 MACs.
    # filter reload: 3 words over a 1-word bus: cycles 0-2, the ifmap starts at t0 = 3.
    # bus word n leaves in cycle 3+n (1 word/cycle; the 1-deep FIFO passes each on the next cycle), enters the
    # scratchpad in 4+n.  x0 needs words 0-2: starts 7, done 10; x1 needs word 3 (in at 7): starts 10, done 13;
    # x2: 13 -> 16.  Psums ready at done + 1 (2-stage MAC): 11, 14, 17; each 1 word on the drain bus: 12, 15, 18.
    layer = make_layer("row", 1, 1, 5, 1, kernel=(1, 3))
    r = _layer_cycles(_arch(), layer)
    assert r[0] == 18 and r[4] == 3  # layer cycles, filter words delivered


@pytest.mark.parametrize("spad,expected", [(3, 32), (6, 30)])
def test_pass_then_filter_reload_over_a_bus_of_known_width(spad, expected):
    # 2 filters, psum_spad 1 -> p = 1: two filter groups, one slot: two passes, each a reload of 3 words over
    # a 2-word filter bus (2 cycles) and the row primitive above.
    # pass 1: reload 0-1, t0 = 2; word n on the bus at 2+n, in the spad at 3+n; outputs done 9, 12, 15;
    #   psums ready 10, 13, 16, drained 11, 14, 17.
    # weight_spad 3 (one set): the reload of pass 2 waits for pass 1's PE (15), takes 15-16, t0 = 17:
    #   outputs done 24, 27, 30, drained 26, 29, 32 -> 32.
    # weight_spad 6 (two sets, double-buffered): the reload runs at 2-3 under pass 1; t0 = 15:
    #   drained 24, 27, 30 -> 30.  The reload costs exactly its 2 bus cycles when it cannot be hidden.
    layer = make_layer("two", 1, 1, 5, 2, kernel=(1, 3))
    arch = _arch(pe_array={"weight_spad_words": spad}, noc={"filter_bus_words_per_cycle": 2})
    assert _layer_cycles(arch, layer)[0] == expected


def _subpass(arch, layer, costs=None, t0=0):
    """Run one sub-pass of the first pass directly; returns (PE end, done array)."""
    x = crs.layer_inputs(arch, layer, None, None, None, False, 1)
    m, prm, geo = x["m"], crs.params(arch), x["m"].geometry()
    F, n_pes = m.F, arch.num_pes
    items = np.zeros((m.n_items, 5), dtype=np.int64)
    n_it = control.enumerate_items(x["ncs_dense"], geo, False, items)
    z = lambda *s: np.zeros(s, dtype=np.int64)  # noqa: E731
    need, free, cost, nw, pe_row = z(n_pes, F), z(n_pes, F), z(n_pes, F), z(n_pes), z(n_pes)
    slot_info = z(m.nslots, 11)
    npe, ns = control.build_pass(items, 0, min(m.nslots, n_it), x["ncs_dense"], x["pre"][0], 0, geo, x["conv"], prm,
                                 False, x["i_t"], need, free, cost, nw, pe_row, slot_info, z(F), z(F))
    if costs is not None:
        cost[:npe] = costs
    done = z(n_pes, F)
    pe_end, _ = control.subpass(npe, ns, F, need, free, cost, nw, pe_row, slot_info, x["ncs_dense"], geo, x["conv"],
                                prm, t0, z(n_pes, max(1, x["max_words"])), done, z(n_pes), z(n_pes),
                                z(int(prm[control.P_BI])), z(arch.global_buffer.banks), z(arch.global_buffer.banks),
                                z(n_pes * F), z(n_pes * F), z(F), z(2))
    return pe_end, done[:npe]


@pytest.mark.parametrize("depth,fast_end,slow_end", [(0, 14, 16), (1, 12, 17), (2, 9, 17)])
def test_multicast_to_a_set_with_one_slow_pe(depth, fast_end, slow_end):
    # A 2x2 logical set (R = 2 filter rows, E = 2 output rows) on a 1-row ifmap with padding 1: PE (y0, r1) and
    # PE (y1, r0) read ifmap row 0 (the other two PEs see padding).  Every word is multicast to both.  Kernel
    # width 1, 4 outputs, ifmap scratchpad of 1 word: word n enters a PE only once its output n-1 is done.
    # Costs forced to 1 cycle per output for the fast PE, 3 for the slow one.  Bus 1 word/cycle.
    # depth 0: the word goes bus -> scratchpad when both can take it: cycles 0, 4, 8, 12; each PE starts the
    #   next cycle: fast done 2, 6, 10, 14; slow done 4, 8, 12, 16.
    # depth 1: word n leaves when both FIFOs passed word n-1 on: cycles 0, 1, 5, 9 (the slow PE's scratchpad
    #   takes its words at 1, 5, 9, 13; outputs done 5, 9, 13, 17); the fast PE takes them at 1, 3, 6, 10:
    #   done 3, 5, 8, 12.
    # depth 2: the fast PE is never held: words at 0, 1, 2, 5; it takes them at 1, 3, 5, 7: done 3, 5, 7, 9;
    #   the slow PE as with depth 1: 17.
    layer = make_layer("mc", 1, 1, 4, 1, kernel=(2, 1), padding=(1, 0))
    arch = _arch(pe_array={"rows": 2, "cols": 2, "ifmap_spad_words": 1, "ifmap_fifo_words": depth})
    costs = np.array([[0] * 4, [1] * 4, [3] * 4, [0] * 4])  # PEs (y0,r0) pad, (y0,r1) fast, (y1,r0) slow, (y1,r1) pad
    pe_end, done = _subpass(arch, layer, costs)
    assert done[1, -1] == fast_end and done[2, -1] == slow_end and pe_end == slow_end


@pytest.mark.parametrize("banks,ports,end", [(2, 1, 13), (1, 1, 16), (1, 2, 13)])
def test_glb_bank_conflict(banks, ports, end):
    # Two PEs (one column each) read ifmap rows 0 and 1 of a 2x5 map (kernel 1x3, 3 outputs of 3 MACs each).
    # Bus 2 words/cycle in the order (column w, row 0), (w, row 1); addresses h*5 + w.
    # 2 banks: the two words of a column sit in banks of different parity -> both leave in cycle w; each PE's
    #   word w reaches its scratchpad at w+1; x0 starts at 4 (word 2 in at 3), done 7, then 10, 13.
    # 1 bank, 1 port: one word per cycle: row 0's word w at 2w, row 1's at 2w+1; PE 1's word 2 in at 6 ->
    #   done 10, its word 3 in at 8 -> 13, word 4 in at 10 -> 16.  The conflict costs 3 cycles.
    # 1 bank with 2 ports: as 2 banks.
    layer = make_layer("bank", 1, 2, 5, 1, kernel=(1, 3))
    arch = _arch(pe_array={"rows": 1, "cols": 2, "ifmap_fifo_words": 4}, noc={"ifmap_bus_words_per_cycle": 2},
                 global_buffer={"banks": banks, "ports_per_bank": ports})
    assert _subpass(arch, layer)[0] == end


def test_dram_bound_tile():
    # 4x8x8 -> 4 filters 3x3, pad 1, 16-bit words: reads (256 ifmap + 144 weights) * 2 B = 800 B, ofmap write
    # 512 B; everything fits the GLB (1 memory tile).  DRAM 2 B/cycle, 40-cycle latency, 64-byte bursts.
    # timed in 4 steps (4 passes): a step moves 1312/4 = 328 B = 6 bursts: 40 + 6*64/2 = 232 cycles; the last
    # step's ofmap write 128 B = 2 bursts: 40 + 64 = 104.  Compute 100 cycles = 25 per step, double-buffered:
    # 232 + 3*max(25, 232) + 25 + 104 = 1057 cycles -> 957 cycles of stall beyond the compute.
    # Not double-buffered: 4*(232 + 25) + 104 = 1132 -> 1032.
    layer = make_layer("d", 4, 8, 8, 4, kernel=3, padding=1)
    core = {"compute": np.array([100.0]), "dram_in": np.array([256.0]), "dram_out": np.array([256.0]),
            "noc_w": np.array([144.0])}
    for dbl, stall in ((True, 957.0), (False, 1032.0)):
        arch = _arch(dram={"bandwidth_bytes_per_cycle": 2.0, "latency_cycles": 40, "burst_bytes": 64},
                     global_buffer={"double_buffer": dbl})
        assert dram.layer_dram_stall(arch, layer, core, 1, steps=4)[0] == pytest.approx(stall)


def test_zap_unit_buffer_refused_with_a_clear_message():
    layer = make_layer("wide", 4, 8, 100, 4, kernel=3, padding=1, zap_pattern="checkerboard")
    arch = _arch(zap_unit={"buffer_words": 500})  # needs 6*100 + 24 = 624
    with pytest.raises(ZapsimError, match=r"zap_unit.buffer_words = 500: layer 'wide'.*needs 624 words"):
        zap_unit.check_buffer(arch, layer)
