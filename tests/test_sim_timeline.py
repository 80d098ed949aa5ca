"""Per-PE timelines: run lengths add up to the layer's cycles and to the simulation's PE-cycle totals."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict
from zapsim.sim.timeline import BUSY, GATED, IDLE, STALLED, layer_timeline
from zapsim.trace_format import make_layer

LAYER = make_layer("conv", 3, 6, 6, 4, kernel=3, padding=1, zap_pattern="checkerboard")


def _totals(tl):
    tot = np.zeros(4)
    for r in tl["runs"]:
        for state, n in r:
            tot[state] += n
    return tot


@pytest.mark.parametrize("df", ["row_stationary", "output_stationary", "weight_stationary", "input_stationary"])
@pytest.mark.parametrize("zap", [False, True])
def test_timeline_adds_up(df, zap):
    arch = arch_from_dict({"name": "t", "dataflow": df, "pe_array": {"rows": 3, "cols": 4},
                           "global_buffer": {"size_bytes": 1 << 20, "bandwidth_words_per_cycle": 2.0},
                           "sparsity": {"zero_inputs": "gate"}})
    rng = np.random.default_rng(0)
    inm = rng.random(LAYER.in_shape) < 0.5
    out = rng.random(LAYER.out_shape) < 0.5
    comp = rng.random(LAYER.out_shape) < 0.5
    tl = layer_timeline(arch, LAYER, in_mask=inm, out_mask=out, computed_mask=comp if zap else None, zap=zap)
    assert len(tl["runs"]) == 12
    for r in tl["runs"]:
        assert sum(n for _, n in r) == tl["cycles"]
    tot = _totals(tl)
    pe = tl["pe_cycles"]
    assert tot[STALLED] == pytest.approx(pe["stalled"], abs=12)
    if df == "row_stationary":  # one MAC per cycle: exact
        assert tot[BUSY] == pe["busy"] and tot[GATED] == pe["gated"]
        assert tot[IDLE] == pytest.approx(pe["idle"], abs=12)
    else:
        assert tot[BUSY] + tot[GATED] == pytest.approx(pe["busy"] + pe["gated"], rel=0.02)
    assert ("C" in tl["phase_starts"]) == zap
