"""Memory model: run-length coding, output tiling, bandwidth stalls, zero compression with ZAP."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.sim.analytical import kernels as engine
from zapsim.sim.arch import arch_from_dict
from zapsim.sim.memory import best_tiling, compressed_words, stall_cycles
from zapsim.sim.simulate import simulate_layer
from zapsim.trace_format import make_layer


def test_rlc_hand_counts():
    # [1,0,0,1]: two (run, level) pairs -> one 64-bit word -> 4 words of 16 bits
    assert engine.rlc_words(np.array([1, 0, 0, 1], dtype=bool), 5, 16, 16) == 4
    # 100 zeros: a pair per 32 zeros (31-run + zero level) at zeros 32, 64, 96, one more for the last 4 -> 4 pairs
    # -> 2 words of 64 bits -> 8 words of 16 bits
    assert engine.rlc_words(np.zeros(100, dtype=bool), 5, 16, 16) == 8
    # 7 nonzeros -> 7 pairs -> 3 words of 64 bits -> 12 words of 16 bits
    assert engine.rlc_words(np.ones(7, dtype=bool), 5, 16, 16) == 12


def test_compression_never_costs_more_than_raw():
    arch = arch_from_dict({"name": "c", "dram": {"zero_compression": True}})
    dense = np.ones((4, 8, 8), dtype=bool)
    assert compressed_words(dense, dense.size, arch) == dense.size
    sparse = np.zeros((4, 8, 8), dtype=bool)
    sparse[0, 0, :3] = True
    assert compressed_words(sparse, sparse.size, arch) < sparse.size
    assert compressed_words(sparse, sparse.size, arch_from_dict({"name": "raw"})) == sparse.size


def test_tiling_by_hand():
    # GLB 100 words, single-buffered: psum budget 50.  1x10x10 ifmap, 4 filters 1x1 -> 4x10x10.
    # One-row bands hold all 4 filters' psums (4*1*10 = 40 <= 50): ifmap read once, 10 weight reads of 4 words.
    assert best_tiling(100, False, 1, 1, 10, 10, 4, 10, 10, 1, 1, 4) == (4, 1, 1.0, 10)
    # With 1000 weight words, re-reading weights per band is dear: 2 bands of 5 rows, 1 filter per tile
    # (5*10 = 50 psums) -> ifmap read 4 times (400 words) + 2 x 1000 weights = 2400, the cheapest choice.
    assert best_tiling(100, False, 1, 1, 10, 10, 4, 10, 10, 1, 1, 1000) == (1, 5, 4.0, 2)
    # everything fits: read each once
    assert best_tiling(10_000, True, 1, 1, 10, 10, 4, 10, 10, 1, 1, 4) == (4, 10, 1.0, 1)


def test_stalls_with_and_without_double_buffering():
    base = {"name": "m", "word_bits": 16, "dram": {"bandwidth_bytes_per_cycle": 2.0},
            "global_buffer": {"bandwidth_words_per_cycle": 10.0}, "noc": {"bandwidth_words_per_cycle": 10.0}}
    db = arch_from_dict(base)
    # 150 DRAM words x 2 bytes / 2 bytes per cycle = 150 cycles against 100 compute cycles: 50 stalled
    assert stall_cycles(db, 100, 150, 500, 500) == 50
    assert stall_cycles(db, 200, 150, 500, 500) == 0  # hidden behind compute
    single = arch_from_dict({**base, "global_buffer": {"bandwidth_words_per_cycle": 10.0, "double_buffer": False}})
    assert stall_cycles(single, 200, 150, 500, 500) == 150  # DRAM loads no longer overlap compute
    assert stall_cycles(single, 20, 150, 500, 500) == 150 + (50 - 20)  # GLB needs 50 cycles, compute only 20


def test_zap_zeros_shrink_compressed_ofmap_writes():
    layer = make_layer("z", 4, 8, 8, 8, kernel=3, padding=1, zap_pattern="checkerboard")
    arch = arch_from_dict({"name": "c", "dram": {"zero_compression": True}})
    rng = np.random.default_rng(0)
    out = rng.random(layer.out_shape) < 0.6
    full = simulate_layer(arch, layer, None, out, np.ones(layer.out_shape, dtype=bool))
    i_s = layer.zap.computed_first(8, 8)
    few = simulate_layer(arch, layer, None, out, np.broadcast_to(i_s, layer.out_shape).copy())
    assert few["acc:dram:psum"][0] < full["acc:dram:psum"][0]
    raw = simulate_layer(arch_from_dict({"name": "r"}), layer, None, out, np.ones(layer.out_shape, dtype=bool))
    assert raw["acc:dram:psum"][0] == layer.c_out * 64


@pytest.mark.parametrize("multicast,expected_ifmap", [(True, 6 * 6), (False, 3 * 4 * 6)])
def test_multicast_counts_one_noc_word_per_ifmap_row(multicast, expected_ifmap):
    # 1x6x6 input, 3x3, 2 filters -> 4x4 out on a 3x4 array, one pass: the strip needs ifmap rows 0..5
    # (6 rows x 6 words) multicast, or one row of 6 words per PE (12 PEs) without multicast
    layer = make_layer("small", 1, 6, 6, 2, kernel=3)
    arch = arch_from_dict({"name": "n", "pe_array": {"rows": 3, "cols": 4}, "noc": {"multicast": multicast}})
    s = simulate_layer(arch, layer, None, None, None)
    assert s["acc:noc:ifmap"][0] == expected_ifmap
