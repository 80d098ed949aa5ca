"""Row-stationary mapping and cycles, derived by hand; the Sparseloop dot-product example; ZAP MAC counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict, load_arch
from zapsim.sim.row_stationary import rs_input_prefix, rs_mapping, rs_run_phase
from zapsim.sim.simulate import simulate_layer
from zapsim.trace_format import make_layer

ROOT = Path(__file__).resolve().parents[1]
FAST_MEM = {"global_buffer": {"size_bytes": 1 << 24, "bandwidth_words_per_cycle": 1e9},
            "noc": {"bandwidth_words_per_cycle": 1e9}, "dram": {"bandwidth_bytes_per_cycle": 1e9}}


def rs(rows: int, cols: int, zero_inputs: str = "ignore", **pe) -> object:
    return arch_from_dict({"name": "rs", "pe_array": {"rows": rows, "cols": cols, **pe},
                           "sparsity": {"zero_inputs": zero_inputs}, **FAST_MEM})


# 1 channel 6x6, 3x3 kernel, no padding -> 2 filters x 4x4; every PE runs F*p*q*S = 4*2*1*3 = 24 MACs
SMALL = make_layer("small", 1, 6, 6, 2, kernel=3)


def test_one_pass_layer_cycles_and_pes():
    m = rs_mapping(rs(3, 4), SMALL)
    assert (m.p, m.q, m.nslots, m.n_items, m.active_pes) == (2, 1, 1, 1, 12)
    s = simulate_layer(rs(3, 4), SMALL, None, None, None)
    assert s["compute_cycles"][0] == 24
    assert s["mac_actual"][0] == 288 == SMALL.macs
    assert s["pe_busy"][0] == 288 and s["pe_idle"][0] == 0  # 12 PEs x 24 cycles, all busy


def test_strips_fold_output_rows():
    # only 2 columns: E = 4 output rows make 2 strips of 2, run one after the other
    m = rs_mapping(rs(3, 2), SMALL)
    assert (m.e, m.n_strips, m.nslots) == (2, 2, 1)
    assert simulate_layer(rs(3, 2), SMALL, None, None, None)["compute_cycles"][0] == 48


def test_replication_runs_items_side_by_side():
    # 6 rows x 4 cols hold two 3x4 slots: the 2 items of a 2-channel layer (q limited to 1 by a 3-word ifmap spad)
    layer = make_layer("two_ch", 2, 6, 6, 2, kernel=3)
    arch = rs(6, 4, ifmap_spad_words=3)
    m = rs_mapping(arch, layer)
    assert (m.q, m.n_cg, m.nslots, m.active_pes) == (1, 2, 2, 24)
    assert simulate_layer(arch, layer, None, None, None)["compute_cycles"][0] == 24


def test_tall_filter_splits_into_row_segments():
    # R = 5 on 3 rows: 2 segments of 3 and 2 rows; 1x7x7 -> 1x3x3, one filter: PE work F*S = 3*5 = 15; 2 passes
    layer = make_layer("tall", 1, 7, 7, 1, kernel=5)
    m = rs_mapping(rs(3, 3), layer)
    assert (m.n_rseg, m.r_len) == (2, 3)
    assert simulate_layer(rs(3, 3), layer, None, None, None)["compute_cycles"][0] == 30


def _single_nonzero_input():
    inp = np.zeros((1, 6, 6), dtype=bool)
    inp[0, 2, 2] = True
    return inp


def test_zero_input_skip_gate_ignore_by_hand():
    # one nonzero input at (2,2): it lies in the receptive field of the 3x3 outputs y, x in 0..2, for 2 filters
    # -> 18 effectual MACs.  Skip: PEs (r, y) with y + r = 2 each do 3 taps x 2 filters = 6 -> 6 cycles.
    inp = _single_nonzero_input()
    res = {mode: simulate_layer(rs(3, 4, mode), SMALL, inp, None, None) for mode in ("ignore", "gate", "skip")}
    assert res["ignore"]["compute_cycles"][0] == 24 and res["ignore"]["mac_actual"][0] == 288
    assert res["gate"]["compute_cycles"][0] == 24
    assert res["gate"]["mac_actual"][0] == 18 and res["gate"]["mac_gated"][0] == 270
    assert res["skip"]["compute_cycles"][0] == 6
    assert res["skip"]["mac_actual"][0] == 18 and res["skip"]["mac_skipped"][0] == 270
    assert res["gate"].energy(0)["total"] < res["ignore"].energy(0)["total"]


def test_skipping_one_output_shortens_only_its_column():
    # removing output (k=0, y=1, x=0) takes S*q = 3 MACs from each of column 1's PEs; the pass still lasts 24
    m = rs_mapping(rs(3, 4), SMALL)
    sched = np.ones(SMALL.out_shape, dtype=bool)
    sched[0, 1, 0] = False
    res = rs_run_phase(m, rs_input_prefix(m, None), sched, sched, 0, 1, record=True)
    assert list(res.pass_cycles) == [24]
    pe_cycles = res.pe_slots[0, :, 0].reshape(3, 4)
    assert (pe_cycles[:, 1] == 21).all() and (pe_cycles[:, [0, 2, 3]] == 24).all()


@pytest.mark.parametrize("mode,cycles,actual,gated,skipped", [
    ("ignore", 16, 16, 0, 0), ("gate", 16, 4, 12, 0), ("skip", 4, 4, 0, 12)])
def test_sparseloop_dot_product(mode, cycles, actual, gated, skipped):
    # Sparseloop's example: a 16-element dot product, operand A 25% dense, on one MAC unit.
    # Dense 16 cycles; gating on A's zeros: 16 cycles, 4 actual MACs; skipping: 4 cycles, 4 MACs.
    layer = make_layer("dot", 16, 1, 1, 1, kernel=1, kind="fc", relu=False)
    a = np.zeros((16, 1, 1), dtype=bool)
    a[[1, 6, 11, 15]] = True
    arch = rs(1, 1, mode)
    s = simulate_layer(arch, layer, a, None, None)
    assert s["compute_cycles"][0] == cycles
    assert (s["mac_actual"][0], s["mac_gated"][0], s["mac_skipped"][0]) == (actual, gated, skipped)


def test_alexnet_active_pes_match_eyeriss():
    # Eyeriss (JSSC 2017) reports 154, 135, 156, 156, 156 active PEs for AlexNet CONV1-5 on its 12x14 array
    arch = load_arch(ROOT / "arch_configs" / "eyeriss_like.yaml")
    layers = [make_layer("c1", 3, 227, 227, 96, 11, 4, 0), make_layer("c2", 96, 27, 27, 256, 5, 1, 2, groups=2),
              make_layer("c3", 256, 13, 13, 384, 3, 1, 1), make_layer("c4", 384, 13, 13, 384, 3, 1, 1, groups=2),
              make_layer("c5", 384, 13, 13, 256, 3, 1, 1, groups=2)]
    assert [rs_mapping(arch, l).active_pes for l in layers] == [154, 135, 156, 156, 156]


# --------------------------------------------------------------------------- ZAP MACs by hand

TINY = make_layer("tiny", 1, 3, 3, 1, kernel=1, zap_pattern="checkerboard")  # 1 channel, 3x3 output


@pytest.mark.parametrize("skip,out_nonzero,expected", [
    # I_s of a 3x3 checkerboard: 4 corners + centre; I_t: 4 edge midpoints.
    # conv 2 always costs 9 per I_t position: 36.
    (True, "all", 4 * 4 + 9 + 36),  # corners touch 4 in-map outputs, the centre 9
    (True, "centre", 9 + 36),
    (True, "none", 36),
    (False, "all", 9 * 9 + 36),  # no skipping: 9 products per position, padding included
    (False, "none", 9 * 9 + 36),
])
def test_zap_macs_hand_count(skip, out_nonzero, expected):
    out = np.zeros((1, 3, 3), dtype=bool)
    if out_nonzero == "all":
        out[:] = True
    elif out_nonzero == "centre":
        out[0, 1, 1] = True
    arch = arch_from_dict({"name": "z", "zap_unit": {"skip_zero_inputs": skip}})
    s = simulate_layer(arch, TINY, None, out, np.ones((1, 3, 3), dtype=bool))
    assert s["mac_zap"][0] == expected


def test_zap_macs_dedicated_unit_time():
    # 1 channel => one chunk; 61 ZAP MACs at 4 MACs/cycle = 16 cycles, all after phase A (nothing to overlap)
    arch = arch_from_dict({"name": "z", "pe_array": {"rows": 1, "cols": 3}, "zap_unit": {"macs_per_cycle": 4},
                           **FAST_MEM})
    s = simulate_layer(arch, TINY, None, np.ones((1, 3, 3), dtype=bool), np.ones((1, 3, 3), dtype=bool))
    assert s["phase_Z"][0] == 16 and s["phase_overlap"][0] == 0
    # A: columns y=0,2 compute 2 outputs, y=1 one: 2 cycles; C: y=1 has 2 I_t outputs -> 2 cycles
    assert s["phase_A"][0] == 2 and s["phase_C"][0] == 2
    assert s["compute_cycles"][0] == 2 + 16 + 2


def test_zap_scores_row_bands_while_phase_a_runs():
    # one filter, 4x1 output, a 1x2 array: two strips of 2 output rows.  Checkerboard: I_s = rows 0 and 2.
    # A (strips outermost): strip 0 computes row 0 (1 cycle), strip 1 row 2 (1 cycle) -> A ends at 2.
    # ZAP MACs per band: conv 1 = 2 (row 0 touches rows 0-1) + conv 2 = 9 (row 1) -> 11; band 1: 3 + 9 -> 12.
    # Band 0 (rows 0-1) needs A rows up to 3, i.e. band 1 too: Z0 runs 2..13, Z1 13..25 at 1 MAC/cycle.
    # C: row 1 waits for Z0 (13..14), row 3 for Z1 (25..26).  Total 26; Z overlaps C by 1 cycle.
    layer = make_layer("col", 1, 4, 1, 1, kernel=1, zap_pattern="checkerboard")
    arch = arch_from_dict({"name": "band", "pe_array": {"rows": 1, "cols": 2}, "zap_unit": {"macs_per_cycle": 1},
                           **FAST_MEM})
    s = simulate_layer(arch, layer, None, np.ones((1, 4, 1), dtype=bool), np.ones((1, 4, 1), dtype=bool))
    assert s["mac_zap"][0] == 23
    assert (s["phase_A"][0], s["phase_Z"][0], s["phase_C"][0]) == (2, 23, 2)
    assert s["compute_cycles"][0] == 26 and s["phase_overlap"][0] == 1


def test_kernel_wider_than_ifmap_scratchpad_is_a_config_error():
    from zapsim.errors import ConfigError

    arch = arch_from_dict({"name": "small_spad", "pe_array": {"ifmap_spad_words": 5}}, source="small.yaml")
    layer = make_layer("wide", 3, 32, 32, 8, kernel=7)
    with pytest.raises(ConfigError) as exc:
        simulate_layer(arch, layer, None, None, None)
    msg = str(exc.value)
    assert "small.yaml" in msg and "pe_array.ifmap_spad_words = 5" in msg and "'wide'" in msg and "7" in msg
