"""Systolic dataflows: dense compute cycles equal SCALE-Sim's closed form, hand-derived per layer.

Closed form (accelerator-model.md section 4): os: folds*(rows+cols+T-2);
ws / is: folds*(2*rows+cols+T-2); folds = ceil(Sr/rows)*ceil(Sc/cols);
os: Sr=Npx, Sc=N, T=K; ws: Sr=K, Sc=N, T=Npx; is: Sr=K, Sc=Npx, T=N.
Every expected number below is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict
from zapsim.sim.simulate import simulate_layer
from zapsim.trace_format import make_layer

FAST_MEM = {"global_buffer": {"size_bytes": 1 << 24, "bandwidth_words_per_cycle": 1e9},
            "noc": {"bandwidth_words_per_cycle": 1e9}, "dram": {"bandwidth_bytes_per_cycle": 1e9}}


def systolic(df: str, rows: int, cols: int, **extra) -> object:
    return arch_from_dict({"name": f"{df}-{rows}x{cols}", "dataflow": df, "pe_array": {"rows": rows, "cols": cols},
                           **FAST_MEM, **extra})


# stride-2 conv: 3x9x9 input, 3x3 kernel, stride 2, no padding -> 8x4x4; K = 27, N = 8, Npx = 16
STRIDE2 = make_layer("s2", 3, 9, 9, 8, kernel=3, stride=2, padding=0)
# 1x1 conv: 16x5x5 -> 10x5x5; K = 16, N = 10, Npx = 25
ONE_BY_ONE = make_layer("pw", 16, 5, 5, 10, kernel=1)
# fully connected 100 -> 10 (a 1x1 conv on a 1x1 map); K = 100, N = 10, Npx = 1
FC = make_layer("fc", 100, 1, 1, 10, kernel=1, kind="fc", relu=False)

CASES = [
    # 4x4 array, STRIDE2
    ("output_stationary", 4, 4, STRIDE2, 264),  # ceil(16/4)*ceil(8/4) = 8 folds * (4+4+27-2 = 33)
    ("weight_stationary", 4, 4, STRIDE2, 364),  # ceil(27/4)*ceil(8/4) = 14 folds * (8+4+16-2 = 26)
    ("input_stationary", 4, 4, STRIDE2, 504),  # ceil(27/4)*ceil(16/4) = 28 folds * (8+4+8-2 = 18)
    # 4 rows x 8 cols, ONE_BY_ONE
    ("output_stationary", 4, 8, ONE_BY_ONE, 364),  # ceil(25/4)*ceil(10/8) = 14 * (4+8+16-2 = 26)
    ("weight_stationary", 4, 8, ONE_BY_ONE, 312),  # ceil(16/4)*ceil(10/8) = 8 * (8+8+25-2 = 39)
    ("input_stationary", 4, 8, ONE_BY_ONE, 384),  # ceil(16/4)*ceil(25/8) = 16 * (8+8+10-2 = 24)
    # 8x8, FC
    ("output_stationary", 8, 8, FC, 228),  # ceil(1/8)*ceil(10/8) = 2 * (8+8+100-2 = 114)
    ("weight_stationary", 8, 8, FC, 598),  # ceil(100/8)*ceil(10/8) = 26 * (16+8+1-2 = 23)
    ("input_stationary", 8, 8, FC, 416),  # ceil(100/8)*ceil(1/8) = 13 * (16+8+10-2 = 32)
]


@pytest.mark.parametrize("df,rows,cols,layer,expected", CASES, ids=[f"{c[0][:2]}-{c[3].name}" for c in CASES])
def test_dense_cycles_equal_scalesim_closed_form(df, rows, cols, layer, expected):
    s = simulate_layer(systolic(df, rows, cols), layer, None, None, None)
    assert s["compute_cycles"][0] == expected
    assert s.cycles[0] == expected  # no memory stall with unlimited bandwidth
    assert s["mac_actual"][0] == layer.macs and s["mac_gated"][0] == 0 and s["mac_skipped"][0] == 0


@pytest.mark.parametrize("df,rows,cols,layer,expected", CASES[:3])
def test_scalesim_off_by_one_option(df, rows, cols, layer, expected):
    s = simulate_layer(systolic(df, rows, cols, systolic={"scalesim_off_by_one": True}), layer, None, None, None)
    assert s["compute_cycles"][0] == expected - 1


def test_grouped_conv_is_one_gemm_per_group():
    # depthwise-like: 4 groups of 2 channels -> 2 filters each; K = 9*2 = 18, N = 2, Npx = 16 (4x4 out)
    layer = make_layer("grp", 8, 4, 4, 8, kernel=3, padding=1, groups=4)
    s = simulate_layer(systolic("output_stationary", 4, 4), layer, None, None, None)
    # per group: ceil(16/4)*ceil(2/4) = 4 folds * (4+4+18-2 = 24) = 96; 4 groups -> 384
    assert s["compute_cycles"][0] == 384


def _zap_layer():
    # 1x1 conv 4 -> 4 channels on a 4x4 map, checkerboard: |I_s| = |I_t| = 8 pixels
    return make_layer("z", 4, 4, 4, 4, kernel=1, zap_pattern="checkerboard")


def _mask_keep_pixels(layer, pixels):
    """Computed mask: I_s plus the given I_t pixels (all filters)."""
    i_s = layer.zap.computed_first(layer.h_out, layer.w_out)
    comp = np.repeat(i_s[None], layer.c_out, axis=0)
    for y, x in pixels:
        comp[:, y, x] = True
    return comp


@pytest.mark.parametrize("gran,expected_c", [("gate", 8), ("row", 3), ("compact", 3)])
def test_ws_granularity_hand_count(gran, expected_c):
    # ws on a 4x4 array: K = 4 (one k fold), N = 4 (one filter fold), fold = 2*4+4+T-2 = 10 + T.
    # Phase A streams the 8 I_s pixels: 18 cycles.  Phase C with 3 of the 8 I_t pixels computed:
    # gate streams all 8 (18 cycles), row and compact stream 3 (13 cycles).
    layer = _zap_layer()
    arch = systolic("weight_stationary", 4, 4, systolic={"zap_granularity": gran},
                    zap_unit={"macs_per_cycle": 1000})
    comp = _mask_keep_pixels(layer, [(0, 1), (1, 0), (2, 3)])
    s = simulate_layer(arch, layer, None, None, comp)
    assert s["phase_A"][0] == 18
    assert s["phase_C"][0] == 10 + expected_c
    assert s["mac_actual"][0] == 4 * 4 * (8 + 3)  # K * N * computed pixels
    if gran == "gate":
        assert s["mac_gated"][0] == 4 * 4 * 5 and s["mac_skipped"][0] == 0
    else:
        assert s["mac_gated"][0] == 0 and s["mac_skipped"][0] == 4 * 4 * 5


def test_ws_row_keeps_pixel_needed_by_one_filter_compact_does_not():
    # filter 0 computes I_t pixel (0,1); filter 1 computes (1,0) and (2,3): row keeps 3 pixels (any filter),
    # compact lets each column stream its own list: the longest has 2.
    layer = _zap_layer()
    i_s = layer.zap.computed_first(4, 4)
    comp = np.repeat(i_s[None], 4, axis=0)
    comp[0, 0, 1] = True
    comp[1, 1, 0] = True
    comp[1, 2, 3] = True
    res = {}
    for gran in ("row", "compact"):
        arch = systolic("weight_stationary", 4, 4, systolic={"zap_granularity": gran})
        res[gran] = simulate_layer(arch, layer, None, None, comp)
    assert res["row"]["phase_C"][0] == 10 + 3
    assert res["compact"]["phase_C"][0] == 10 + 2
    # row: 3 pixels x 4 filters scheduled, 3 computed -> 9 outputs gated (K = 4 MACs each)
    assert res["row"]["mac_gated"][0] == 9 * 4
    assert res["compact"]["mac_gated"][0] == 0


def test_engine_equals_closed_form_on_random_dense_layers():
    # Beyond the hand-derived cases: random shapes, strides, groups and arrays, engine
    # kernels against SysMapping.dense_cycles (the closed form written out directly).
    from zapsim.sim.systolic import sys_mapping

    rng = np.random.default_rng(11)
    for _ in range(60):
        df = ["output_stationary", "weight_stationary", "input_stationary"][rng.integers(3)]
        g = int(rng.choice([1, 1, 2]))
        k = int(rng.choice([1, 3, 5]))
        h = int(rng.integers(k, 14))
        layer = make_layer("r", g * int(rng.integers(1, 9)), h, int(rng.integers(k, 14)), g * int(rng.integers(1, 20)),
                           kernel=k, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, k // 2 + 1)), groups=g)
        arch = systolic(df, int(rng.integers(2, 17)), int(rng.integers(2, 17)))
        s = simulate_layer(arch, layer, None, None, None)
        assert s["compute_cycles"][0] == sys_mapping(arch, layer).dense_cycles(), (df, layer)
