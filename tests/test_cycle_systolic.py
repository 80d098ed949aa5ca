"""The cycle engine's systolic array against SCALE-Sim's closed form, and hand-worked cycle counts of its parts.

Validation (external numbers): dense layers, fold pipelining off, SCALE-Sim's off-by-one on, give SCALE-Sim's
compute cycles (accelerator-model.md section 4: os folds*(rows+cols+T-2)-1; ws / is folds*(2*rows+cols+T-2)-1,
folds = ceil(Sr/rows)*ceil(Sc/cols); os: Sr=Npx, Sc=N, T=K; ws: Sr=K, Sc=N, T=Npx; is: Sr=K, Sc=Npx, T=N) on
the hand-derived layers of tests/test_sim_systolic.py and on 240 random layer / array / dataflow cases.
Implementation check: the SRAM reads of ifmap and filter equal the analytical engine's.  The rest are small
cases whose cycles are worked out by hand in the comments: fold pipelining, a narrow edge port, a narrow
preload port, the ZAP's phases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from zapsim.errors import ConfigError
from zapsim.sim.arch import arch_from_dict
from zapsim.sim.cycle.systolic_array import systolic_layer
from zapsim.sim.simulate import simulate_layer
from zapsim.trace_format import make_layer

FAST_MEM = {"global_buffer": {"size_bytes": 1 << 24, "bandwidth_words_per_cycle": 1e9},
            "noc": {"bandwidth_words_per_cycle": 1e9}, "dram": {"bandwidth_bytes_per_cycle": 1e9}}
DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")


def systolic(df: str, rows: int, cols: int, **sysk) -> object:
    return arch_from_dict({"name": f"{df}-{rows}x{cols}", "dataflow": df, "pe_array": {"rows": rows, "cols": cols},
                           **FAST_MEM, "systolic": sysk})


def cycle(arch, layer, in_mask=None, out_mask=None, comp=None):
    return simulate_layer(arch, layer, in_mask, out_mask, comp, engine="cycle")


def scalesim_closed_form(df: str, rows: int, cols: int, layer) -> int:
    """SCALE-Sim's compute cycles, written out from accelerator-model.md (per group GEMM, trailing -1 once)."""
    K = layer.kernel[0] * layer.kernel[1] * (layer.c_in // layer.groups)
    N = layer.c_out // layer.groups
    npx = layer.h_out * layer.w_out
    sr, sc, t = {"output_stationary": (npx, N, K), "weight_stationary": (K, N, npx),
                 "input_stationary": (K, npx, N)}[df]
    per_fold = (rows if df == "output_stationary" else 2 * rows) + cols + t - 2
    return layer.groups * math.ceil(sr / rows) * math.ceil(sc / cols) * per_fold - 1


STRIDE2 = make_layer("s2", 3, 9, 9, 8, kernel=3, stride=2, padding=0)  # K = 27, N = 8, Npx = 16
ONE_BY_ONE = make_layer("pw", 16, 5, 5, 10, kernel=1)  # K = 16, N = 10, Npx = 25
FC = make_layer("fc", 100, 1, 1, 10, kernel=1, kind="fc", relu=False)  # K = 100, N = 10, Npx = 1
HAND = [  # tests/test_sim_systolic.py's hand-derived cases (without the -1)
    ("output_stationary", 4, 4, STRIDE2, 264),  # 8 folds * (4+4+27-2 = 33)
    ("weight_stationary", 4, 4, STRIDE2, 364),  # 14 folds * (8+4+16-2 = 26)
    ("input_stationary", 4, 4, STRIDE2, 504),  # 28 folds * (8+4+8-2 = 18)
    ("output_stationary", 4, 8, ONE_BY_ONE, 364),  # 14 * (4+8+16-2 = 26)
    ("weight_stationary", 4, 8, ONE_BY_ONE, 312),  # 8 * (8+8+25-2 = 39)
    ("input_stationary", 4, 8, ONE_BY_ONE, 384),  # 16 * (8+8+10-2 = 24)
    ("output_stationary", 8, 8, FC, 228),  # 2 * (8+8+100-2 = 114)
    ("weight_stationary", 8, 8, FC, 598),  # 26 * (16+8+1-2 = 23)
    ("input_stationary", 8, 8, FC, 416),  # 13 * (16+8+10-2 = 32)
]


@pytest.mark.parametrize("df,rows,cols,layer,expected", HAND, ids=[f"{c[0][:2]}-{c[3].name}" for c in HAND])
def test_hand_derived_layers_equal_scalesim(df, rows, cols, layer, expected):
    s = cycle(systolic(df, rows, cols, scalesim_off_by_one=True), layer)
    assert s["compute_cycles"][0] == expected - 1 == scalesim_closed_form(df, rows, cols, layer)
    assert s["mac_actual"][0] == layer.macs and s["mac_gated"][0] == 0
    off = cycle(systolic(df, rows, cols), layer)  # the default: the closed form without the -1
    assert off["compute_cycles"][0] == expected


def test_random_dense_layers_equal_scalesim_and_read_what_the_analytical_engine_reads():
    rng = np.random.default_rng(2026)
    for _ in range(240):
        df = DATAFLOWS[rng.integers(3)]
        g = int(rng.choice([1, 1, 1, 2, 4]))
        k = int(rng.choice([1, 3, 5, 7]))
        h = int(rng.integers(k, 20))
        layer = make_layer("r", g * int(rng.integers(1, 12)), h, int(rng.integers(k, 20)),
                           g * int(rng.integers(1, 24)), kernel=k, stride=int(rng.integers(1, 4)),
                           padding=int(rng.integers(0, k // 2 + 1)), groups=g)
        rows, cols = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        arch = systolic(df, rows, cols, scalesim_off_by_one=True)
        s = cycle(arch, layer)
        assert s["compute_cycles"][0] == scalesim_closed_form(df, rows, cols, layer), (df, rows, cols, layer)
        a = simulate_layer(arch, layer, None, None, None, engine="analytical")
        for t in ("ifmap", "weight"):
            assert s[f"acc:noc:{t}"][0] == a[f"acc:noc:{t}"][0], (t, df, rows, cols, layer)
        core = systolic_layer(arch, layer, None, None, None, zap=False)
        assert core["sram_ifmap_reads"][0] == a["acc:noc:ifmap"][0]
        assert core["sram_filter_reads"][0] == a["acc:noc:weight"][0]


# ws on a 2 x 2 array, 1x1 conv 4 -> 2 channels on a 3x3 map: K = 4 (two K folds of 2 rows), N = 2 (one filter
# fold), T = 9 pixels streamed.  Pipelining off: each fold preloads its 2 x 2 tile (2 cycles, a row per cycle)
# and runs its wavefront (2 + 2 + 9 - 2 = 11): 13 per fold, 26 in all.
WS_SMALL = make_layer("ws", 4, 3, 3, 2, kernel=1)


def test_fold_pipelining_on_hand_derived():
    assert cycle(systolic("weight_stationary", 2, 2), WS_SMALL)["compute_cycles"][0] == 26
    # on: fold 0 preloads in cycles 0-1 and its pixels enter row 0 in cycles 2..10; its swap wave leaves
    # PE (1, 1) in step 2 (cycle 4), so fold 1's tile shifts into the shadow registers in cycles 5-6; fold 1's
    # pixels enter row 0 right behind fold 0's, from cycle 11, and its last psum leaves PE (1, 1) after
    # 2 + 2 + 9 - 2 = 11 steps: cycle 21, so 22 cycles (4 saved: fold 1's preload and fold 0's drain).
    on = systolic("weight_stationary", 2, 2, fold_pipelining="on")
    assert cycle(on, WS_SMALL)["compute_cycles"][0] == 22
    # with one pixel (T = 1) the shadow preload cannot start before fold 0's swap wave left (cycle 5) and
    # takes 2 cycles, so fold 1 starts at cycle 7 and ends at 7 + (2 + 2 + 1 - 2) = 10: what pipelining off
    # takes too (2 x (2 + 3)), nothing is saved
    fc = make_layer("fc", 4, 1, 1, 2, kernel=1, kind="fc", relu=False)
    assert cycle(on, fc)["compute_cycles"][0] == cycle(systolic("weight_stationary", 2, 2), fc)["compute_cycles"][0] == 10
    # os on a 2 x 2 array, 1x1 conv 3 -> 2 on a 2x2 map: K = 3 streamed, 4 pixels = 2 row folds.  Off: 2 x
    # (2 + 2 + 3 - 2) = 10.  On: fold 1's operands enter 3 steps after fold 0's: 3 + 5 = 8.
    os_layer = make_layer("os", 3, 2, 2, 2, kernel=1)
    assert cycle(systolic("output_stationary", 2, 2), os_layer)["compute_cycles"][0] == 10
    assert cycle(systolic("output_stationary", 2, 2, fold_pipelining="on"), os_layer)["compute_cycles"][0] == 8


def test_narrow_ports_back_pressure_the_wavefront():
    # WS_SMALL with a 1-word left-edge port: in steps 1..8 both rows take a pixel word (step 0 and step 9
    # only one), so those 8 steps last 2 cycles: 13 + 8 = 21 per fold
    s = cycle(systolic("weight_stationary", 2, 2, row_edge_words_per_cycle=1), WS_SMALL)
    assert s["compute_cycles"][0] == 2 * 21
    core = systolic_layer(systolic("weight_stationary", 2, 2, row_edge_words_per_cycle=1), WS_SMALL, None, None,
                          None, zap=False)
    assert core["port_stall_cycles"][0] == 16
    # a 1-word preload port: each data row of the 2 x 2 tile takes 2 cycles: preload 4 instead of 2 per fold
    s = cycle(systolic("weight_stationary", 2, 2, preload_words_per_cycle=1), WS_SMALL)
    assert s["compute_cycles"][0] == 2 * (4 + 11)
    # the second K fold reads its psums back through the top edge: with a 1-word port, fold 1's steps 1..8
    # (two columns taking a psum) last 2 cycles: 13 + (13 + 8)
    s = cycle(systolic("weight_stationary", 2, 2, col_edge_words_per_cycle=1), WS_SMALL)
    assert s["compute_cycles"][0] == 13 + 21


def _zap_layer():
    return make_layer("z", 4, 4, 4, 4, kernel=1, zap_pattern="checkerboard")  # |I_s| = |I_t| = 8 pixels


@pytest.mark.parametrize("gran,expected_c", [("gate", 8), ("row", 3), ("compact", 3)])
def test_zap_phases_on_the_cycle_engine(gran, expected_c):
    # ws 4 x 4 array: K = 4 (one K fold), N = 4 (one filter fold): a fold is 4 (preload) + 4 + 4 + T - 2 =
    # 10 + T.  Phase A streams the 8 I_s pixels (18); phase C 3 of the 8 I_t pixels (gate streams all 8).
    layer = _zap_layer()
    i_s = layer.zap.computed_first(4, 4)
    comp = np.repeat(i_s[None], 4, axis=0)
    for y, x in [(0, 1), (1, 0), (2, 3)]:
        comp[:, y, x] = True
    arch = arch_from_dict({"name": "z", "dataflow": "weight_stationary", "pe_array": {"rows": 4, "cols": 4},
                           **FAST_MEM, "systolic": {"zap_granularity": gran}, "zap_unit": {"macs_per_cycle": 1}})
    s = simulate_layer(arch, layer, None, None, comp, engine="cycle")
    assert s["phase_A"][0] == 18 and s["phase_C"][0] == 10 + expected_c
    # the dedicated unit at 1 MAC/cycle scores the layer's one chunk (its filter fold).  Its MACs:
    # conv 1 on a 4x4 checkerboard I_s: per channel the taps of (0,0) 4, (0,2) 6, (1,1) 9, (1,3) 6, (2,0) 6,
    # (2,2) 9, (3,1) 6, (3,3) 4 = 50; conv 2: 9 per I_t position = 72; 4 channels: 4 * 122 = 488
    assert s["mac_zap"][0] == 488
    # Z starts when phase A's only chunk is final (cycle 18) and lasts 488 cycles; C waits for it
    assert s["phase_Z"][0] == 488 and s["compute_cycles"][0] == 18 + 488 + 10 + expected_c
    on_array = arch_from_dict({"name": "z", "dataflow": "weight_stationary", "pe_array": {"rows": 4, "cols": 4},
                               **FAST_MEM, "systolic": {"zap_granularity": gran}, "zap_unit": {"placement": "array"}})
    s = simulate_layer(on_array, layer, None, None, comp, engine="cycle")
    # the ZAP on the 16 PEs: ceil(488 / 16) = 31 cycles between A and C
    assert s["phase_Z"][0] == 31 and s["compute_cycles"][0] == 18 + 31 + 10 + expected_c


def test_pipelining_needs_a_shadow_register():
    with pytest.raises(ConfigError, match=r"pe_array.weight_spad_words = 1: systolic.fold_pipelining: on needs"):
        arch_from_dict({"dataflow": "weight_stationary", "pe_array": {"rows": 4, "cols": 4, "weight_spad_words": 1},
                        "systolic": {"fold_pipelining": "on"}})
    with pytest.raises(ConfigError, match=r"pe_array.ifmap_spad_words = 1"):
        arch_from_dict({"dataflow": "input_stationary", "pe_array": {"rows": 4, "cols": 4, "ifmap_spad_words": 1},
                        "systolic": {"fold_pipelining": "on"}})
