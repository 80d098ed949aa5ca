"""The arch keys for per-tensor widths, per-tensor energies, GLB weight bypass and read / write bandwidths,
as the analytical engine honours them: hand-derived numbers, and the general code paths held to the old ones."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict, replace_arch
from zapsim.sim.memory import best_tiling, layer_stall_cycles, stall_cycles
from zapsim.sim.simulate import simulate_layer
from zapsim.trace_format import make_layer

LAYER = make_layer("c", 4, 8, 8, 8, kernel=3, padding=1, zap_pattern="checkerboard")
RNG = np.random.default_rng(7)
IN = RNG.random(LAYER.in_shape) < 0.6
OUT = RNG.random(LAYER.out_shape) < 0.5
COMP = RNG.random(LAYER.out_shape) < 0.7


def run(arch, zap=True):
    return simulate_layer(arch, LAYER, IN, OUT, COMP if zap else None, zap=zap)


def same(a, b):
    assert a.c.keys() == b.c.keys()
    for k in a.c:
        assert np.array_equal(a.c[k], b.c[k]), k


@pytest.mark.parametrize("df", ["row_stationary", "output_stationary", "weight_stationary"])
def test_bit_path_with_equal_widths_is_the_word_path(df):
    """word_bits 16 (the word arithmetic) against word_bits 8 with every tensor 16 bits wide (the per-tensor,
    bit-counting path): the same hardware, so every counter must agree."""
    base = {"name": "w", "dataflow": df, "pe_array": {"rows": 4, "cols": 6}, "global_buffer": {"size_bytes": 8192,
            "banks": 1}, "dram": {"zero_compression": True, "bandwidth_bytes_per_cycle": 1.0},
            "sparsity": {"zero_inputs": "gate"}}
    words = arch_from_dict({**base, "word_bits": 16})
    bits = arch_from_dict({**base, "word_bits": 8, "precision": {"ifmap_bits": 16, "weight_bits": 16, "psum_bits": 16}})
    assert words.uniform_words and not bits.uniform_words
    same(run(words), run(bits))
    same(run(words, zap=False), run(bits, zap=False))


def test_tiling_in_bits_hand_derived():
    # the 100-word case of test_sim_memory in bits: 16-bit words -> 1600 bits, the same tiling
    assert best_tiling(1600, False, 1, 1, 10, 10, 4, 10, 10, 1, 1, 4, 16, 16) == (4, 1, 1.0, 10)
    # 8-bit ifmaps, 32-bit psums in 1600 bits: psum budget (800 // 32) = 25 < 4 filters x 10 = 40 of a one-row
    # band, so 2 filters per tile (20 psums): 2 filter chunks each read the ifmap once (cost 2 x 100) + 10 x 4
    # weight words; two-row bands fit 1 filter (20 psums): 4 chunks -> dearer
    assert best_tiling(1600, False, 1, 1, 10, 10, 4, 10, 10, 1, 1, 4, 8, 32) == (2, 1, 2.0, 10)


def test_stall_with_per_tensor_widths_and_split_bandwidths_hand_derived():
    dram = {"ifmap": 100.0, "weight": 50.0, "psum": 20.0}
    glb_r = {"ifmap": 300.0, "weight": 0.0, "psum": 60.0}
    glb_w = {"ifmap": 100.0, "weight": 50.0, "psum": 40.0}
    shared = arch_from_dict({"name": "s", "dram": {"bandwidth_bytes_per_cycle": 4.0},
                             "global_buffer": {"bandwidth_words_per_cycle": 100.0}})
    # 16-bit words: (100 + 50 + 20) x 2 B / 4 = 85 cycles; GLB (360 + 190 + 10) / 100 = 5.6: DRAM-bound
    assert layer_stall_cycles(shared, 0.0, dram, glb_r, glb_w, 10.0, 0.0) == 85.0
    assert layer_stall_cycles(shared, 0.0, dram, glb_r, glb_w, 10.0, 0.0) == stall_cycles(shared, 0.0, 170.0, 560.0, 0.0)
    # 8-bit activations, 16-bit weights: reads 100 + 100 B, the ofmap 20 B -> 220 B / 4 = 55 cycles
    narrow = replace_arch(shared, **{"precision.ifmap_bits": 8})
    assert layer_stall_cycles(narrow, 0.0, dram, glb_r, glb_w, 10.0, 0.0) == 55.0
    # separate channels: reads 200 B at 4 B/cycle = 50, writes 20 B at 1 B/cycle = 20 -> 50
    split = replace_arch(narrow, **{"dram.write_bandwidth_bytes_per_cycle": 1.0})
    assert layer_stall_cycles(split, 0.0, dram, glb_r, glb_w, 10.0, 0.0) == 50.0
    # a slow write channel dominates: 20 B at 0.25 B/cycle = 80
    assert layer_stall_cycles(replace_arch(split, **{"dram.write_bandwidth_bytes_per_cycle": 0.25}), 0.0, dram, glb_r,
                              glb_w, 10.0, 0.0) == 80.0
    # GLB split: reads (360 + 10) / 2 = 185, writes 190 / 4 = 47.5 against DRAM 85 -> 185
    gsplit = replace_arch(shared, **{"global_buffer.read_bandwidth_words_per_cycle": 2.0,
                                     "global_buffer.write_bandwidth_words_per_cycle": 4.0})
    assert layer_stall_cycles(gsplit, 0.0, dram, glb_r, glb_w, 10.0, 0.0) == 185.0
    assert layer_stall_cycles(gsplit, 200.0, dram, glb_r, glb_w, 10.0, 0.0) == 0.0  # hidden by double buffering


@pytest.mark.parametrize("df", ["row_stationary", "weight_stationary"])
def test_weight_bypass_moves_weight_traffic_from_glb_to_dram(df):
    arch = arch_from_dict({"name": "b", "dataflow": df, "pe_array": {"rows": 4, "cols": 6}})
    keep, byp = run(arch), run(replace_arch(arch, **{"global_buffer.weight_bypass": True}))
    assert byp["acc:glb:weight"][0] == 0 and byp["act:weight:glb_read"][0] == byp["act:weight:glb_write"][0] == 0
    # every weight word the array receives comes from DRAM
    assert byp["acc:dram:weight"][0] == byp["acc:noc:weight"][0] == keep["acc:noc:weight"][0] > keep["acc:dram:weight"][0]
    for k in ("acc:dram:ifmap", "acc:glb:ifmap", "acc:glb:psum", "acc:dram:psum", "compute_cycles", "mac_actual"):
        assert byp[k][0] == keep[k][0], k
    e_keep, e_byp = keep.energy(0)["by_tensor"], byp.energy(0)["by_tensor"]
    # weight energy: GLB reads and fills (6 pJ each) gone, DRAM reads at 200 pJ instead
    dw = (byp["acc:dram:weight"][0] - keep["acc:dram:weight"][0]) * 200.0
    dg = keep["acc:glb:weight"][0] * 6.0
    assert e_byp["weight"] == pytest.approx(e_keep["weight"] + dw - dg, rel=1e-12)
    assert e_byp["ifmap"] == e_keep["ifmap"] and e_byp["psum"] == e_keep["psum"]


def test_per_tensor_energy_changes_only_its_tensor():
    arch = arch_from_dict({"name": "e", "pe_array": {"rows": 4, "cols": 6}})
    cheap = replace_arch(arch, **{"energy.per_tensor.spad_read.weight": 0.25, "energy.per_tensor.glb_read.psum": 10.0})
    a, b = run(arch), run(cheap)
    ea, eb = a.energy(0)["by_tensor"], b.energy(0)["by_tensor"]
    assert eb["weight"] == pytest.approx(ea["weight"] - 0.75 * a["act:weight:spad_read"][0], rel=1e-12)
    assert eb["psum"] == pytest.approx(ea["psum"] + 4.0 * a["act:psum:glb_read"][0], rel=1e-12)
    assert eb["ifmap"] == ea["ifmap"] and eb["zap"] == ea["zap"]  # the ZAP's GLB reads pay the plain glb_read


def test_narrow_activations_shrink_dram_time_only():
    arch = arch_from_dict({"name": "n", "pe_array": {"rows": 4, "cols": 6}, "dram": {"bandwidth_bytes_per_cycle": 0.5}})
    wide, narrow = run(arch), run(replace_arch(arch, **{"precision.ifmap_bits": 8}))
    assert narrow["compute_cycles"][0] == wide["compute_cycles"][0]
    assert 0 < narrow["stall_cycles"][0] < wide["stall_cycles"][0]
    # DRAM-bound both ways: stall = DRAM bytes / bandwidth - compute
    d = {t: wide[f"acc:dram:{t}"][0] for t in ("ifmap", "weight", "psum")}
    want = (d["ifmap"] * 1 + d["weight"] * 2 + d["psum"] * 1) / 0.5 - narrow["compute_cycles"][0]
    assert narrow["stall_cycles"][0] == pytest.approx(want, rel=1e-12)
